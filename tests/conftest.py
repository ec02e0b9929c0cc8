"""Shared fixtures: the corpus folder and the book's d2l 0.17.6 (never a copy of either in the
repository) and headless plots. The bench tool's modules (bench/) import by name here."""
import os
import random
import shutil
import stat
import subprocess
import sys

os.environ.setdefault('MPLBACKEND', 'Agg')

import d2l_deep_rnn  # noqa: E402,F401  (before any test imports MXNet: its thread settings)
import pytest  # noqa: E402

from d2l_deep_rnn.texts import MAX_VOCAB  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), 'shared', 'data')
BENCH = os.path.join(REPO, 'bench')  # the bench, a tool of the repository: bench/bench.py
sys.path.append(BENCH)  # its modules (bench, rows, harness, book_d2l) for the tests

from book_d2l import BookUnavailable, fetch as fetch_book_d2l  # noqa: E402  (bench/book_d2l.py)


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


def write_generated_texts(folder):
    """Two texts the tests write themselves (never a book): an essay of generated sentences,
    with capitals, digits and 'Ü', which the Time Machine lacks, and a program."""
    rng = random.Random(0)
    words = 'Über the river a fox and seven 7 dogs run far away from the old mill'.split()
    essay = ''.join(' '.join(rng.choice(words) for _ in range(rng.randint(3, 12))).capitalize()
                    + rng.choice('.!?') + '\n' for _ in range(1500))
    code = ''.join(f'def f{i}(x):\n    return x * {i} + {rng.randint(0, 99)}\n'
                   for i in range(600))
    paths = (os.path.join(folder, 'essay.txt'), os.path.join(folder, 'code.py'))
    for path, text in zip(paths, (essay, code)):
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
    return paths


@pytest.fixture(scope='session')
def own_texts(tmp_path_factory):
    """The paths of `write_generated_texts`' essay and program."""
    return write_generated_texts(str(tmp_path_factory.mktemp('texts')))


def bad_text(tmp_path, kind):
    """A bad text of `kind` written under `tmp_path`: (its path, the one line that refuses
    it). Read 'too many characters' with chars='all': the book's letters are only 26."""
    path = tmp_path / f'{kind}.txt'
    if kind == 'not utf-8':
        path.write_bytes('Ein Text auf Deutsch, über Bäume\n'.encode('latin-1'))
        return path, f'{path} is not UTF-8 text (byte 0xfc at offset 22); convert it to ' \
                     f'UTF-8, or leave it out'
    if kind == 'binary':
        path.write_bytes(b'ELF\0\0\x01abc\n')
        return path, f'{path} holds NUL characters, so it is a binary file, not text; ' \
                     f'leave it out'
    if kind == 'empty':
        path.write_bytes(b'')
        return path, f'{path} is empty; give a text with something in it'
    if kind == 'no letters':
        path.write_text('1234 5678\n!?\n日本語\n', encoding='utf-8')
        return path, f"{path} has no letters a-z, so the book's preprocessing leaves nothing " \
                     f"to train on; use chars='all' (--chars all) or another file"
    if kind == 'folder':
        path.mkdir()
        return path, f'{path} is a folder; name the text files in it, such as ' \
                     f'{path / "*.txt"}'
    if kind == 'missing':
        return path, f'{path}: no such file or directory; check the path'
    if kind == 'device':
        return '/dev/zero', '/dev/zero is not a regular file; give a text file'
    if kind == 'too many characters':
        rng = random.Random(0)
        path.write_text(''.join(chr(rng.randint(0x4e00, 0x9fff)) for _ in range(100000)),
                        encoding='utf-8')
        distinct = len(set(path.read_text(encoding='utf-8')))
        return path, f'{path} has {distinct:,} distinct characters, more than the ' \
                     f'{MAX_VOCAB:,} a character model can learn here; is it text? leave it out'
    raise ValueError(kind)


BAD_TEXTS = ['not utf-8', 'binary', 'empty', 'no letters', 'folder', 'missing', 'device',
             'too many characters']


@pytest.fixture(scope='session')
def small_splits(data_dir):
    """(train_iter, val_iter, vocab): 2,000 training characters in batches of 8 x 10."""
    from d2l_deep_rnn import load_data_splits
    return load_data_splits(8, 10, max_tokens=2000, val_tokens=1000, data_dir=data_dir)


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


@pytest.fixture(params=['cpu1', 'cpu1+cpu2'])
def devices(request):
    """cpu(1) standing in for a GPU, then [cpu(1), cpu(2)] for two: neither holds cpu(0), the
    default context, so an array or a `p.data()` that falls back to it shows."""
    import mxnet as mx
    return mx.cpu(1) if request.param == 'cpu1' else [mx.cpu(1), mx.cpu(2)]


def check_on_devices(net, ctx, trainer=None):
    """Every parameter and gradient of `net` has one copy on each context of `ctx` (one or a
    list) and none elsewhere; a forward pass on each gives outputs and states there; with
    `trainer`, every optimizer state lives on its updater's context."""
    import mxnet as mx
    from mxnet import np
    ctxs = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]
    for p in net.collect_params().values():
        assert p.list_ctx() == ctxs, p.name
        assert [a.ctx for a in p.list_data()] == [g.ctx for g in p.list_grad()] == ctxs, p.name
    for c in ctxs:
        Y, state = net(np.zeros((2, 3), dtype='int32', ctx=c), net.begin_state(2, ctx=c))
        assert [a.ctx for a in (Y, *state)] == [c] * (1 + len(state))
    if trainer is not None:
        for updater, c in zip(trainer._updaters, ctxs):
            assert updater.states, 'no optimizer state yet'
            for state in updater.states.values():
                arrays = state if isinstance(state, (tuple, list)) else [state]
                assert all(isinstance(a, mx.nd.NDArray) and a.ctx == c for a in arrays)


@pytest.fixture(scope='session')
def on_devices():
    """on_devices(net, ctx, trainer=None): assert that all of `net` lives on `ctx`."""
    return check_on_devices


def mount(*args):
    """Run mount(8) with `args`; a pytest.skip, saying why, where this process may not."""
    result = subprocess.run(['mount', *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f'cannot mount here ({result.stderr.strip()}): needs root with '
                    f'CAP_SYS_ADMIN; the in-process tests simulate this fault instead')


@pytest.fixture
def full_disk(tmp_path):
    """A real 64 KiB tmpfs (a full disk is a few writes away); unmounted afterwards."""
    folder = tmp_path / 'disk'
    folder.mkdir()
    mount('-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(folder))
    yield folder
    subprocess.run(['umount', '-l', str(folder)], check=True)


def fill(folder):
    """Fill the file system of `folder` to its last byte (a file named 'filler')."""
    with open(os.path.join(folder, 'filler'), 'wb', buffering=0) as f:
        try:
            while True:
                f.write(b'\0' * 4096)
        except OSError:
            pass
        try:
            while True:
                f.write(b'\0')
        except OSError:
            pass


@pytest.fixture
def read_only_dir(tmp_path):
    """A real read-only folder (a read-only bind mount: EROFS even for root)."""
    folder = tmp_path / 'ro'
    folder.mkdir()
    mount('--bind', str(folder), str(folder))
    try:
        mount('-o', 'remount,bind,ro', str(folder))
        yield folder
    finally:
        subprocess.run(['umount', '-l', str(folder)], check=True)


@pytest.fixture(scope='session')
def as_user():
    """The command prefix that runs a process under file permissions: nothing for a normal
    user; for root, setpriv without CAP_DAC_OVERRIDE (root otherwise ignores file modes)."""
    if os.geteuid() != 0:
        return []
    if shutil.which('setpriv') is None:
        pytest.skip('root ignores file modes and setpriv (util-linux) is not installed')
    return ['setpriv', '--bounding-set=-dac_override,-dac_read_search']


@pytest.fixture(scope='session')
def book_d2l():
    """The path of d2l 0.17.6's own `d2l/mxnet.py` (the MXNet edition's library, whose
    train_ch8, train_epoch_ch8 and predict_ch8 readers run), fetched once from the package
    registry into the user cache, as the bench's row (a) fetches it. Import it in a
    subprocess under another name (the package uses d2l 1.0.3); a failed download fails the
    test."""
    from d2l_deep_rnn.data import cache_dir
    try:
        return fetch_book_d2l(cache_dir())
    except BookUnavailable as e:
        pytest.fail(f"{e}; the tests of the book's own loop need it", pytrace=False)


def restore_ctrl_c():
    """In a child before exec: SIGINT back to its default. A test run started in the
    background of a shell without job control ignores SIGINT, which its children inherit,
    and Python then never turns Ctrl-C into KeyboardInterrupt."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope='session')
def interruptible():
    """Popen(..., **interruptible): a child that Ctrl-C (SIGINT) interrupts, however the
    tests were started."""
    return {'preexec_fn': restore_ctrl_c}


class ScriptedRun:
    """train(...) of a tiny 2-layer RNN (8 hiddens, batches of 4 x 5 from the first 200
    characters) whose validation perplexities are scripted (`SCRIPTED`: best at epoch 4),
    with `callbacks_for` the `Config` settings given; calling it returns (net, history, the
    weights after each epoch)."""

    SCRIPTED = [10.0, 8.0, 9.0, 7.0, 7.5, 7.6, 7.7, 7.8]

    def __init__(self, monkeypatch, data_dir):
        from d2l_deep_rnn import load_data_splits
        self.monkeypatch = monkeypatch
        self.splits = load_data_splits(4, 5, max_tokens=200, val_tokens=100,
                                       data_dir=data_dir)

    def __call__(self, num_epochs=len(SCRIPTED), scripted=SCRIPTED, save_dir=None,
                 save_every=10, resume=False, log_every=None, **held_out):
        import mxnet as mx
        from d2l_deep_rnn import Config, DeepRNN, train, training
        from d2l_deep_rnn.callbacks import OnEpoch
        train_iter, val_iter, vocab = self.splits
        values = iter(scripted)
        self.monkeypatch.setattr(training, 'evaluate_perplexity', lambda *args: next(values))
        net = DeepRNN(len(vocab), 8, 2, 'rnn')
        weights = []
        callbacks = training.callbacks_for(Config(**held_out), save_dir=save_dir,
                                           save_every=save_every, resume=resume,
                                           verbose=log_every is not None, log_every=log_every)
        callbacks.append(OnEpoch(lambda h: weights.append(self.snapshot(net))))
        history = train(net, train_iter, vocab, 1.0, num_epochs, mx.cpu(),
                        val_iter=val_iter, seed=0, callbacks=callbacks)
        return net, history, weights

    @staticmethod
    def snapshot(net):
        """The weights by name without the block's own prefix ('rnn0_l0_i2h_weight', ...)."""
        return {name[len(net.prefix):]: p.data().asnumpy().copy()
                for name, p in net.collect_params().items()}

    @staticmethod
    def same_weights(a, b):
        return all((a[name] == b[name]).all() for name in a)


@pytest.fixture
def scripted_run(monkeypatch, data_dir):
    """A `ScriptedRun`: train with scripted validation perplexities (callbacks' tests)."""
    return ScriptedRun(monkeypatch, data_dir)
