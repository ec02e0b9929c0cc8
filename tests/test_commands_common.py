"""What the commands share: the output folder check under concurrent runs, and signals."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from d2l_deep_rnn.commands.common import prepare_out_dir, signals_as_ctrl_c


def test_concurrent_runs_and_workers_prepare_one_folder_safely(tmp_path):
    """Eight threads (each a run or a launch worker) create and probe the same new nested
    folder at the same moment, 40 times over: no error, and no probe file is left."""
    threads, rounds, errors = 8, 40, []
    barrier = threading.Barrier(threads)

    def worker():
        for i in range(rounds):
            barrier.wait()
            try:
                prepare_out_dir(str(tmp_path / f'run{i}' / 'dist' / 'ck'))
            except Exception as e:  # the assertion below shows every one
                errors.append(f'{e.__class__.__name__}: {e}')

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert all(os.listdir(tmp_path / f'run{i}' / 'dist' / 'ck') == [] for i in range(rounds))


FINALIZER_SIGNAL = '''
import os, signal, sys, threading, time
from d2l_deep_rnn.commands.common import interrupted, signals_as_ctrl_c

class Array:
    def __del__(self):  # as MXNet's NDArrayBase.__del__: the signal lands in here
        threading.Timer(0.1, os.kill, (os.getpid(), int(sys.argv[1]))).start()
        time.sleep(1)
        print('finalized', flush=True)

try:
    with signals_as_ctrl_c():
        Array()
        time.sleep(30)  # training goes on: only a signal sent again can end it now
        print('not interrupted')
except KeyboardInterrupt as e:
    print(*interrupted(e))
'''


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_that_lands_in_a_finalizer_still_ends_the_run(sig, tmp_path, repo,
                                                               interruptible):
    """A signal that arrives during a `__del__` (Python would print the exception and drop
    it, and training would go on: it did so once in CI) is sent again, and ends the run."""
    script = tmp_path / 'finalizer.py'
    script.write_text(FINALIZER_SIGNAL)
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(script), str(int(sig))], cwd=repo,
                            capture_output=True, text=True, timeout=60, **interruptible)
    name = signal.Signals(sig).name
    assert (result.stdout, result.stderr) == (f'finalized\n{name} {128 + sig}\n', '')
    assert time.monotonic() - started < 20


def test_a_signal_ignored_at_start_stays_ignored():
    """A background job started with Ctrl-C ignored keeps ignoring it inside the block."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with signals_as_ctrl_c():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
