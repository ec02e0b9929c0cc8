"""The optimizers `train` steps with, each with the book's clipping of the global gradient
norm built in: `ClippedSGD`, the book's SGD, and `ClippedAdam`, Adam (Kingma and Ba,
2015) after the same clipping, which reaches a held-out perplexity SGD does not (README,
"Training for held-out perplexity").

Both are MXNet optimizers for Gluon's Trainer, which hands them every parameter at once
(`aggregate_num`) after summing the devices' and workers' gradients (with several devices,
each copy is clipped alike). The norm, the scale and the step stay on the device: no host
sync. Frozen parameters (lr_mult 0: see `gluon_model.freeze`) are left out of the norm and
the step. A `monitor` (see `diagnostics.Diagnostics`) sees each step's squared norms.
"""
import math

import mxnet as mx
from mxnet import np


def clip_scale(grads, theta):
    """(sums, norm, scale) for the book's clipping g <- g * min(1, theta / ||g||): each
    gradient's sum of squares (P,), their global norm and the scale, all on the device.
    One fused operator takes every sum of squares (7x faster than a square and a sum each)."""
    sums = mx.nd.multi_sum_sq(*grads, num_arrays=len(grads)).as_np_ndarray()
    norm = np.sqrt(sums.sum())
    return sums, norm, np.minimum(1.0, theta / (norm + 1e-12))


class Clipped(mx.optimizer.Optimizer):
    """What both optimizers share: the clipping threshold `theta`, the monitor, every
    parameter in one `update`, and the trained parameters picked out of the frozen ones."""

    def __init__(self, theta, monitor=None, **kwargs):
        super().__init__(**kwargs)
        self.theta, self.monitor = theta, monitor
        self.aggregate_num = 1 << 30  # every parameter in one `update`: the norm is global

    def __getstate__(self):  # (pickled into checkpoints) the monitor stays in this process
        return {**super().__getstate__(), 'monitor': None}

    def update(self, indices, weights, grads, states):
        self._update_count(indices)
        lrs, wds = self._get_lrs(indices), self._get_wds(indices)
        trained = [k for k, lr in enumerate(lrs) if lr]
        grads = [grads[k] for k in trained]
        sums, norm, scale = clip_scale(grads, self.theta)
        ctx = weights[0].context
        if self.monitor is not None and ctx == self.monitor.params[0].list_ctx()[0]:
            self.monitor.record_step(sums, norm, scale, self.learning_rate)
        self.step([indices[k] for k in trained], [weights[k] for k in trained], grads,
                  [states[k] for k in trained], [lrs[k] for k in trained],
                  [wds[k] for k in trained], scale)

    update_multi_precision = update


class ClippedSGD(Clipped):
    """The book's `grad_clipping` and SGD step: g <- g * min(1, theta / ||g||), the norm over
    every trained parameter's gradient together, then w <- w - lr g. One operator steps
    every parameter: `preloaded_multi_sgd_update` takes the learning rates as an array,
    lr * scale."""

    def create_state(self, index, weight):
        return None  # plain SGD keeps no state

    def step(self, indices, weights, grads, states, lrs, wds, scale):
        ctx = weights[0].context
        lr = np.array(lrs, ctx=ctx) * scale  # (P,): each one's step
        wd = np.array(wds, ctx=ctx)
        mx.nd.preloaded_multi_sgd_update(
            *[a for pair in zip(weights, grads) for a in pair], lr.as_nd_ndarray(),
            wd.as_nd_ndarray(), num_weights=len(weights), out=weights)


class ClippedAdam(Clipped):
    """The same clipping, then Adam: m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
    w <- w - lr_t m / (sqrt(v) + eps), with the bias correction lr_t = lr sqrt(1 - b2^t) /
    (1 - b1^t) at step t. Each parameter keeps (m, v), saved with the checkpoints."""

    def __init__(self, theta, monitor=None, beta1=0.9, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(theta, monitor, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

    def create_state(self, index, weight):
        return (mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype),  # m
                mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype))  # v

    def step(self, indices, weights, grads, states, lrs, wds, scale):
        scale = scale.as_nd_ndarray()
        for index, weight, grad, (m, v), lr, wd in zip(indices, weights, grads, states, lrs,
                                                      wds):
            t = self._index_update_count[index]
            lr_t = lr * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
            clipped = mx.nd.broadcast_mul(grad, scale.reshape((1,) * grad.ndim))
            mx.nd.adam_update(weight, clipped, m, v, out=weight, lr=lr_t, wd=wd,
                              beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)


def make_optimizer(name, lr, clip, monitor=None):
    """`ClippedSGD` ('sgd', the book's) or `ClippedAdam` ('adam') at learning rate `lr`."""
    kind = {'sgd': ClippedSGD, 'adam': ClippedAdam}[name]
    return kind(clip, monitor, learning_rate=lr)


def server_optimizer(name, lr):
    """The plain optimizer `dist_async` servers step with (each worker clips first)."""
    return {'sgd': mx.optimizer.SGD, 'adam': mx.optimizer.Adam}[name](learning_rate=lr)
