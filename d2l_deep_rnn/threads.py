"""How many OpenMP threads MXNet uses, and how idle ones wait: set before MXNet loads, or
raised afterwards when MXNet came first (the notebooks' `from d2l import mxnet as d2l`).

Measured on a 2-core CPU (see bench/README.md): MXNet 1.9.1 runs one OpenMP thread per
operator unless OMP_NUM_THREADS is set (it halves the cores, assuming hyper-threads); the
fused LSTM is about 1.7x faster with two. Idle OpenMP threads spin before they sleep: spinning
long (libgomp's default, or OMP_WAIT_POLICY=ACTIVE) collapses two MXNet processes sharing the
cores to a fraction of their speed; never spinning (PASSIVE) is as slow as one thread. A short
spin (GOMP_SPINCOUNT, libgomp being MXNet's OpenMP) keeps both. A user's own settings win.

Nothing here imports MXNet: `__init__` calls `set_environment` first.
"""
import ctypes
import os
import sys

SPIN_COUNT = '1000'  # GOMP_SPINCOUNT: iterations an idle thread spins before it sleeps
USER_SETTINGS = ('OMP_NUM_THREADS', 'OMP_WAIT_POLICY', 'GOMP_SPINCOUNT')


def num_cores():
    """The cores this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0))


def set_environment():
    """Before MXNet loads: a thread per core and a short spin, unless the user chose."""
    os.environ.setdefault('OMP_NUM_THREADS', str(num_cores()))
    if 'OMP_WAIT_POLICY' not in os.environ:
        os.environ.setdefault('GOMP_SPINCOUNT', SPIN_COUNT)


def mxnet_openmp(lib):
    """MXNet's `engine::OpenMP` singleton as (enabled, cap, reserved cores, OMP_NUM_THREADS
    seen at load) ctypes fields, through its exported getter; None if it is not exported."""
    try:
        get = lib._ZN5mxnet6engine6OpenMP3GetEv
    except AttributeError:
        return None
    get.restype, get.argtypes = ctypes.c_void_p, []
    omp = get()  # the layout of src/engine/openmp.h: bool, int, int, bool
    return (ctypes.c_bool.from_address(omp), ctypes.c_int.from_address(omp + 4),
            ctypes.c_int.from_address(omp + 8), ctypes.c_bool.from_address(omp + 12))


def thread_cap(lib):
    """The most OpenMP threads an MXNet operator may use (None if unknown)."""
    fields = mxnet_openmp(lib)
    return None if fields is None else fields[1].value


def raise_thread_count(lib, threads):
    """MXNet already loaded without OMP_NUM_THREADS: lift its cap of one thread per operator.

    MXNet reads the cap once, at load, into its `engine::OpenMP` singleton, and each engine
    worker thread takes min(cores, cap) when it starts; `MXSetNumOMPThreads` only changes the
    calling (Python) thread, not the workers. So we write the cap through the singleton,
    after checking that its fields hold what MXNet 1.9.1 put there (enabled, cap = cores / 2,
    no reserved cores, OMP_NUM_THREADS unset); anything else is left alone. Returns True if
    the cap was raised. Workers started before (an operator already ran) keep one thread."""
    fields = mxnet_openmp(lib)
    if fields is None:
        return False
    enabled, cap, reserved, from_env = fields
    if (enabled.value, cap.value, reserved.value, from_env.value) != \
            (True, num_cores() // 2, 0, False) or threads <= cap.value:
        return False
    cap.value = threads
    lib.MXSetNumOMPThreads(ctypes.c_int(threads))  # the Python thread's own operators
    return True


def after_mxnet_loaded():
    """When MXNet came first and the user set no OMP_NUM_THREADS: a thread per core."""
    if 'OMP_NUM_THREADS' in os.environ or num_cores() < 2:
        return False
    from mxnet.base import _LIB
    return raise_thread_count(_LIB, num_cores())


def mxnet_loaded():
    return 'mxnet' in sys.modules
