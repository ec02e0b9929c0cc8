"""The optimizers against NumPy: the book's clipping (`grad_clipping`), then SGD or Adam, step
by step, as `train_epoch` takes them."""
import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd

from d2l_deep_rnn import DeepRNN, UsageError, train
from d2l_deep_rnn.diagnostics import Diagnostics
from d2l_deep_rnn.factory import set_seed
from d2l_deep_rnn.params import is_frozen
from d2l_deep_rnn.training import grad_clipping, make_trainer


def steps(optimizer, lr, clip, num_steps=3):
    """A tiny 2-layer LSTM clipped and stepped `num_steps` times by `make_trainer`'s Trainer;
    returns the weights before, each step's gradients (before clipping) and the weights
    after, by name."""
    set_seed(0)
    net = DeepRNN(28, 8, 2, 'lstm')
    net.initialize(mx.init.Normal(0.1), ctx=mx.cpu())
    trainer = make_trainer(net, lr, optimizer=optimizer)
    params = net.collect_params()
    before = {n: p.data().asnumpy().copy() for n, p in params.items()}
    loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    rng = onp.random.RandomState(1)
    grads = []
    for _ in range(num_steps):
        X = mx.np.array(rng.randint(0, 28, (4, 5)), dtype='int32')
        Y = mx.np.array(rng.randint(0, 28, (4, 5)), dtype='int32')
        with autograd.record():
            y_hat, _ = net(X, net.begin_state(4))
            l = loss(y_hat, Y.T.reshape(-1)).mean()
        l.backward()
        grads.append({n: p.grad().asnumpy().copy() for n, p in params.items()})
        grad_clipping(params.values(), clip, mx.cpu())
        trainer.update(1)
    after = {n: p.data().asnumpy() for n, p in params.items()}
    frozen = {n for n, p in params.items() if is_frozen(p)}
    return before, grads, after, frozen


def clipped(grads, frozen, clip):
    """The book's clipping in NumPy: the global norm over the trained parameters."""
    norm = onp.sqrt(sum((g.astype('float64') ** 2).sum() for n, g in grads.items()
                        if n not in frozen))
    scale = min(1.0, clip / norm)
    return {n: g * scale for n, g in grads.items()}, norm


@pytest.mark.parametrize('clip', [1e-3, 1e3], ids=['clipping', 'not-clipping'])
def test_adam_after_the_books_clipping(clip):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    before, grads, after, frozen = steps('adam', lr, clip)
    w = {n: v.astype('float64') for n, v in before.items()}
    m = {n: onp.zeros_like(v) for n, v in w.items()}
    v = {n: onp.zeros_like(x) for n, x in w.items()}
    norms = []
    for t, g in enumerate(grads, start=1):
        g, norm = clipped(g, frozen, clip)
        norms.append(norm)
        for n in w:
            if n in frozen:
                continue
            m[n] = b1 * m[n] + (1 - b1) * g[n]
            v[n] = b2 * v[n] + (1 - b2) * g[n] ** 2
            lr_t = lr * onp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            w[n] = w[n] - lr_t * m[n] / (onp.sqrt(v[n]) + eps)
    assert (min(norms) > clip) == (clip < 1)  # the case it names
    for n in w:
        onp.testing.assert_allclose(after[n], w[n], rtol=1e-4, atol=1e-6, err_msg=n)
        if n in frozen:
            assert (after[n] == before[n]).all()
    assert frozen and all(n.endswith('h2h_bias') for n in frozen)


def test_sgd_after_the_books_clipping_is_the_books_step():
    lr, clip = 0.5, 0.01
    before, grads, after, frozen = steps('sgd', lr, clip)
    w = {n: v.astype('float64') for n, v in before.items()}
    for g in grads:
        g, _ = clipped(g, frozen, clip)
        for n in w:
            if n not in frozen:
                w[n] = w[n] - lr * g[n]
    for n in w:
        onp.testing.assert_allclose(after[n], w[n], rtol=1e-4, atol=1e-6, err_msg=n)


def test_unknown_optimizer_and_diagnostics_with_adam_are_refused():
    net = DeepRNN(28, 8, 1, 'rnn')
    with pytest.raises(UsageError, match="optimizer must be one of sgd, adam; got 'rmsprop'"):
        train(net, [], None, 1.0, 1, mx.cpu(), optimizer='rmsprop', callbacks=[])
    with pytest.raises(UsageError, match="diagnostics measure the SGD step's size"):
        train(net, [], None, 1.0, 1, mx.cpu(), optimizer='adam', callbacks=[Diagnostics()])
