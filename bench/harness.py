"""What the bench and every row's process share, the PyTorch peer included: the batches
file the bench writes once, the result file each row writes, the facts that decide a
process's speed besides its code, and the epoch timer.

It imports only the standard library and NumPy, never mxnet or the d2l_deep_rnn package:
`torch_peer.py` imports it, and must train as a PyTorch user's program would.
"""
import ctypes
import json
import os
import time

import numpy

OMP_VARIABLES = ('OMP_NUM_THREADS', 'OMP_WAIT_POLICY', 'GOMP_SPINCOUNT')


def write_batches(path, settings, X, Y):
    """The bench's batches and settings, for every row's process alike."""
    numpy.savez(path, X=X, Y=Y, settings=json.dumps(settings))


def load_batches(path):
    """(settings, X, Y) from a file of `write_batches`: X and Y (batches, rows, steps)."""
    with numpy.load(path) as data:
        return json.loads(str(data['settings'])), data['X'], data['Y']


def write_result(path, result):
    """What a row's process reports to the bench: a JSON file."""
    with open(path, 'w') as f:
        json.dump(result, f)


def process_facts():
    """What decides this process's speed besides the code: its id and OpenMP variables."""
    return {'pid': os.getpid(), 'env': {name: os.environ.get(name) for name in OMP_VARIABLES}}


def timed_epochs(run_epoch, epochs):
    """Seconds and training perplexity of each of `epochs` calls of `run_epoch()`."""
    seconds, ppl = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        ppl.append(run_epoch())
        seconds.append(time.perf_counter() - start)
    return seconds, ppl


def thread_cap(lib):
    """The most OpenMP threads an MXNet operator may use (None if this build hides the getter);
    `lib` is MXNet's loaded library, `mxnet.base._LIB`."""
    try:
        get = lib._ZN5mxnet6engine6OpenMP3GetEv
    except AttributeError:
        return None
    get.restype, get.argtypes = ctypes.c_void_p, []
    # the singleton engine::OpenMP (src/engine/openmp.h) holds a bool, then this int
    return ctypes.c_int.from_address(get() + 4).value
