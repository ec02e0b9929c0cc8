"""The optimizers `train` steps with once the loop has clipped the gradients: `SGD`, the book's,
and `Adam` (Kingma and Ba, 2015), which reaches a held-out perplexity SGD does not
(docs/held-out.md). Gluon's Trainer hands them every parameter at once (`aggregate_num`), the
devices' and workers' gradients summed; frozen ones (lr_mult 0: `params.freeze`) are skipped.
"""
import math

import mxnet as mx


class TrainedParamsOptimizer(mx.optimizer.Optimizer):
    """What both share: every parameter in one `update`, the frozen ones left out."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.aggregate_num = 1 << 30  # every parameter in one `update`: one operator for SGD

    def update(self, indices, weights, grads, states):
        self._update_count(indices)
        lrs, wds = self._get_lrs(indices), self._get_wds(indices)
        trained = [k for k, lr in enumerate(lrs) if lr]
        self.step([indices[k] for k in trained], [weights[k] for k in trained],
                  [grads[k] for k in trained], [states[k] for k in trained],
                  [lrs[k] for k in trained], [wds[k] for k in trained])

    update_multi_precision = update


class SGD(TrainedParamsOptimizer):
    """The book's SGD step, w <- w - lr g, for every trained parameter in one operator."""

    def create_state(self, index, weight):
        return None  # plain SGD keeps no state

    def step(self, indices, weights, grads, states, lrs, wds):
        mx.nd.multi_sgd_update(*[a for pair in zip(weights, grads) for a in pair],
                               lrs=lrs, wds=wds, num_weights=len(weights), out=weights)


class Adam(TrainedParamsOptimizer):
    """Adam: m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2, w <- w - lr_t m / (sqrt(v) + eps),
    lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) at step t; (m, v) are saved with the checkpoints."""

    def __init__(self, beta1=0.9, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

    def create_state(self, index, weight):
        return (mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype),  # m
                mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype))  # v

    def step(self, indices, weights, grads, states, lrs, wds):
        for index, weight, grad, (m, v), lr, wd in zip(indices, weights, grads, states, lrs,
                                                      wds):
            t = self._index_update_count[index]
            lr_t = lr * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
            mx.nd.adam_update(weight, grad, m, v, out=weight, lr=lr_t, wd=wd,
                              beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)


# The names checkpoints of earlier versions pickled (their optimizers clipped inside): they
# load as these, and resume (their extra attributes, the threshold, go unused).
ClippedSGD, ClippedAdam = SGD, Adam


def make_optimizer(name, lr):
    """`SGD` ('sgd', the book's) or `Adam` ('adam') at learning rate `lr`."""
    return {'sgd': SGD, 'adam': Adam}[name](learning_rate=lr)


def server_optimizer(name, lr):
    """The plain optimizer `dist_async` servers step with (each worker clips first)."""
    return {'sgd': mx.optimizer.SGD, 'adam': mx.optimizer.Adam}[name](learning_rate=lr)
