"""The Time Machine corpus: find or download it, check it, and iterate over it as the book does.

Behaves as d2l 0.17's `load_data_time_machine`: letters and spaces only, lowercase,
character tokens, a 28-token vocabulary with `<unk>`, and sequential or random
minibatches of shape (batch_size, num_steps). Added: a held-out tail of the corpus
for validation perplexity, and a download that checks the file's SHA-1.
"""
import collections
import hashlib
import math
import os
import random
import re
import urllib.error
import urllib.request

from d2l import mxnet as d2l
from mxnet import np

from .config import UsageError, check_config, check_positive_int, check_switch
from .files import atomic_write_bytes

FILENAME = 'timemachine.txt'
SHA1 = '090b5e7e70c295757f55df93cb0a180b9691891a'
URL = d2l.DATA_URL + FILENAME
ENV_VAR = 'D2L_DEEP_RNN_DATA'


class CorpusError(UsageError):
    """The corpus is missing, damaged or could not be downloaded."""


def cache_dir():
    """The user cache folder where a downloaded corpus is kept."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'd2l-deep-rnn')


def sha1_of(path):
    with open(path, 'rb') as f:
        return hashlib.sha1(f.read()).hexdigest()


def find_corpus(data_dir=None, url=URL, cache=None):
    """The checked corpus from the named folder, else the cache (downloading `url` into it)."""
    path = named_corpus(data_dir)
    if path is None:
        cache = cache or cache_dir()
        path = os.path.join(cache, FILENAME)
        if not os.path.isfile(path):
            return download(url, cache)
    check_sha1(path)
    return path


def named_corpus(data_dir=None):
    """The corpus path in the folder that `data_dir`, else $D2L_DEEP_RNN_DATA, names (None if
    neither does); CorpusError if it lacks the file, since a mistyped folder must not pass."""
    if data_dir is not None:
        folder, name, other = data_dir, '--data-dir, data_dir=', \
            f'leave --data-dir out to use ${ENV_VAR} or the cache'
    elif os.environ.get(ENV_VAR):  # an empty variable counts as unset
        folder, name, other = os.environ[ENV_VAR], f'${ENV_VAR}', \
            f'unset {ENV_VAR} to use the cache'
    else:
        return None
    path = os.path.join(folder, FILENAME)
    if not os.path.isfile(path):
        raise CorpusError(f'data folder {folder or repr(folder)} ({name}): {why_missing(folder)}'
                          f' (from {URL}, SHA-1 {SHA1}), or {other}')
    return path


def why_missing(folder):
    """What is wrong with a named folder that yields no corpus, and the fix, for the message."""
    if not os.path.exists(folder):
        return f'no such folder; create it with {FILENAME} in it'
    if not os.path.isdir(folder):
        return f'not a folder; name the folder that holds {FILENAME}'
    return f'no {FILENAME} in it; put it there'


def check_sha1(path):
    """Refuse an unreadable, empty, binary or other file with one line that says what to do."""
    try:
        with open(path, 'rb') as f:
            content = f.read()
    except OSError as e:
        raise CorpusError(f'cannot read {path} ({e.strerror}); '
                          f'put a readable copy of {FILENAME} there') from None
    fix = f'delete it or replace it with a good copy from {URL}'
    if not content:
        raise CorpusError(f'{path} is empty; {fix}')
    if b'\0' in content:
        raise CorpusError(f'{path} is a binary file, not the Time Machine text; {fix}')
    digest = hashlib.sha1(content).hexdigest()
    if digest != SHA1:
        raise CorpusError(f'{path} is not the Time Machine corpus (SHA-1 {digest}, expected '
                          f'{SHA1}); {fix}')


def download(url, folder):
    """Download `url` into `folder`/timemachine.txt atomically, checking its SHA-1."""
    target = os.path.join(folder, FILENAME)
    hint = (f'put {FILENAME} in a folder and pass data_dir= (or --data-dir, '
            f'or set {ENV_VAR})')
    print(f'Downloading {url} to {target}')
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            content = response.read()
    except urllib.error.HTTPError as e:
        raise CorpusError(f'could not download {url} (HTTP {e.code} {e.reason}); {hint}') from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, 'reason', e)
        raise CorpusError(f'could not download {url} ({reason}); {hint}') from None
    digest = hashlib.sha1(content).hexdigest()
    if digest != SHA1:
        raise CorpusError(f'the file downloaded from {url} has SHA-1 {digest}, expected '
                          f'{SHA1}; {hint}')
    try:
        os.makedirs(folder, exist_ok=True)
        atomic_write_bytes(target, content)
    except OSError as e:
        raise CorpusError(f'cannot write {target} ({e.strerror}); {hint}') from None
    return target


def read_time_machine(data_dir=None):
    """The corpus as a list of lines of lowercase letters and single spaces."""
    with open(find_corpus(data_dir), encoding='utf-8') as f:
        lines = f.readlines()
    return [re.sub('[^A-Za-z]+', ' ', line).strip().lower() for line in lines]


def load_corpus_time_machine(max_tokens=-1, data_dir=None):
    """Character indices of the corpus and its vocabulary (the book's function).

    Lines are joined without separators, as in the book: 170,580 characters.
    """
    tokens = [list(line) for line in read_time_machine(data_dir)]
    vocab = d2l.Vocab(tokens)
    corpus = [vocab[token] for line in tokens for token in line]
    if max_tokens > 0:
        corpus = corpus[:max_tokens]
    return corpus, vocab


def vocab_from_tokens(idx_to_token):
    """A `d2l.Vocab` with exactly these tokens in this order (as saved in a checkpoint)."""
    vocab = d2l.Vocab()
    vocab.idx_to_token = list(idx_to_token)
    vocab.token_to_idx = {token: idx for idx, token in enumerate(vocab.idx_to_token)}
    return vocab


def seq_data_iter_random(corpus, batch_size, num_steps, rng=random):
    """Minibatches of random subsequences: neighbours in a batch are not neighbours in text."""
    corpus = corpus[rng.randint(0, num_steps - 1):]
    num_subseqs = (len(corpus) - 1) // num_steps
    initial_indices = list(range(0, num_subseqs * num_steps, num_steps))
    rng.shuffle(initial_indices)
    num_batches = num_subseqs // batch_size
    for i in range(0, batch_size * num_batches, batch_size):
        starts = initial_indices[i: i + batch_size]
        X = [corpus[j: j + num_steps] for j in starts]
        Y = [corpus[j + 1: j + 1 + num_steps] for j in starts]
        yield np.array(X, dtype='int32'), np.array(Y, dtype='int32')


def seq_data_iter_sequential(corpus, batch_size, num_steps, offset):
    """Minibatches whose row i continues row i of the previous batch (state can carry over)."""
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = np.array(corpus[offset: offset + num_tokens], dtype='int32')
    Ys = np.array(corpus[offset + 1: offset + 1 + num_tokens], dtype='int32')
    Xs, Ys = Xs.reshape(batch_size, -1), Ys.reshape(batch_size, -1)  # (batch_size, len/batch)
    num_batches = Xs.shape[1] // num_steps
    for i in range(0, num_steps * num_batches, num_steps):
        yield Xs[:, i: i + num_steps], Ys[:, i: i + num_steps]


class SeqDataLoader:
    """Iterates (X, Y) int32 batches of shape (batch_size, num_steps), Y one step ahead of X.

    Each pass draws a new random offset (sequential) or order (random) from `rng`,
    Python's `random` module unless a `random.Random` is given; `random_offset=False`
    always starts at 0 (used for validation, so its perplexity is comparable across epochs).
    """

    def __init__(self, corpus, batch_size, num_steps, use_random_iter=False,
                 random_offset=True, rng=None):
        check_positive_int('batch_size', batch_size)
        check_positive_int('num_steps', num_steps)
        check_switch('use_random_iter', use_random_iter)
        needed = batch_size * num_steps + num_steps + 1
        if len(corpus) < needed:
            raise UsageError(
                f'{len(corpus)} tokens are too few for batches of {batch_size} x {num_steps} '
                f'(need at least {needed}); use a smaller batch_size or num_steps, '
                f'or more tokens')
        self.corpus, self.batch_size, self.num_steps = corpus, batch_size, num_steps
        self.use_random_iter, self.random_offset = use_random_iter, random_offset
        self.rng = rng or random

    def __iter__(self):
        if self.use_random_iter:
            return seq_data_iter_random(self.corpus, self.batch_size, self.num_steps, self.rng)
        offset = self.rng.randint(0, self.num_steps) if self.random_offset else 0
        return seq_data_iter_sequential(self.corpus, self.batch_size, self.num_steps, offset)

    def __len__(self):
        """Batches per pass (sequential passes with a large offset may yield one fewer)."""
        if self.use_random_iter:
            return (len(self.corpus) - 1) // self.num_steps // self.batch_size
        return (len(self.corpus) - 1) // self.batch_size // self.num_steps


def split_corpus(corpus, max_tokens, val_tokens):
    """The first `max_tokens` tokens train, the last `val_tokens` validate; never overlapping."""
    val = corpus[len(corpus) - val_tokens:] if val_tokens else []
    train = corpus[:len(corpus) - val_tokens]
    if max_tokens > 0:
        train = train[:max_tokens]
    return train, val


def load_data_time_machine(batch_size, num_steps, use_random_iter=False, max_tokens=10000,
                           data_dir=None):
    """The book's iterator over the first `max_tokens` characters (-1: all), and the vocab."""
    if max_tokens != -1:
        check_positive_int('max_tokens', max_tokens)
    corpus, vocab = load_corpus_time_machine(max_tokens, data_dir)
    return SeqDataLoader(corpus, batch_size, num_steps, use_random_iter), vocab


def load_data_splits(batch_size, num_steps, use_random_iter=False, max_tokens=10000,
                     val_tokens=5000, data_dir=None):
    """`(train_iter, val_iter, vocab)`: training on the first `max_tokens` characters
    (-1: all but the held-out part), validation on the last `val_tokens` (the end of the book).

    The validation iterator is sequential from offset 0, so every epoch sees the same batches.
    """
    if max_tokens != -1:
        check_positive_int('max_tokens', max_tokens)
    check_positive_int('val_tokens', val_tokens)
    corpus, vocab = load_corpus_time_machine(-1, data_dir)
    if max_tokens > 0 and max_tokens + val_tokens > len(corpus):
        raise UsageError(f'max_tokens + val_tokens = {max_tokens + val_tokens} exceeds the '
                         f'{len(corpus)} characters of the corpus; lower one of them')
    train, val = split_corpus(corpus, max_tokens, val_tokens)
    return (SeqDataLoader(train, batch_size, num_steps, use_random_iter),
            SeqDataLoader(val, batch_size, num_steps, random_offset=False), vocab)


def load_data_config(config, data_dir=None):
    """`load_data_splits` with a `Config`'s batch size, steps, sampling and split sizes."""
    check_config(config)
    return load_data_splits(config.batch_size, config.num_steps, config.use_random_iter,
                            config.max_tokens, config.val_tokens, data_dir)


def unigram_perplexity(train, val, vocab_size):
    """Perplexity on `val` of a model that ignores context: character frequencies of `train`
    (add-one smoothed). About 17 here; a model at this level has learned nothing sequential."""
    counts = collections.Counter(train)
    total = len(train) + vocab_size
    nll = -sum(math.log((counts[t] + 1) / total) for t in val) / len(val)
    return math.exp(nll)
