"""The scheduler and the servers of a parameter-server job, as `launch` starts them (a worker
is the main job): `import mxnet` itself, or across hosts a scheduler that also watches the
heartbeats (`schedule`). Why, with measurements: docs/distributed.md ("Inside the job")."""
import ctypes
import os
import sys
import threading
import time

import mxnet as mx
from mxnet.kvstore.kvstore_server import KVStoreServer

from ..distributed import end_without_shutdown

# Ctrl-C keeps its default action from the start: Python's handler would wait for ps-lite.
DEFAULT_CTRL_C = 'import signal; signal.signal(signal.SIGINT, signal.SIG_DFL)'
SERVE = f'{DEFAULT_CTRL_C}; import mxnet'
# MXNet is imported with DMLC_ROLE hidden (it would run the scheduler at once), then `schedule`.
SCHEDULE = (f'{DEFAULT_CTRL_C}; import os; del os.environ["DMLC_ROLE"]; import mxnet; '
            'from d2l_deep_rnn.commands.services import schedule; schedule()')


def command(role, address, watch=False):
    """The scheduler's or a server's command line (`address` is for `ps`; DMLC_* say the rest)."""
    code = SCHEDULE if watch and role == 'scheduler' else SERVE
    return [sys.executable, '-c', code, 'd2l_deep_rnn', role, address]


def schedule():
    """Be the scheduler of a job across hosts, with `watch_heartbeats` beside it."""
    os.environ['DMLC_ROLE'] = 'scheduler'  # hidden while MXNet loaded (SCHEDULE)
    kv = mx.kv.create('dist')
    counts = int(os.environ['DMLC_NUM_WORKER']), int(os.environ['DMLC_NUM_SERVER'])
    threading.Thread(target=watch_heartbeats,
                     args=(kv, *counts, int(os.environ['PS_HEARTBEAT_TIMEOUT'])),
                     name='heartbeats', daemon=True).start()
    KVStoreServer(kv).run()


def silent(kv, node_id, timeout_s):
    """Whether node `node_id` sent no heartbeat for `timeout_s` s (only the C API tells)."""
    number = ctypes.c_int()
    mx.base.check_call(mx.base._LIB.MXKVStoreGetNumDeadNode(
        kv.handle, node_id, ctypes.byref(number), timeout_s))
    return number.value > 0


def silent_ranks(kv, workers, servers, timeout_s):
    """The silent workers' and servers' ranks (ps-lite's ids: server r is 8 + 2r, worker 9 + 2r)."""
    return ([r for r in range(workers) if silent(kv, 9 + 2 * r, timeout_s)],
            [r for r in range(servers) if silent(kv, 8 + 2 * r, timeout_s)])


def watch_heartbeats(kv, workers, servers, timeout_s, poll_s=1.0):
    """End the scheduler once every worker is silent (0), or a server, or a worker while another
    runs `timeout_s` later (1; the delay lets rank 0 write its outputs after the others end)."""
    time.sleep(timeout_s)  # nothing can be silent for longer yet
    first_silence = None
    while True:
        silent_workers, silent_servers = silent_ranks(kv, workers, servers, timeout_s)
        if len(silent_workers) == workers:
            end_job(0, f'every worker has ended (none sent a heartbeat for {timeout_s} s); '
                       f'stopping the scheduler')
        if not silent_workers:
            first_silence = None
        elif first_silence is None:
            first_silence = time.monotonic()
        if silent_servers or (silent_workers and time.monotonic() - first_silence > timeout_s):
            names = ([f'the worker of rank {r}' for r in silent_workers]
                     + [f'the server of rank {r}' for r in silent_servers])
            end_job(1, f'{" and ".join(names)} sent no heartbeat for {timeout_s} s (died, or '
                       f'its host is unreachable); ending the job')
        time.sleep(poll_s)


def end_job(code, message):
    """Say why in one line and end the whole scheduler from this thread (ps-lite holds the main)."""
    print(f'launch: {message}', file=sys.stderr, flush=True)
    end_without_shutdown(code)
