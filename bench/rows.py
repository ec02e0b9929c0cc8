"""What each row of the bench times, in a fresh process of its own (`row.py`): a function
(config, vocab, batches, ctx, epochs) -> the seconds and training perplexity of each
epoch, the first a warm-up. Every row trains on the same batches from the same seed.

Row (a) is the book's own loop, d2l 0.17.6's `train_ch8` (book_d2l.py); (b) to (e), (g)
to (i) are `train` as a learner calls it; (j) is (c)'s forward and backward alone. Row (f),
PyTorch, is torch_peer.py, which imports neither mxnet nor the package.
"""
import functools
import math
import time

from mxnet import autograd, gluon, np
from mxnet.base import _LIB

from d2l_deep_rnn.callbacks import OnEpoch
from d2l_deep_rnn.commands.common import parse_ctx
from d2l_deep_rnn.config import Config
from d2l_deep_rnn.diagnostics import Diagnostics
from d2l_deep_rnn.factory import build_model, set_seed
from d2l_deep_rnn.gluon_model import DeepRNN
from d2l_deep_rnn.scratch_model import DeepRNNScratch
from d2l_deep_rnn.texts import vocab_from_tokens
from d2l_deep_rnn.training import train_config

from book_d2l import import_book
from harness import load_batches, process_facts, thread_cap, timed_epochs, write_result

BOOK_ROW, TORCH_ROW, NOTEBOOK_ROW, BOUND_ROW = 'a', 'f', 'i', 'j'


def book_row(book, config, vocab, batches, ctx, epochs):
    """The book's own loop, untouched: d2l 0.17.6's `train_ch8` trains its `RNNModel` around
    MXNet's fused layer (weights N(0, 0.01^2), Gluon's SGD at `lr`, clipping at 1, the loss
    read on the host after every batch). `train_ch8` times only its whole run, so each of its
    calls of `train_epoch_ch8` goes through a stopwatch put in that function's place."""
    set_seed(config.seed)
    layers = {'rnn': book.rnn.RNN, 'gru': book.rnn.GRU, 'lstm': book.rnn.LSTM}
    layer = layers[config.cell](config.num_hiddens, config.num_layers,
                                **({'activation': config.activation}
                                   if config.cell == 'rnn' else {}))
    net = book.RNNModel(layer, len(vocab))
    seconds, ppl = [], []
    train_epoch_ch8 = book.train_epoch_ch8

    def timed_epoch(*args):
        start = time.perf_counter()
        result = train_epoch_ch8(*args)  # (perplexity, tokens/s)
        seconds.append(time.perf_counter() - start)
        ppl.append(result[0])
        return result
    book.train_epoch_ch8 = timed_epoch  # the name train_ch8 calls, once per epoch
    book.train_ch8(net, batches, vocab, config.lr, epochs, ctx)  # then it predicts, untimed
    return seconds, ppl


def train_row(make_net, config, vocab, batches, ctx, epochs, hybridize=True,
              diagnostics=False):
    """`train` as a learner calls it; each epoch timed from one `on_epoch` call to the next,
    so what `train` does around `train_epoch` (the diagnostics' replay) counts too."""
    net = make_net(len(vocab), config.num_hiddens, config.num_layers, config.cell,
                   config.activation)
    if not hybridize:
        net.hybridize(False)  # train runs it step by step
    stamps = [time.perf_counter()]
    callbacks = [Diagnostics()] if diagnostics else []
    callbacks.append(OnEpoch(lambda _: stamps.append(time.perf_counter())))
    history = train_config(net, batches, None, config.replace(num_epochs=epochs), ctx,
                           callbacks=callbacks)
    return [end - start for start, end in zip(stamps, stamps[1:])], history['train_ppl']


def forward_backward_row(config, vocab, batches, ctx, epochs):
    """(c) without its step: `DeepRNN` hybridized, forward, loss and backward on every batch,
    no clipping and no update, the state carried as `train` carries it. Nothing around the
    model can make (c) faster than this row: it bounds what a better step could gain."""
    net = build_model(config, len(vocab), ctx)
    net.hybridize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()

    def epoch():
        state, total = None, 0.0
        for X, Y in batches:
            state = net.begin_state(X.shape[0], ctx) if state is None else \
                [s.detach() for s in state]
            X, Y = X.as_in_ctx(ctx), Y.as_in_ctx(ctx)  # on the model's device, as in `train`
            with autograd.record():
                y_hat, state = net(X, state)
                l = loss(y_hat, Y.T.reshape(-1)).sum() / Y.size
            l.backward()
            total = total + l
        return math.exp(float(total) / len(batches))  # the weights never change
    return timed_epochs(epoch, epochs)


ROWS = {  # key: (name, what its process runs; the PyTorch row runs torch_peer.py)
    BOOK_ROW: ("book's own train_ch8 (d2l 0.17.6, RNNModel)", book_row),
    'b': ('DeepRNN imperative', functools.partial(train_row, DeepRNN, hybridize=False)),
    'c': ('DeepRNN hybridized (train default)', functools.partial(train_row, DeepRNN)),
    'd': ('DeepRNNScratch step by step',
          functools.partial(train_row, functools.partial(DeepRNNScratch, fast=False),
                            hybridize=False)),
    'e': ('DeepRNNScratch fast (train default)', functools.partial(train_row, DeepRNNScratch)),
    TORCH_ROW: ('PyTorch, same loop', None),
    'g': ('(c) with the Diagnostics callback',
          functools.partial(train_row, DeepRNN, diagnostics=True)),
    'h': ('(e) with the Diagnostics callback',
          functools.partial(train_row, DeepRNNScratch, diagnostics=True)),
    NOTEBOOK_ROW: ('(c) with d2l imported first (notebook order)',
                   functools.partial(train_row, DeepRNN)),
    BOUND_ROW: ('(c) forward + backward alone, no step (its bound)', forward_backward_row),
}


def run(key, batches_path, result_path, mxnet_first):
    """Row `key` on the bench's batches; writes each epoch's seconds and perplexity, and
    the facts of this process (its OpenMP threads per MXNet operator among them)."""
    settings, X, Y = load_batches(batches_path)
    batches = [(np.array(x), np.array(y)) for x, y in zip(X, Y)]
    row = ROWS[key][1]
    if key == BOOK_ROW:  # the book's d2l, from the file the bench fetched
        row = functools.partial(row, import_book(settings['book_d2l']))
    seconds, ppl = row(Config(**settings['config']), vocab_from_tokens(settings['vocab']),
                       batches, parse_ctx(settings['ctx']), settings['epochs'])
    write_result(result_path, {**process_facts(), 'seconds': seconds, 'train_ppl': ppl,
                               'mxnet_before_package': mxnet_first,
                               'mxnet_omp_threads': thread_cap(_LIB)})
