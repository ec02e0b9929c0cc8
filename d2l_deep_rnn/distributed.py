"""Training as one worker of MXNet's parameter server (`dist_sync`, `dist_async`): which rows
of each batch this worker takes, how its Trainer sums and steps, and the epoch's perplexity
over all workers. A `SingleProcess` needs none of it; `train_epoch` is the same loop either
way.

Each worker takes a contiguous block of rows of every batch (row i keeps its hidden state on
one worker, as on one of several devices). Its gradient, the mean over its own rows, is
weighted by its share of the batch's tokens, so the servers' sum of the gradients is the
gradient of one process on the whole batch (`dist_sync`). With `dist_async` the servers
update on their own, so there is no summed gradient to clip: each worker clips its own share.
"""
import math
import os
import sys

import mxnet as mx
from mxnet import gluon, np

from .config import UsageError, check_choice
from .metrics import perplexity

KVSTORES = ('device', 'local', 'dist_sync', 'dist_async')
LOSS_KEY = 1_000_000  # the kvstore key that sums the workers' losses (parameters use 0..P-1)


class SingleProcess:
    """A single process: every row, Gluon's own Trainer, the epoch as it is."""

    rank, num_workers, kv, asynchronous = 0, 1, None, False

    def batches(self, data_iter):
        return data_iter

    def trainer(self, params, optimizer):
        """Gluon's Trainer, which sums several devices' gradients in `allreduce_grads`."""
        return gluon.Trainer(params, optimizer, kvstore='device', update_on_kvstore=False)

    def epoch(self, ppl, num_tokens):
        return ppl, num_tokens


SINGLE_PROCESS = SingleProcess()


class Worker(SingleProcess):
    """One worker of a parameter-server job, through its kvstore `kv`, training on `ctx`."""

    def __init__(self, kv, ctx=None):
        self.kv, self.rank, self.num_workers, self.ctx = kv, kv.rank, kv.num_workers, ctx
        self.asynchronous = 'async' in kv.type
        self.share, self.all_tokens = 1.0, 0

    def batches(self, data_iter):
        """This worker's block of rows of each batch (X, Y): the same rows every batch.
        `share` is its part of the batch's tokens, by which `WorkerTrainer` weights it."""
        self.all_tokens = 0
        for X, Y in data_iter:
            X_own, Y_own = worker_rows(X, self.kv), worker_rows(Y, self.kv)
            self.share = Y_own.size / Y.size
            self.all_tokens += Y.size
            yield X_own, Y_own

    def trainer(self, params, optimizer):
        """A `WorkerTrainer` that has joined the servers (`join_before_training`)."""
        trainer = WorkerTrainer(params, optimizer, self)
        join_before_training(trainer)
        return trainer

    def epoch(self, ppl, num_tokens):
        """(perplexity, tokens) of every worker's rows from this worker's own (`dist_sync`):
        the perplexity of all rows is the token-weighted geometric mean of the workers'.
        With `dist_async` no sum exists and the perplexity is this worker's own."""
        if not self.asynchronous:
            ppl = perplexity(cluster_sum(self.kv, math.log(ppl) * num_tokens) /
                             self.all_tokens)
        return ppl, self.all_tokens


class WorkerTrainer(gluon.Trainer):
    """A worker's Trainer, stepped as a single process's: `allreduce_grads`, clip, `update`.

    `allreduce_grads` first weights this worker's gradient by its share of the batch's
    tokens, so that (`dist_sync`) the servers' sum is the whole batch's mean gradient, which
    every worker then clips and steps alike. With `dist_async` the servers update the
    weights: nothing is summed before clipping, and `update` pushes this worker's clipped
    gradient and pulls the weights back."""

    def __init__(self, params, optimizer, worker):
        super().__init__(params, optimizer, kvstore=worker.kv,
                         update_on_kvstore=worker.asynchronous)
        self.worker, self.trained = worker, [p for p in params if p.grad_req != 'null']

    def allreduce_grads(self):
        if self.worker.share != 1:
            for p in self.trained:
                for g in p.list_grad():
                    g *= self.worker.share
        if not self.worker.asynchronous:
            super().allreduce_grads()

    def update(self, batch_size, ignore_stale_grad=False):
        if self.worker.asynchronous:
            self.step(batch_size, ignore_stale_grad)  # push, the servers' update, pull
        else:
            super().update(batch_size, ignore_stale_grad)


def worker_rows(batch, kv):
    """This worker's contiguous block of a batch's rows: the same rows every batch, so
    each row keeps its hidden state on one worker, as with several devices."""
    n = batch.shape[0]
    if n < kv.num_workers:
        raise UsageError(f'a batch of {n} sequences cannot be split across {kv.num_workers} '
                         f'workers; use a batch size of at least {kv.num_workers}')
    return batch[kv.rank * n // kv.num_workers:(kv.rank + 1) * n // kv.num_workers]


def cluster_sum(kv, value):
    """The sum of a scalar over all workers, through the parameter server."""
    value = np.array([float(value)])
    if not getattr(kv, 'loss_key_ready', False):
        kv.init(LOSS_KEY, np.zeros(1))
        kv.loss_key_ready = True
    out = np.zeros(1)
    kv.pushpull(LOSS_KEY, value, out=out)
    return float(out[0])


def join(kvstore, ctx=None):
    """What `train` takes as its `ctx`: for a `dist_*` kvstore, this process as a `Worker` of
    the job (the `DMLC_*` environment names the scheduler) on `ctx`; for 'device' and
    'local', `ctx` itself (Gluon sums several devices' gradients on its own)."""
    check_choice('kvstore', kvstore, KVSTORES)
    return Worker(mx.kv.create(kvstore), ctx) if kvstore.startswith('dist') else ctx


def end_without_shutdown(code):
    """End this process of a parameter-server job now, with status `code`, its output flushed,
    without ps-lite's shutdown: the launcher, or across hosts the scheduler's heartbeat watch,
    stops the others. What a normal exit does instead (MXNet 1.9.1, measured):
    - a worker frees its kvstore, whose destructor waits at a barrier for every other worker:
      one that stops early (Ctrl-C) hangs there, the others waiting for it;
      after a whole job it stops the servers and the scheduler (all exit 0), which the
      launcher takes for a dead server;
    - a process in which ps-lite still runs (the scheduler; a worker whose kvstore is kept)
      aborts: 'terminate called without an active exception', SIGABRT."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def join_before_training(trainer):
    """Make Gluon join the parameter server now, and wait, instead of at the first step.

    At its first step Gluon would init the kvstore lazily: rank 0 pushes the weights and
    every worker pulls them back, asynchronously, and that pull can reach the server after
    the first gradient push of the same key, whose sum it then returns as the weights (1 run
    in 3 ended off the single-process run). Trainer has no public call for this in MXNet
    1.9.1, so this is the one place that calls its private `_init_kvstore`/`_init_params`."""
    trainer._init_kvstore()
    trainer._init_params()
    mx.nd.waitall()
