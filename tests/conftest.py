"""Shared fixtures: the corpus folder and the book's d2l 0.17.6 (never a copy of either in the
repository) and headless plots."""
import hashlib
import os
import stat
import subprocess
import sys
import zipfile

os.environ.setdefault('MPLBACKEND', 'Agg')

import d2l_deep_rnn  # noqa: E402,F401  (before any test imports MXNet: its thread settings)
import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), 'shared', 'data')


@pytest.fixture(scope='session')
def data_dir():
    """$D2L_DEEP_RNN_DATA, else ../shared/data beside the repository, else the user cache
    (where the main job downloads the corpus)."""
    env = os.environ.get('D2L_DEEP_RNN_DATA')
    if env:
        return env
    if os.path.isfile(os.path.join(SHARED_DATA, 'timemachine.txt')):
        return SHARED_DATA
    return None


@pytest.fixture(scope='session')
def corpus_path(data_dir):
    from d2l_deep_rnn.data import find_corpus
    return find_corpus(data_dir)


@pytest.fixture(params=[(0o022, 0o644), (0o027, 0o640)], ids=['umask022', 'umask027'])
def umask(request):
    """Run the test under a umask; yields the mode open(path, 'w') gives a new file there."""
    set_umask = os.umask  # kept: a test may replace os.umask to prove it is not called
    old = set_umask(request.param[0])
    yield request.param[1]
    set_umask(old)


def file_mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(scope='session')
def mode():
    """The permission bits of a file: mode(path)."""
    return file_mode


@pytest.fixture(scope='session')
def repo():
    """The repository's root folder."""
    return REPO


@pytest.fixture(scope='session')
def data_args(data_dir):
    """The command-line flags that name the corpus folder (none: the default search)."""
    return ['--data-dir', data_dir] if data_dir else []


@pytest.fixture(scope='session')
def run_cli():
    """`python -m d2l_deep_rnn *args` in a fresh process from the repository's root."""
    def run(*args, timeout=120, **kwargs):
        return subprocess.run([sys.executable, '-m', 'd2l_deep_rnn', *args], cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, **kwargs)
    return run


# The MXNet edition's own library, whose train_ch8, train_epoch_ch8 and predict_ch8 readers run
BOOK_D2L = 'd2l==0.17.6'
BOOK_D2L_WHEEL = 'd2l-0.17.6-py3-none-any.whl'
BOOK_D2L_SHA256 = '2698f034d892e02de47ed100e22f114de0c93252c851bf492cf5088bd7c96e25'


@pytest.fixture(scope='session')
def book_d2l(request):
    """The path of d2l 0.17.6's own `d2l/mxnet.py`, from its wheel fetched once from the package
    registry into pytest's cache. Import it in a subprocess under another name (the package
    uses d2l 1.0.3); a failed download fails the test."""
    folder = request.config.cache.mkdir('d2l-0.17.6')
    wheel = folder / BOOK_D2L_WHEEL
    if not wheel.is_file():
        got = subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps',
                              '--only-binary=:all:', '--dest', str(folder), BOOK_D2L],
                             capture_output=True, text=True, timeout=600)
        if got.returncode != 0 or not wheel.is_file():
            last = (got.stderr.strip().splitlines() or ['no output'])[-1]
            pytest.fail(f'could not download {BOOK_D2L} from the package registry with pip '
                        f'download --no-deps ({last}); the tests of the book\'s own loop need '
                        'it: check the registry is reachable and run them again', pytrace=False)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != BOOK_D2L_SHA256:
        pytest.fail(f'{wheel} is not the published {BOOK_D2L} wheel (sha256 {digest}); '
                    'delete it and run the tests again', pytrace=False)
    source = folder / 'd2l_0_17_6_mxnet.py'
    partial = folder / f'd2l_0_17_6_mxnet.py.{os.getpid()}'
    partial.write_bytes(zipfile.ZipFile(wheel).read('d2l/mxnet.py'))
    os.replace(partial, source)  # whole, even with two sessions at once
    return str(source)
