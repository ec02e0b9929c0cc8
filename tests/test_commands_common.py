"""What the commands share: here, the output folder check under concurrent runs."""
import os
import threading

from d2l_deep_rnn.commands.common import prepare_out_dir


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
