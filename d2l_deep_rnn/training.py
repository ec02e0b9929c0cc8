"""The book's `train_ch8` for either model: SGD, clipping of the global gradient norm,
perplexity per epoch, and tokens per second. Its arguments, and what differs from the book
(not what is computed): docs/package.md."""
import math
import os
import time

from mxnet import autograd, gluon, np

from .callbacks import Callback, CallbackList, DecayOnPlateau, EarlyStopping, Progress, Run
from .checkpoint import Checkpoints, KeepBest
from .config import (OPTIMIZERS, UsageError, check_choice, check_positive_int,
                     check_config, check_positive_number, check_switch)
from .diagnostics import Diagnostics
from .distributed import SINGLE_PROCESS, Worker
from .factory import ensure_initialized, set_seed
from .history import new_history, record_epoch
from .machine import as_ctx_list, check_ctx, default_ctx
from .metrics import perplexity, sum_squares
# ClippedSGD here too: checkpoints of earlier versions pickled it as training.ClippedSGD
from .optim import ClippedSGD, make_optimizer, server_optimizer  # noqa: F401
from .params import is_frozen


class TrainingDiverged(UsageError):
    """The loss became NaN or infinite."""


def grad_clipping(params, theta, ctx):
    """The book's g <- g * min(1, theta / ||g||) on the device; returns ||g|| (a device scalar)."""
    ctxs = as_ctx_list(ctx)
    params = [p for p in params if not is_frozen(p)]  # the norm is the section's parameters'
    # every device holds the summed gradients (allreduce_grads): the norm of the first copy
    norm = np.sqrt(sum_squares([p.grad(ctxs[0]) for p in params]).sum())
    scale = np.minimum(1.0, theta / (norm + 1e-12))
    for c in ctxs:
        scale_here = scale.as_in_ctx(c)
        for p in params:
            g = p.grad(c)
            g *= scale_here
    return norm


def train_epoch(net, train_iter, loss, trainer, ctx, use_random_iter, *, clip=1.0,
                callbacks=Callback()):
    """The book's `train_epoch_ch8`, a batch's rows split across `ctx`: (perplexity, tokens)."""
    ctxs, params = as_ctx_list(ctx), list(net.collect_params().values())
    states, total_loss, num_tokens = None, 0.0, 0
    for X, Y in train_iter:
        Xs = gluon.utils.split_and_load(X, ctxs, even_split=False)  # rows per device
        Ys = gluon.utils.split_and_load(Y, ctxs, even_split=False)
        callbacks.on_batch_begin(Xs[0])
        if states is None or use_random_iter:  # fresh for random batches
            states = [net.begin_state(batch_size=x.shape[0], ctx=c) for x, c in zip(Xs, ctxs)]
        else:
            states = [[s.detach() for s in state] for state in states]  # cut the graph
        with autograd.record():
            outputs = [net(x, state) for x, state in zip(Xs, states)]
            losses = [loss(y_hat, y.T.reshape(-1)).sum() / Y.size  # y time-major
                      for (y_hat, _), y in zip(outputs, Ys)]
        states = [state for _, state in outputs]
        autograd.backward(losses)
        trainer.allreduce_grads()  # sum the devices' gradients
        callbacks.on_after_backward()
        grad_clipping(params, clip, ctxs)
        trainer.update(1)  # SGD (or Adam); the loss is already a mean
        total_loss = total_loss + sum(l.as_in_ctx(ctxs[0]) for l in losses) * Y.size
        num_tokens += Y.size
    return perplexity(float(total_loss) / num_tokens), num_tokens


def make_trainer(net, lr, worker=SINGLE_PROCESS, optimizer='sgd'):
    """SGD or Adam (`optim`) in a Gluon Trainer, which sums the devices' or workers' gradients."""
    check_choice('optimizer', optimizer, OPTIMIZERS)
    params = list(net.collect_params().values())  # a list keeps this order (a dict: sorted)
    # dist_async: the servers take plain steps on each worker's clipped gradient as it comes
    step = (server_optimizer if worker.asynchronous else make_optimizer)(optimizer, lr)
    # frozen biases by index too: servers updating on the kvstore (dist_async) get a copy of
    # the optimizer without the parameters' own lr_mult
    step.set_lr_mult({i: 0.0 for i, p in enumerate(params) if is_frozen(p)})
    return worker.trainer(params, step)


def evaluate_perplexity(net, data_iter, ctx):
    """Perplexity of `net` on `data_iter`, read sequentially with the state carried over."""
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    state, total_loss, num_tokens = None, 0.0, 0
    for X, Y in data_iter:
        if state is None:
            state = net.begin_state(batch_size=X.shape[0], ctx=ctx)
        y = Y.T.reshape(-1).as_in_ctx(ctx)
        y_hat, state = net(X.as_in_ctx(ctx), state)
        total_loss = total_loss + loss(y_hat, y).sum()
        num_tokens += y.size
    return perplexity(float(total_loss) / num_tokens)


def train(net, train_iter, vocab, lr, num_epochs, ctx=None, use_random_iter=False, *,
          clip=1.0, val_iter=None, seed=None, optimizer='sgd', callbacks=None):
    """Train `net` as the book's `train_ch8` (its arguments, in its order); returns the history.

    ctx: a device, a list of them (data parallel), or `distributed.join(kvstore, ctx)`.
    clip: the gradient norm's threshold; val_iter: held-out batches, measured every epoch;
    seed: seeds every generator first; optimizer: 'sgd' or 'adam', after the same clipping;
    callbacks: `Callback` instances, run in order (default: [Progress()]). More, and the
    history's keys: docs/package.md.
    """
    worker, ctx = (ctx, ctx.ctx) if isinstance(ctx, Worker) else (SINGLE_PROCESS, ctx)
    ctx = ctx if ctx is not None else default_ctx()
    check_train_args(net, train_iter, vocab, lr, num_epochs, ctx, use_random_iter, clip,
                     val_iter)
    if isinstance(callbacks, Callback):  # one alone
        callbacks = [callbacks]
    callbacks = [Progress()] if callbacks is None else list(callbacks)
    check_callbacks(callbacks, val_iter is not None, worker.asynchronous)
    callbacks = CallbackList(callbacks)
    if seed is not None:
        set_seed(seed)
    ensure_initialized(net, ctx)
    if getattr(net, 'compiled', True):
        net.hybridize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = make_trainer(net, lr, worker, optimizer)
    callbacks.bind(Run(net, trainer, vocab, num_epochs, clip, optimizer, worker.rank == 0))
    label = getattr(net, 'label', None)  # None or unset: the class name; else as a string
    label = type(net).__name__ if label is None else str(label)
    history = callbacks.resumed_history() or \
        new_history(label, ctx, train_iter, val_iter, vocab, worker)
    callbacks.on_train_begin(history)
    for epoch in range(history['epochs'] + 1, num_epochs + 1):
        callbacks.on_epoch_begin(history)
        start = time.perf_counter()
        ppl, num_tokens = train_epoch(net, worker.batches(batches(train_iter, 'train_iter')),
                                      loss, trainer, ctx,
                                      use_random_iter, clip=clip, callbacks=callbacks)
        ppl, num_tokens = worker.epoch(ppl, num_tokens)  # over every worker's rows
        seconds = time.perf_counter() - start
        if not math.isfinite(ppl):  # stop before saving: the last good checkpoint stays
            raise TrainingDiverged(f'the training loss became {ppl} in epoch {epoch}; '
                                   f'lower the learning rate (now {trainer.learning_rate})')
        val_ppl = None if val_iter is None else \
            evaluate_perplexity(net, batches(val_iter, 'val_iter'), as_ctx_list(ctx)[0])
        record_epoch(history, epoch, ppl, num_tokens / seconds, seconds, val_ppl)
        if callbacks.on_epoch_end(history):
            history['stopped_early'] = epoch
            break
    callbacks.on_train_end(history)
    return history


def check_train_args(net, train_iter, vocab, lr, num_epochs, ctx, use_random_iter, clip,
                     val_iter=None):
    """Refuse, before anything trains (UsageError), arguments `train` cannot use."""
    if not (isinstance(net, gluon.Block) and hasattr(net, 'begin_state')):
        raise UsageError(f'net must be a model with begin_state, such as DeepRNN(len(vocab), '
                         f'256, 2) or DeepRNNScratch(...); got {net!r}')
    for name, data in (('train_iter', train_iter), ('val_iter', val_iter)):
        if (data is not None or name == 'train_iter') and (
                isinstance(data, (str, bytes)) or not hasattr(data, '__iter__')):
            raise UsageError(f'{name} must be batches (X, Y) to iterate over, such as '
                             f'load_data_splits(32, 35) gives; got {data!r}')
    check_positive_number('lr', lr)
    check_positive_int('num_epochs', num_epochs, allow_zero=True)  # 0: initialize, place
    check_positive_number('clip', clip)
    check_switch('use_random_iter', use_random_iter)
    check_ctx(ctx)
    vocab_size = getattr(net, 'vocab_size', None)
    if vocab_size is not None and vocab is not None and vocab_size != len(vocab):
        raise UsageError(f'the model was built for {vocab_size} tokens but the vocabulary has '
                         f'{len(vocab)}; build it with len(vocab) as its vocab_size')


def batches(data_iter, name):
    """`data_iter`'s (X, Y) batches, each checked: two token arrays (batch_size, num_steps)."""
    for batch in data_iter:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and
                all(isinstance(a, np.ndarray) and a.ndim == 2 for a in batch)):
            raise UsageError(f'{name} must yield (X, Y) pairs of MXNet arrays of token ids, '
                             f'(batch_size, num_steps) each; got {str(batch)[:60]!r}')
        yield batch


def check_callbacks(callbacks, validation, asynchronous=False):
    """Refuse extras this run cannot serve (UsageError), before anything is trained or written."""
    for callback in callbacks:
        check_callback(callback)
    if not validation and any(c.needs_validation for c in callbacks):
        raise UsageError('lr_decay, patience and keep_best follow the validation '
                         'perplexity; give val_iter (--val-tokens > 0)')
    if asynchronous and any(c.uses_the_optimizer for c in callbacks):
        raise UsageError('with dist_async the servers keep the optimizer, which a worker can '
                         'neither save nor change: drop --save and --lr-decay, or use '
                         '--kvstore dist_sync')


def check_callback(callback):
    """Refuse what is not a `Callback` instance (UsageError), saying what to write instead."""
    if isinstance(callback, Callback):
        return
    if isinstance(callback, type) and issubclass(callback, Callback):
        raise UsageError(f'callbacks take instances: write {callback.__name__}(), not '
                         f'{callback.__name__}')
    hint = '; to call a function after each epoch, give OnEpoch(f)' if callable(callback) \
        else ''
    raise UsageError(f'callbacks take Callback instances (Progress(), EarlyStopping(5), ...); '
                     f'got {callback!r}{hint}')


def train_config(net, train_iter, vocab, config, ctx, **options):
    """`train` with a `Config`'s settings; `options` are `train`'s other keywords (`val_iter`)."""
    check_config(config)
    return train(net, train_iter, vocab, config.lr, config.num_epochs, ctx,
                 config.use_random_iter, clip=config.clip, seed=config.seed,
                 optimizer=config.optimizer, **options)


def callbacks_for(config, *, diagnostics=False, save_dir=None, save_every=10, resume=False,
                  verbose=True, log_every=None):
    """A `Config`'s callbacks and the run's extras, in the order they must run (docs/package.md)."""
    check_config(config)
    callbacks = [Diagnostics()] if diagnostics else []
    if config.lr_decay != 1:
        callbacks.append(DecayOnPlateau(config.lr_decay))
    if config.patience:
        callbacks.append(EarlyStopping(config.patience))
    if save_dir:
        callbacks.append(Checkpoints(save_dir, save_every, resume, verbose))
    if config.keep_best:
        callbacks.append(KeepBest(os.path.join(save_dir, 'best') if save_dir else None))
    if verbose:
        callbacks.append(Progress(log_every))
    return callbacks
