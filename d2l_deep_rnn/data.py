"""The Time Machine corpus (or your own texts): find or download it, check it, and iterate
over it as d2l 0.17's `load_data_time_machine` does, with a held-out tail for validation
(what it keeps of the book's and what it adds: docs/corpus.md).
"""
import hashlib
import math
import os
import random
import re
import urllib.error
import urllib.request

import numpy as onp
from mxnet import np

from .config import CHARS, UsageError, check_choice, check_config, check_positive_int, check_switch
from .files import atomic_write_bytes
from .texts import read_code_points, to_token_ids

FILENAME = 'timemachine.txt'
SHA1 = '090b5e7e70c295757f55df93cb0a180b9691891a'
URL = 'http://d2l-data.s3-accelerate.amazonaws.com/' + FILENAME  # d2l.DATA_URL's
ENV_VAR = 'D2L_DEEP_RNN_DATA'
TIME_MACHINE = 'timemachine'  # among texts: the section's corpus, found and checked as above


class CorpusError(UsageError):
    """The corpus is missing, damaged or could not be downloaded."""


def cache_dir():
    """The user cache folder where a downloaded corpus is kept."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'd2l-deep-rnn')


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
    """The corpus in the folder `data_dir` or $D2L_DEEP_RNN_DATA names (None if neither does)."""
    if data_dir is not None:
        if not isinstance(data_dir, (str, os.PathLike)):
            raise CorpusError(f'data_dir must be the path of a folder (a str), got {data_dir!r}')
        folder, name, other = data_dir, '--data-dir, data_dir=', \
            f'leave --data-dir out to use ${ENV_VAR} or the cache'
    elif os.environ.get(ENV_VAR):  # an empty variable counts as unset
        folder, name, other = os.environ[ENV_VAR], f'${ENV_VAR}', \
            f'unset {ENV_VAR} to use the cache'
    else:
        return None
    path = os.path.join(folder, FILENAME)
    if not os.path.isfile(path):  # a mistyped folder must not fall back to the cache
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
    """The corpus as a list of lines of lowercase letters and single spaces (the book's)."""
    with open(find_corpus(data_dir), encoding='utf-8') as f:
        lines = f.readlines()
    return [re.sub('[^A-Za-z]+', ' ', line).strip().lower() for line in lines]


def load_corpus_time_machine(max_tokens=-1, data_dir=None):
    """The book's function: the corpus's 170,580 character indices (a list) and vocab."""
    [corpus], vocab, _ = load_texts([TIME_MACHINE], data_dir=data_dir)
    if max_tokens > 0:
        corpus = corpus[:max_tokens]
    return corpus.tolist(), vocab


def load_texts(texts, chars='book', data_dir=None):
    """Each text's token ids (int32 arrays), one vocab, and each text's name, path, SHA-1, size."""
    texts = check_texts(texts)
    check_choice('chars', chars, CHARS)
    paths = [find_corpus(data_dir) if text == TIME_MACHINE else text for text in texts]
    arrays, read = [], []
    for text, path in zip(texts, paths):
        points, sha1 = read_code_points(path, chars)
        arrays.append(points)
        read.append({'text': text, 'path': os.path.abspath(path), 'sha1': sha1,
                     'characters': len(points)})
    return arrays, to_token_ids(arrays, paths), read


def check_texts(texts):
    """A list of text names (paths, or `TIME_MACHINE`) from a path or a sequence of them."""
    if isinstance(texts, (str, os.PathLike)):
        texts = [texts]
    if not isinstance(texts, (list, tuple)) or not texts or not all(
            isinstance(t, (str, os.PathLike)) and os.fspath(t) for t in texts):
        raise UsageError(f'texts must be a list of file paths (or {TIME_MACHINE!r}), got '
                         f'{texts!r}')
    return [os.fspath(t) for t in texts]


def seq_data_iter_random(corpus, batch_size, num_steps, rng=random):
    """Minibatches of random subsequences: neighbours in a batch are not neighbours in text."""
    corpus = corpus[rng.randint(0, num_steps - 1):]
    num_subseqs = (len(corpus) - 1) // num_steps
    initial_indices = list(range(0, num_subseqs * num_steps, num_steps))
    rng.shuffle(initial_indices)
    num_batches = num_subseqs // batch_size
    for i in range(0, batch_size * num_batches, batch_size):
        starts = initial_indices[i: i + batch_size]
        X = onp.stack([corpus[j: j + num_steps] for j in starts])
        Y = onp.stack([corpus[j + 1: j + 1 + num_steps] for j in starts])
        yield np.array(X, dtype='int32'), np.array(Y, dtype='int32')


def seq_data_iter_sequential(corpus, batch_size, num_steps, offset):
    """Batches whose row i continues the last batch's row i (state carries over): views."""
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = corpus[offset: offset + num_tokens].reshape(batch_size, -1)  # (batch_size, len/batch)
    Ys = corpus[offset + 1: offset + 1 + num_tokens].reshape(batch_size, -1)
    num_batches = Xs.shape[1] // num_steps
    for i in range(0, num_steps * num_batches, num_steps):
        yield (np.array(Xs[:, i: i + num_steps], dtype='int32'),
               np.array(Ys[:, i: i + num_steps], dtype='int32'))


class SeqDataLoader:
    """(X, Y) int32 batches (batch_size, num_steps), Y one step ahead of X; `name` is for errors."""

    def __init__(self, corpus, batch_size, num_steps, use_random_iter=False,
                 random_offset=True, rng=None, name=None):
        check_positive_int('batch_size', batch_size)
        check_positive_int('num_steps', num_steps)
        check_switch('use_random_iter', use_random_iter)
        needed = batch_size * num_steps + num_steps + 1
        if len(corpus) < needed:
            raise UsageError(
                f'{name + ": " if name else ""}{len(corpus)} tokens are too few for batches '
                f'of {batch_size} x {num_steps} (need at least {needed}); use a smaller '
                f'batch_size or num_steps, or more tokens')
        self.corpus = onp.asarray(corpus, dtype='int32')
        self.batch_size, self.num_steps = batch_size, num_steps
        self.use_random_iter, self.random_offset = use_random_iter, random_offset
        self.rng = rng or random

    def __iter__(self):
        if self.use_random_iter:
            return seq_data_iter_random(self.corpus, self.batch_size, self.num_steps, self.rng)
        # a new offset each pass; validation (random_offset=False) sees the same batches each epoch
        offset = self.rng.randint(0, self.num_steps) if self.random_offset else 0
        return seq_data_iter_sequential(self.corpus, self.batch_size, self.num_steps, offset)

    def __len__(self):
        """Batches per pass (sequential passes with a large offset may yield one fewer)."""
        return (len(self.corpus) - 1) // (self.batch_size * self.num_steps)


def load_data_time_machine(batch_size, num_steps, use_random_iter=False, max_tokens=10000,
                           data_dir=None):
    """The book's iterator over the first `max_tokens` characters (-1: all), and the vocab."""
    if max_tokens != -1:
        check_positive_int('max_tokens', max_tokens)
    corpus, vocab = load_corpus_time_machine(max_tokens, data_dir)
    return SeqDataLoader(corpus, batch_size, num_steps, use_random_iter), vocab


def load_data_splits(batch_size, num_steps, use_random_iter=False, max_tokens=10000,
                     val_tokens=5000, data_dir=None):
    """`load_data_text` on the book: first `max_tokens` train, last `val_tokens` validate."""
    return load_data_text([TIME_MACHINE], batch_size, num_steps, use_random_iter, max_tokens,
                          val_tokens, data_dir=data_dir)


def load_data_text(texts, batch_size, num_steps, use_random_iter=False, max_tokens=-1,
                   val_tokens=5000, chars='book', data_dir=None):
    """`(train_iter, val_iter, vocab)` from UTF-8 files (which part trains: docs/own-text.md)."""
    if max_tokens != -1:
        check_positive_int('max_tokens', max_tokens)
    check_positive_int('val_tokens', val_tokens)
    arrays, vocab, read = load_texts(texts, chars, data_dir)
    first = read[0]
    if val_tokens >= first['characters']:
        raise UsageError(f'val_tokens={val_tokens} holds out all {first["characters"]:,} '
                         f'characters of the first text, {first["text"]}; lower val_tokens '
                         f'(--val-tokens), or put a longer text first')
    arrays[0], val = arrays[0][:-val_tokens], arrays[0][-val_tokens:]
    train = arrays[0] if len(arrays) == 1 else onp.concatenate(arrays)
    if max_tokens > len(train):
        raise UsageError(f'max_tokens={max_tokens} exceeds the {len(train):,} training '
                         f'characters (the {val_tokens} held out of {first["text"]} are not '
                         f'among them); lower it, or give -1 for all')
    train = train[:max_tokens] if max_tokens > 0 else train
    names = ', '.join(r['text'] for r in read)
    train_iter = SeqDataLoader(train, batch_size, num_steps, use_random_iter,
                               name=f'the training text ({names})')
    val_iter = SeqDataLoader(val, batch_size, num_steps, random_offset=False,
                             name=f'the held-out text (the end of {first["text"]})')
    train_iter.texts = trained(read, len(train), val_tokens)
    val_iter.texts = [{**first, 'characters': val_tokens}]
    return train_iter, val_iter, vocab


def trained(read, num_train, val_tokens):
    """What `read` gave to training: the texts and characters within the first `num_train`."""
    texts, left = [], num_train
    for i, r in enumerate(read):
        used = min(left, r['characters'] - (val_tokens if i == 0 else 0))
        if used > 0:
            texts.append({**r, 'characters': used})
        left -= used
    return texts


def load_data_config(config, data_dir=None):
    """`load_data_text` with a `Config`'s settings (and the Time Machine if it names no texts)."""
    check_config(config)
    return load_data_text(list(config.texts) or [TIME_MACHINE], config.batch_size,
                          config.num_steps, config.use_random_iter, config.max_tokens,
                          config.val_tokens, config.chars, data_dir)


def unigram_perplexity(train, val, vocab_size):
    """Perplexity on `val` of `train`'s add-one character frequencies: about 17, no context."""
    counts = onp.bincount(onp.asarray(train, dtype='int64'), minlength=vocab_size)
    total = len(train) + vocab_size
    log_probs = onp.log((counts + 1) / total)
    return math.exp(-float(log_probs[onp.asarray(val, dtype='int64')].mean()))
