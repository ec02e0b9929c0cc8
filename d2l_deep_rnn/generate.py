"""Text generation: the book's `predict_ch8`, greedy by default, sampled with a temperature."""
import re

import numpy as onp
from mxnet import np, npx

from .config import UsageError, check_positive_int, check_seed, is_number
from .machine import check_ctx
from .params import is_initialized, net_ctx

MAX_PREDS = 10 ** 7  # predict's text is held whole; generate streams any length
PREFIX = 'time traveller'  # the prompt of the samples the commands print
BOOK_TOKENS = frozenset('abcdefghijklmnopqrstuvwxyz ') | {'<unk>'}


def is_book_vocab(vocab):
    """Whether `vocab` is of text preprocessed as the book does (chars='book')."""
    return set(vocab.idx_to_token) <= BOOK_TOKENS


def clean_prefix(prefix, vocab=None):
    """`prefix` as the model's text was preprocessed (the book's unless `vocab` says otherwise)."""
    if vocab is not None and not is_book_vocab(vocab):
        unknown = sorted(set(prefix) - set(vocab.idx_to_token))
        if not prefix or unknown:
            raise UsageError(f'the prefix {prefix!r} has characters the training text never '
                             f'had ({"".join(unknown)!r}); give a prefix of its characters, '
                             f'such as {default_prefix(vocab)!r}')
        return prefix
    text = re.sub('[^A-Za-z]+', ' ', prefix).lower()
    if not text.strip():
        raise UsageError(f'the prefix {prefix!r} has none of the letters a-z, which with the '
                         f'space are all the model knows (the corpus turns everything else '
                         f'into spaces); give a prefix such as "time traveller"')
    return text


def default_prefix(vocab):
    """`PREFIX` when the model knows its characters, else the vocabulary's first letter."""
    known = [t for t in vocab.idx_to_token if len(t) == 1]
    if set(PREFIX) <= set(known):
        return PREFIX
    return next((t for t in known if t.isalpha()), known[0] if known else PREFIX)


def predict(prefix, num_preds, net, vocab, ctx=None, temperature=0.0, seed=None):
    """`prefix` and `num_preds` characters: greedy at temperature 0 (the book's), else sampled."""
    check_positive_int('num_preds', num_preds, allow_zero=True)
    if num_preds > MAX_PREDS:
        raise UsageError(f'num_preds={num_preds:,} is more than predict holds in memory (at '
                         f'most {MAX_PREDS:,}); iterate generate(...) for longer text')
    return ''.join(generate(prefix, num_preds, net, vocab, ctx, temperature, seed))


def check_placed(net, ctx):
    """Context to run `net` on (its own if `ctx` is None): one line where MXNet gives a trace."""
    if not all(is_initialized(p) for p in net.collect_params().values()):
        raise UsageError(f'the {type(net).__name__} has no weights yet; train it, load a '
                         f'checkpoint or call net.initialize() first')
    if ctx is None:
        return net_ctx(net)
    check_ctx(ctx)
    held = net_ctx(net, every=True)
    if ctx not in held:
        raise UsageError(f'ctx={ctx}, but the model\'s weights are on '
                         f'{", ".join(map(str, held))}; pass ctx={held[0]!r} or leave it out')
    return ctx


def generate(prefix, num_preds, net, vocab, ctx=None, temperature=0.0, seed=None):
    """`predict`'s text a character at a time (prefix first), kept nowhere: any length streams."""
    if not isinstance(prefix, str):
        raise UsageError(f'prefix must be a string such as "time traveller", got {prefix!r}')
    check_positive_int('num_preds', num_preds, allow_zero=True)
    text = clean_prefix(prefix, vocab)
    if not is_number(temperature) or not 0 <= temperature < float('inf'):
        raise UsageError(f'temperature must be a number >= 0 (0: the most likely character '
                         f'each step), got {temperature!r}')
    if seed is not None:
        check_seed(seed)
    ctx = check_placed(net, ctx)
    rng = onp.random.RandomState(seed)
    tokens = [vocab[c] for c in text]
    yield ''.join(vocab.idx_to_token[i] for i in tokens)
    state = net.begin_state(batch_size=1, ctx=ctx)
    logits, state = net(np.array([tokens], dtype='int32', ctx=ctx), state)  # warm-up on prefix
    for _ in range(num_preds):
        last = logits[-1].copy()  # (vocab_size,): the prediction after the latest character
        last[vocab.unk] = -float('inf')  # the text has no <unk>: only an untrained model picks it
        if temperature == 0:
            token = int(last.argmax())
        else:
            probs = npx.softmax(last / temperature).asnumpy().astype('float64')
            token = int(rng.choice(len(probs), p=probs / probs.sum()))
        yield vocab.idx_to_token[token]
        logits, state = net(np.array([[token]], dtype='int32', ctx=ctx), state)
