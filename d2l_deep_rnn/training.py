"""The book's `train_ch8` for either model: SGD, clipping of the global gradient norm,
perplexity per epoch, and tokens per second.

Changed from the book, without changing what is computed: the loss is summed on the
device and read once per epoch (the book reads it after every batch, which stalls
MXNet's asynchronous engine), and clipping and the SGD step are one optimizer, `ClippedSGD`,
whose norm and scale stay on the device (`gluon.utils.clip_global_norm` fails on
numpy-interface arrays in MXNet 1.9.1, and reads the norm on the host).
"""
import math
import os
import random
import sys
import time

import mxnet as mx
import numpy as onp
from d2l import mxnet as d2l
from mxnet import autograd, gluon, init, np

from . import checkpoint
from .config import UsageError, check_choice
from .data import unigram_perplexity
from .diagnostics import Diagnostics, append_epoch, new_diagnostics
from .gluon_model import is_frozen


KVSTORES = ('device', 'local', 'dist_sync', 'dist_async')
LOSS_KEY = 1_000_000  # the kvstore key that sums the workers' losses (parameters use 0..P-1)


class TrainingDiverged(UsageError):
    """The loss became NaN or infinite."""


def set_seed(seed):
    """Seed every generator a run draws from: Python's (data order), NumPy's and MXNet's."""
    random.seed(seed)
    onp.random.seed(seed)
    mx.random.seed(seed)


def ensure_initialized(net, ctx):
    """Initialize as the book does (weights N(0, 0.01^2), biases 0) unless the weights are
    already set (for example copied with `copy_params`); then just move them to `ctx`."""
    params = net.collect_params()
    try:
        for p in params.values():
            p.data()
    except RuntimeError:  # not initialized yet
        net.initialize(init.Normal(0.01), ctx=ctx, force_reinit=True)
        return
    params.reset_ctx(ctx)


def as_ctx_list(ctx):
    """One context or several (data parallel) -> a list of contexts."""
    return list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]


def grad_clipping(params, theta, ctx, monitor=None):
    """g <- g * min(1, theta / ||g||), the norm taken over all parameters' gradients together.

    With several contexts the gradients must already be summed across them (as
    `Trainer.allreduce_grads` leaves them): the norm is read on the first and every copy is
    scaled alike. Frozen parameters (see `gluon_model.freeze`) are left out: the norm is
    the section's parameters'. Returns the norm before clipping (a device scalar: reading
    it syncs). A `monitor` (see `diagnostics.Diagnostics`) sees each step's squared norms
    first."""
    ctxs = as_ctx_list(ctx)
    params = [p for p in params if not is_frozen(p)]
    grads = [p.grad(ctxs[0]) for p in params]
    # one fused operator for every sum of squares: 7x faster than a square and a sum each
    sums = mx.nd.multi_sum_sq(*[g.as_nd_ndarray() for g in grads], num_arrays=len(grads))
    norm = np.sqrt(sums.as_np_ndarray().sum())
    scale = np.minimum(1.0, theta / (norm + 1e-12))
    if monitor is not None:
        monitor.record_step(sums.as_np_ndarray(), norm, scale)
    for c in ctxs:
        scale_here = scale.as_in_ctx(c)
        for p in params:
            g = p.grad(c)
            g *= scale_here
    return norm


class ClippedSGD(mx.optimizer.Optimizer):
    """The book's `grad_clipping` and SGD step as one MXNet optimizer for Gluon's Trainer:
    g <- g * min(1, theta / ||g||), the norm over every trained parameter's gradient
    together, then w <- w - lr g.

    The Trainer hands it all parameters at once (`aggregate_num`), after summing the
    devices' and workers' gradients (with several devices, each copy is clipped alike).
    The norm, the scale and the step stay on the device, in four operators and no host
    sync: `preloaded_multi_sgd_update` takes the learning rates as an array, lr * scale.
    Frozen parameters (lr_mult 0: see `gluon_model.freeze`) are left out of the norm and
    the step. A `monitor` (see `diagnostics.Diagnostics`) sees each step's squared norms."""

    def __init__(self, theta, monitor=None, **kwargs):
        super().__init__(**kwargs)
        self.theta, self.monitor = theta, monitor
        self.aggregate_num = 1 << 30  # every parameter in one `update`: the norm is global

    def __getstate__(self):  # (pickled into checkpoints) the monitor stays in this process
        return {**super().__getstate__(), 'monitor': None}

    def create_state(self, index, weight):
        return None  # plain SGD keeps no state

    def update(self, indices, weights, grads, states):
        self._update_count(indices)
        lrs, wds = self._get_lrs(indices), self._get_wds(indices)
        trained = [k for k, lr in enumerate(lrs) if lr]
        weights, grads = [weights[k] for k in trained], [grads[k] for k in trained]
        ctx = weights[0].context
        sums = mx.nd.multi_sum_sq(*grads, num_arrays=len(grads)).as_np_ndarray()
        norm = np.sqrt(sums.sum())
        scale = np.minimum(1.0, self.theta / (norm + 1e-12))
        if self.monitor is not None and ctx == self.monitor.params[0].list_ctx()[0]:
            self.monitor.record_step(sums, norm, scale)
        lr = np.array([lrs[k] for k in trained], ctx=ctx) * scale  # (P,): each one's step
        wd = np.array([wds[k] for k in trained], ctx=ctx)
        mx.nd.preloaded_multi_sgd_update(
            *[a for pair in zip(weights, grads) for a in pair], lr.as_nd_ndarray(),
            wd.as_nd_ndarray(), num_weights=len(weights), out=weights)

    update_multi_precision = update


def train_epoch(net, train_iter, loss, trainer, ctx, use_random_iter, kv=None, clip=None,
                monitor=None):
    """One pass over `train_iter` as the book's `train_epoch_ch8`; returns (perplexity,
    tokens). `trainer.step` clips and updates (`make_trainer`'s `ClippedSGD`).

    With several contexts each batch's rows are split across them (row i keeps its hidden
    state on its device from batch to batch), each device's loss is divided by the whole
    batch's token count, and the Trainer sums the gradients before clipping and updating:
    the same step one device takes on the whole batch. With a distributed kvstore `kv`,
    this worker first takes its own block of rows (`worker_rows`) and the parameter
    server sums the workers' gradients: again the step of one process on the whole batch
    (`dist_sync`; with `dist_async` the servers update, so each worker clips its own share
    at `clip` first). A `monitor` keeps the first batch (and, for `dist_async`, sees the
    clipping)."""
    ctxs = as_ctx_list(ctx)
    states, total_loss, num_tokens, own_tokens = None, 0.0, 0, 0
    clip_here = kv is not None and 'async' in kv.type  # no summed gradient exists to clip
    params = list(net.collect_params().values())
    for X, Y in train_iter:
        batch_tokens = Y.size  # the whole batch's, on every worker: losses are its mean
        if kv is not None:
            X, Y = worker_rows(X, kv), worker_rows(Y, kv)
        Xs = gluon.utils.split_and_load(X, ctxs, even_split=False)  # rows per device
        Ys = gluon.utils.split_and_load(Y, ctxs, even_split=False)
        if monitor is not None and monitor.sample is None:
            monitor.sample = Xs[0]
        if states is None or use_random_iter:  # fresh for random batches
            states = [net.begin_state(batch_size=x.shape[0], ctx=c) for x, c in zip(Xs, ctxs)]
        else:
            states = [[s.detach() for s in state] for state in states]  # cut the graph
        with autograd.record():
            outputs = [net(x, state) for x, state in zip(Xs, states)]
            losses = [loss(y_hat, y.T.reshape(-1)).sum() / batch_tokens  # y time-major
                      for (y_hat, _), y in zip(outputs, Ys)]
        states = [state for _, state in outputs]
        autograd.backward(losses)
        if clip_here:
            grad_clipping(params, clip, ctxs, monitor)
        trainer.step(1)  # sum the gradients, clip, SGD (the loss is already a mean)
        total_loss = total_loss + sum(l.as_in_ctx(ctxs[0]) for l in losses) * batch_tokens
        num_tokens += batch_tokens
        own_tokens += Y.size  # this worker's rows
    if clip_here:  # no sum over workers: this worker's own
        return perplexity(float(total_loss) / own_tokens), num_tokens
    if kv is not None:
        total_loss = cluster_sum(kv, total_loss)
    return perplexity(float(total_loss) / num_tokens), num_tokens


def worker_rows(batch, kv):
    """This worker's contiguous block of a batch's rows: the same rows every batch, so
    each row keeps its hidden state on one worker, as with several devices."""
    n = batch.shape[0]
    if n < kv.num_workers:
        raise UsageError(f'a batch of {n} sequences cannot be split across {kv.num_workers} '
                         f'workers; use a batch size of at least {kv.num_workers}')
    return batch[kv.rank * n // kv.num_workers:(kv.rank + 1) * n // kv.num_workers]


def cluster_sum(kv, value):
    """The sum of a scalar over all workers, through the parameter server (dist_sync)."""
    value = np.array([float(value)])
    if not getattr(kv, 'loss_key_ready', False):
        kv.init(LOSS_KEY, np.zeros(1))
        kv.loss_key_ready = True
    out = np.zeros(1)
    kv.pushpull(LOSS_KEY, value, out=out)
    return float(out[0])


def make_trainer(net, lr, clip=1.0, kvstore='device', monitor=None):
    """SGD with clipping at `clip` (`ClippedSGD`) through a Gluon Trainer. `kvstore`
    'device' or 'local' sums the gradients of several devices; 'dist_sync'/'dist_async'
    joins the parameter server that the `DMLC_*` environment names (see `python -m
    d2l_deep_rnn launch`); with 'dist_async' the servers take plain SGD steps. Returns
    (trainer, kv), kv the distributed kvstore or None."""
    check_choice('kvstore', kvstore, KVSTORES)
    kv = mx.kv.create(kvstore) if kvstore.startswith('dist') else None
    params = list(net.collect_params().values())  # a list keeps this order (a dict: sorted)
    on_servers = kvstore == 'dist_async'
    sgd = mx.optimizer.SGD(learning_rate=lr) if on_servers else \
        ClippedSGD(clip, monitor, learning_rate=lr)
    # frozen biases by index too: servers updating on the kvstore (dist_async) get a copy of
    # the optimizer without the parameters' own lr_mult
    sgd.set_lr_mult({i: 0.0 for i, p in enumerate(params) if is_frozen(p)})
    trainer = gluon.Trainer(params, sgd, kvstore=kv or kvstore, update_on_kvstore=on_servers)
    if kv is not None:
        # Gluon would join the kvstore at the first step: rank 0 pushes the weights and
        # every worker pulls them back, asynchronously, and that pull can reach the server
        # after the first gradient push of the same key, whose sum it then returns as the
        # weights (1 run in 3 ended off the single-process run). Join now, and wait.
        trainer._init_kvstore()
        trainer._init_params()
        mx.nd.waitall()
    return trainer, kv


def perplexity(mean_loss):
    """exp(mean cross-entropy); inf (not an OverflowError) when the loss is huge."""
    return math.exp(mean_loss) if mean_loss < 700 else math.inf


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


def train(net, train_iter, vocab, lr, num_epochs, ctx=None, clip=1.0, use_random_iter=False,
          val_iter=None, seed=None, hybridize=True, verbose=True, log_every=None,
          on_epoch=None, label=None, save_dir=None, save_every=10, resume=False,
          kvstore='device', diagnostics=False):
    """Train `net` (a `DeepRNN` or `DeepRNNScratch`) with SGD, as the book's `train_ch8`.

    Returns a history dict: per epoch `train_ppl`, `val_ppl` (when `val_iter` is given),
    `tokens_per_sec` and `seconds`, plus `unigram_ppl`, the validation perplexity of a
    model that ignores context (about 17: a model near it learned nothing sequential).
    `on_epoch(history)` is called after each epoch (for example to draw a live plot);
    `label` names the run in the progress lines (default: the model's class name).
    With `save_dir`, a checkpoint is written every `save_every` epochs and at the end; with
    `resume=True` too, training continues from the checkpoint there, if any, and ends as an
    uninterrupted run with the same seed would (on a CPU, without dropout).
    `kvstore='dist_sync'` trains as one worker of a parameter-server job (every worker
    must use the same seed, data and settings); only rank 0 prints and saves checkpoints.
    `diagnostics=True` adds per-layer figures to the history (gradient norms before
    clipping, clipping fraction, update/weight ratios, saturation: see `diagnostics`).
    Measured cost (`bench` rows g and h: the section's 2-layer LSTM on a 2-core CPU): about
    0.1-0.15 s per epoch, mostly the saturation replay; the hybridized `DeepRNN` keeps 83%
    of its tokens/s, the fast `DeepRNNScratch` 96%.
    """
    ctx = ctx if ctx is not None else d2l.try_gpu()
    if seed is not None:
        set_seed(seed)
    ensure_initialized(net, ctx)
    if hybridize:
        net.hybridize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    monitor = Diagnostics(net, net.collect_params().values(), lr, clip) if diagnostics \
        else None
    trainer, kv = make_trainer(net, lr, clip, kvstore, monitor)
    lead = kv is None or kv.rank == 0  # the one process that prints and writes
    verbose = verbose and lead
    history = new_history(label or type(net).__name__, ctx, train_iter, val_iter, vocab)
    if kv is not None:
        history['worker'] = [kv.rank, kv.num_workers]
    if resume and save_dir and os.path.isfile(os.path.join(save_dir, checkpoint.META)):
        history = checkpoint.load_checkpoint(save_dir, net, trainer, vocab)
        trainer.set_learning_rate(lr)  # the saved optimizer state brings its own
        if isinstance(trainer.optimizer, ClippedSGD):  # so do its threshold and monitor
            trainer.optimizer.theta, trainer.optimizer.monitor = clip, monitor
        elif kvstore != 'dist_async':
            raise checkpoint.CheckpointError(f'{save_dir} holds a checkpoint of an older '
                                             f'd2l-deep-rnn (plain SGD, clipped apart); '
                                             f'train again without --resume')
        if verbose:
            print(f"{history['model']}: resuming after epoch {history['epochs']} from "
                  f"{save_dir}", flush=True)
    if diagnostics:
        if 'grad_norm' not in history:  # (a resumed history has them already)
            new_diagnostics(history, net.num_layers)
    log_every = log_every or max(1, num_epochs // 20)
    for epoch in range(history['epochs'] + 1, num_epochs + 1):
        start = time.perf_counter()
        if monitor is not None:
            monitor.start_epoch()
        ppl, num_tokens = train_epoch(net, train_iter, loss, trainer, ctx, use_random_iter,
                                      kv, clip, monitor)
        seconds = time.perf_counter() - start
        if not math.isfinite(ppl):  # stop before saving: the last good checkpoint stays
            raise TrainingDiverged(f'the training loss became {ppl} in epoch {epoch}; '
                                   f'lower the learning rate (now {lr})')
        history['train_ppl'].append(ppl)
        history['tokens_per_sec'].append(num_tokens / seconds)
        history['seconds'].append(seconds)
        if monitor is not None:
            append_epoch(history, monitor.end_epoch())
        if val_iter is not None:
            history['val_ppl'].append(evaluate_perplexity(net, val_iter, as_ctx_list(ctx)[0]))
        history['epochs'] = epoch
        if verbose and (epoch % log_every == 0 or epoch in (1, num_epochs)):
            print(progress_line(history, num_epochs), file=sys.stdout, flush=True)
        if save_dir and lead and (epoch % save_every == 0 or epoch == num_epochs):
            checkpoint.save_checkpoint(save_dir, net, trainer, history, vocab)
        if on_epoch is not None:
            on_epoch(history)
    return history


def new_history(label, ctx, train_iter, val_iter, vocab):
    history = {'model': label, 'ctx': str(ctx), 'epochs': 0,
               'train_ppl': [], 'val_ppl': [], 'tokens_per_sec': [], 'seconds': []}
    if val_iter is not None and hasattr(train_iter, 'corpus') and hasattr(val_iter, 'corpus'):
        history['unigram_ppl'] = unigram_perplexity(train_iter.corpus, val_iter.corpus,
                                                    len(vocab))
    return history


def progress_line(history, num_epochs):
    """'DeepRNN  epoch  10/100  train ppl 8.42  val ppl 9.10 (unigram 17.2)  35,120 tokens/s'"""
    epoch = history['epochs']
    line = (f"{history['model']:<15} epoch {epoch:>{len(str(num_epochs))}}/{num_epochs}"
            f"  train ppl {history['train_ppl'][-1]:6.2f}")
    if history['val_ppl']:
        line += f"  val ppl {history['val_ppl'][-1]:6.2f}"
        if 'unigram_ppl' in history:
            line += f" (unigram {history['unigram_ppl']:.1f})"
    rate, elapsed = history['tokens_per_sec'][-1], sum(history['seconds'])
    return line + f'  {rate:9,.0f} tokens/s  {elapsed:6.1f} s'
