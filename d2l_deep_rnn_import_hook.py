"""Makes MXNet 1.9.1 importable in this environment, whatever imports it first.

`d2l_deep_rnn.pth` (installed beside this file in site-packages) runs `install()` when
Python starts, so that a notebook whose first line is `import mxnet` or, as every chapter of
the book begins, `from d2l import mxnet as d2l`, works too. Until MXNet is imported nothing
else happens (no import at start-up); just before it is:

- NumPy 1.24 removed `numpy.bool`, an alias of the builtin `bool` that MXNet 1.9.1 still
  reads (Python 3.12+ has no NumPy older than 1.26): the alias is put back;
- MXNet's CUDA builds (`mxnet-cu1xx`) need CUDA 11, cuDNN 8 and NCCL, which they do not
  bundle. The `nvidia-*-cu11` wheels put those libraries in site-packages/nvidia/*/lib,
  where the dynamic linker does not look: they are loaded first, by path, so that
  libmxnet.so finds them by name (no LD_LIBRARY_PATH).

This module imports nothing of the package (whose `__init__` imports MXNet).
"""
import os
import sys


def install():
    """Run `prepare` just before MXNet is first imported (at once if it already is)."""
    if 'mxnet' in sys.modules:
        prepare()
    elif not any(isinstance(f, BeforeMXNet) for f in sys.meta_path):
        sys.meta_path.insert(0, BeforeMXNet())


class BeforeMXNet:
    """An import hook that finds nothing: it only sees `import mxnet` coming."""

    def find_spec(self, name, path=None, target=None):
        if name == 'mxnet':
            sys.meta_path.remove(self)
            prepare()
        return None  # the usual finders import it


def prepare():
    """What MXNet 1.9.1 needs before it loads: NumPy's `bool` alias, CUDA's libraries."""
    import numpy
    if 'bool' not in vars(numpy):  # NumPy 1.24 to 1.26 (NumPy 2 has it again, as bool_)
        numpy.bool = bool
    load_cuda_libraries(cuda_library_dirs())


def cuda_library_dirs(paths=None):
    """The lib folders of the installed nvidia-*-cu11 wheels (site-packages/nvidia/*/lib)."""
    dirs = []
    for entry in sys.path if paths is None else paths:
        nvidia = os.path.realpath(os.path.join(entry or '.', 'nvidia'))
        if os.path.isdir(nvidia):
            dirs += [d for d in sorted(os.path.join(nvidia, name, 'lib')
                                       for name in os.listdir(nvidia))
                     if os.path.isdir(d) and d not in dirs]
    return dirs


def load_cuda_libraries(dirs):
    """Load every shared library in `dirs` (RTLD_GLOBAL), each after those it needs: one
    that fails is tried again once another has loaded. Returns the paths loaded."""
    import ctypes
    waiting = [os.path.join(d, name) for d in dirs for name in sorted(os.listdir(d))
               if name.startswith('lib') and '.so' in name]
    loaded = []
    while waiting:
        failed = []
        for path in waiting:
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                loaded.append(path)
            except OSError:
                failed.append(path)
        if len(failed) == len(waiting):  # no progress: libmxnet.so's own error will say why
            break
        waiting = failed
    return loaded


def refuse(error):
    """MXNet did not load (`error`, an OSError): one line that says what to do; the command
    line (`python -m d2l_deep_rnn`, still being located: argv[0] is '-m') exits with 2."""
    if 'libcuda.so' in str(error):
        message = ("MXNet's CUDA build needs NVIDIA's driver (libcuda.so.1), which this "
                   'machine does not have: install the driver, or on a machine without an '
                   'NVIDIA GPU the CPU build (./setup.sh without CUDA=)')
    elif 'libarmpl' in str(error):
        message = ("MXNet's aarch64 build needs Arm Performance Libraries "
                   '(libarmpl_lp64_mp.so), which its wheel leaves out for licence reasons: '
                   "install them (a free download from Arm), put their lib folder on "
                   'LD_LIBRARY_PATH, and run this again')
    else:
        message = (f'MXNet could not load its library ({error}); for a CUDA build, '
                   'CUDA=117 ./setup.sh installs the CUDA 11 libraries it needs as wheels')
    if sys.argv[:1] == ['-m']:
        print(f'error: {message}', file=sys.stderr)
        sys.exit(2)
    raise ImportError(message) from None
