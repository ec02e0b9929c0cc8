"""Training as one worker of MXNet's parameter server (`dist_sync`, `dist_async`): this worker's
rows of each batch, its Trainer, and the epoch's perplexity over all workers. A `SingleProcess`
needs none of it; `train_epoch` is the same loop either way. Why the job computes what one
process computes: docs/distributed.md ("Inside the job")."""
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
        """This worker's rows of each batch (X, Y); `share`, its part of the tokens, weights it."""
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
        """(perplexity, tokens) of all rows: the workers' token-weighted geometric mean
        (`dist_sync`); with `dist_async` no sum exists, so this worker's own perplexity."""
        if not self.asynchronous:
            ppl = perplexity(cluster_sum(self.kv, math.log(ppl) * num_tokens) /
                             self.all_tokens)
        return ppl, self.all_tokens


class WorkerTrainer(gluon.Trainer):
    """A worker's Trainer, stepped as a single process's: `allreduce_grads`, clip, `update`."""

    def __init__(self, params, optimizer, worker):
        super().__init__(params, optimizer, kvstore=worker.kv,
                         update_on_kvstore=worker.asynchronous)
        self.worker, self.trained = worker, [p for p in params if p.grad_req != 'null']

    def allreduce_grads(self):
        """Weight by this worker's token share, so the servers' sum is the whole batch's mean."""
        if self.worker.share != 1:
            for p in self.trained:
                for g in p.list_grad():
                    g *= self.worker.share
        if not self.worker.asynchronous:
            super().allreduce_grads()

    def update(self, batch_size, ignore_stale_grad=False):
        """`dist_async`: push the clipped gradient, the servers step, pull; else Gluon's update."""
        if self.worker.asynchronous:
            self.step(batch_size, ignore_stale_grad)
        else:
            super().update(batch_size, ignore_stale_grad)


def worker_rows(batch, kv):
    """This worker's contiguous block of rows, the same each batch (each keeps its hidden state)."""
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
    """`train`'s `ctx`: a `Worker` of the job the `DMLC_*` environment names, or `ctx` itself
    for 'device' and 'local' (Gluon sums several devices' gradients on its own)."""
    check_choice('kvstore', kvstore, KVSTORES)
    return Worker(mx.kv.create(kvstore), ctx) if kvstore.startswith('dist') else ctx


def end_without_shutdown(code):
    """End this process of a job now, output flushed: ps-lite's shutdown hangs or aborts
    (measured: docs/distributed.md); the launcher or the scheduler's watch stops the others."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def join_before_training(trainer):
    """Join the parameter server now, not lazily at the first step, whose pull of the weights
    can race the first gradient push (docs/distributed.md); Trainer's private calls, no public."""
    trainer._init_kvstore()
    trainer._init_params()
    mx.nd.waitall()
