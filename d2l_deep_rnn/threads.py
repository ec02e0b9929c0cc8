"""How many OpenMP threads MXNet uses, and how long idle ones spin: set before MXNet loads, unless
the user chose (why, with measurements: docs/traps.md, "Threads"). Nothing here imports MXNet:
`__init__` calls `set_environment` first.
"""
import os
import sys
import warnings

SPIN_COUNT = '1000'  # GOMP_SPINCOUNT: iterations an idle thread spins before it sleeps
USER_THREADS = os.environ.get('OMP_NUM_THREADS')  # the user's own, read before we set ours


def num_cores():
    """The cores this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0))


def set_environment():
    """Before MXNet loads: a thread per core and a short spin, unless the user chose."""
    os.environ.setdefault('OMP_NUM_THREADS', str(num_cores()))
    if 'OMP_WAIT_POLICY' not in os.environ:
        os.environ.setdefault('GOMP_SPINCOUNT', SPIN_COUNT)


def warn_if_too_late():
    """Say how to fix it: MXNet loaded first, no OMP_NUM_THREADS (docs/traps.md, last trap)."""
    if 'OMP_NUM_THREADS' in os.environ or num_cores() < 2:
        return
    warnings.warn(f'MXNet was imported before d2l_deep_rnn, so it runs one OpenMP thread per '
                  f'operator on these {num_cores()} cores: import d2l_deep_rnn first (before d2l '
                  f'or mxnet) for its thread settings, which train the fused models faster',
                  RuntimeWarning, stacklevel=2)


def mxnet_loaded():
    return 'mxnet' in sys.modules
