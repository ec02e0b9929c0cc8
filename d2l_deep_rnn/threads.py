"""How many OpenMP threads MXNet uses, and how idle ones wait: set before MXNet loads.

Measured on a 2-core CPU (docs/traps.md, "Known traps"): MXNet 1.9.1 runs one OpenMP thread
per operator unless OMP_NUM_THREADS is set (it halves the cores, taking them for hyper-threads);
`train` with the fused LSTM ran at 13,300 tokens/s so and 19,500 with two. Idle OpenMP threads
spin before they sleep: spinning long (libgomp's default, OMP_WAIT_POLICY=ACTIVE, or a
GOMP_SPINCOUNT of 10,000 or more) is no faster alone but collapses two MXNet processes sharing
the cores (to 3-26% of their speed alone); a spin of 1,000 kept 60%. A user's settings win.

Nothing here imports MXNet: `__init__` calls `set_environment` first.
"""
import ctypes
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


def thread_cap(lib):
    """The most OpenMP threads an MXNet operator may use: the int after a bool in MXNet's
    `engine::OpenMP` singleton (src/engine/openmp.h), through its exported getter; None if
    this build does not export it."""
    try:
        get = lib._ZN5mxnet6engine6OpenMP3GetEv
    except AttributeError:
        return None
    get.restype, get.argtypes = ctypes.c_void_p, []
    return ctypes.c_int.from_address(get() + 4).value


def warn_if_too_late():
    """MXNet came first (the user imported d2l or mxnet before this package) and no
    OMP_NUM_THREADS was set: MXNet runs one thread per operator, and it is too late to set
    both the thread count and a short spin (more threads with libgomp's long default spin
    collapse two processes sharing the cores: see bench/README.md). Say how to fix it."""
    if 'OMP_NUM_THREADS' in os.environ or num_cores() < 2:
        return
    warnings.warn(f'MXNet was imported before d2l_deep_rnn, so it runs one OpenMP thread per '
                  f'operator on these {num_cores()} cores: import d2l_deep_rnn first (before d2l '
                  f'or mxnet) for its thread settings, which train the fused models faster',
                  RuntimeWarning, stacklevel=2)


def mxnet_loaded():
    return 'mxnet' in sys.modules
