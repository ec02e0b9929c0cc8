"""Training as one worker of MXNet's parameter server (`dist_sync`, `dist_async`): which rows
of each batch this worker takes, what it does before the step, and the epoch's loss over all
workers. `ALONE` is a single process, which needs none of it.

Each worker takes a contiguous block of rows of every batch (row i keeps its hidden state on
one worker, as on one of several devices); its loss is divided by the whole batch's token
count, so the servers' sum of the gradients is the gradient of one process on the whole
batch (`dist_sync`). With `dist_async` the servers update on their own, so there is no summed
gradient to clip: each worker clips its own share first, and `AsyncTrainer` then pushes it.
"""
import mxnet as mx
from mxnet import gluon, np

from .config import UsageError

KVSTORES = ('device', 'local', 'dist_sync', 'dist_async')
LOSS_KEY = 1_000_000  # the kvstore key that sums the workers' losses (parameters use 0..P-1)


class Alone:
    """A single process: all rows, nothing before the step, the loss as it is."""

    rank, num_workers, kv, asynchronous = 0, 1, None, False

    def rows(self, X, Y):
        return X, Y

    def epoch_loss(self, total_loss, num_tokens):
        """The epoch's mean loss per token."""
        return float(total_loss) / num_tokens


ALONE = Alone()


class Worker(Alone):
    """One worker of a parameter-server job, through its kvstore `kv`."""

    def __init__(self, kv):
        self.kv, self.rank, self.num_workers = kv, kv.rank, kv.num_workers
        self.asynchronous = 'async' in kv.type
        self.own_tokens = 0

    def rows(self, X, Y):
        """This worker's block of rows of X and Y (the same rows every batch)."""
        X, Y = worker_rows(X, self.kv), worker_rows(Y, self.kv)
        self.own_tokens += Y.size
        return X, Y

    def epoch_loss(self, total_loss, num_tokens):
        """The mean loss per token over every worker's rows (`dist_sync`); with `dist_async`
        no sum exists and it is this worker's own."""
        own, self.own_tokens = self.own_tokens, 0
        if self.asynchronous:
            return float(total_loss) / own
        return cluster_sum(self.kv, total_loss) / num_tokens


class AsyncTrainer(gluon.Trainer):
    """A `dist_async` worker's Trainer, stepped as the others are (`allreduce_grads`, clip,
    `update`): the servers update the weights, so there is nothing to sum before clipping,
    and `update` pushes this worker's clipped gradient and pulls the weights back."""

    def __init__(self, params, optimizer, kvstore):
        super().__init__(params, optimizer, kvstore=kvstore, update_on_kvstore=True)

    def allreduce_grads(self):
        pass  # each worker clips its own gradient: the servers only ever see it clipped

    def update(self, batch_size, ignore_stale_grad=False):
        self.step(batch_size, ignore_stale_grad)


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


def join(kvstore):
    """The kvstore of a `dist_*` job (the `DMLC_*` environment names the scheduler) as a
    `Worker`, or `ALONE` for 'device' and 'local' (Gluon sums several devices itself)."""
    return Worker(mx.kv.create(kvstore)) if kvstore.startswith('dist') else ALONE


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
