"""Per-layer diagnostics: the recorded figures equal hand computations from the weights and
gradients (NumPy), for both models, and switching them off changes nothing."""
import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, gluon, np

from d2l_deep_rnn.params import is_frozen
from d2l_deep_rnn import DeepRNN, DeepRNNScratch, copy_params, train
from d2l_deep_rnn.diagnostics import KEYS, Diagnostics, diagnostics_table, summarize
from d2l_deep_rnn.training import make_trainer
from d2l_deep_rnn.plots import plot_diagnostics

V, H, L = 7, 5, 2  # vocabulary, hidden units, layers
X = onp.array([[0, 3, 1, 6, 2], [5, 4, 4, 0, 1], [2, 2, 6, 3, 5]])  # (batch 3, 5 steps)
Y = onp.roll(X, -1, axis=1)
LR, CLIP = 0.5, 0.2


def tiny_scratch(cell, scale=0.8):
    """A 2-layer scratch model with large random weights, so that some units saturate."""
    net = DeepRNNScratch(V, H, L, cell)
    net.initialize()
    rng = onp.random.RandomState(3)
    for p in net.collect_params().values():
        if not is_frozen(p):
            p.set_data(np.array(rng.normal(0, scale, p.shape).astype('float32')))
    return net


def hand_gradients(scratch):
    """The gradients of the batch's mean loss, by the section's names (autograd on a copy),
    and the weights: the inputs of the hand computation."""
    copy = tiny_scratch(scratch.cell)  # then overwritten
    for p, q in zip(scratch.collect_params().values(), copy.collect_params().values()):
        q.set_data(p.data())
    with autograd.record():
        Y_hat, _ = copy(np.array(X), copy.begin_state(3))
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(Y_hat, np.array(Y).T.reshape(-1))
        (loss.sum() / Y.size).backward()
    named = copy.section_params()
    grads = {n: p.grad().asnumpy().astype('float64') for n, p in named.items()
             if not is_frozen(p)}
    weights = {n: p.data().asnumpy().astype('float64') for n, p in named.items()
               if not is_frozen(p)}
    return grads, weights


def hand_saturation(scratch):
    """NumPy forward of the first batch from a zero state: per layer, the fraction of
    |H_t| > 0.95 (tanh RNN) or of sigmoid gates within 0.05 of 0 or 1 (LSTM)."""
    w = {n: p.data().asnumpy().astype('float64') for n, p in scratch.section_params().items()}
    sigmoid = lambda z: 1 / (1 + onp.exp(-z))  # noqa: E731
    inputs = onp.eye(V)[X.T]  # (steps, batch, V)
    fractions = []
    for l in range(1, L + 1):
        p = lambda name: w[f'layer{l}_{name}']  # noqa: E731
        Hs, Hprev, C, watched = [], onp.zeros((3, H)), onp.zeros((3, H)), []
        for X_t in inputs:
            if scratch.cell == 'rnn':
                Hprev = onp.tanh(X_t @ p('W_xh') + Hprev @ p('W_hh') + p('b_h'))
                watched.append(onp.abs(Hprev) > 0.95)
            else:
                gate = lambda g: X_t @ p(f'W_x{g}') + Hprev @ p(f'W_h{g}') + p(f'b_{g}')  # noqa
                I, F, O = sigmoid(gate('i')), sigmoid(gate('f')), sigmoid(gate('o'))
                C = F * C + I * onp.tanh(gate('c'))
                Hprev = O * onp.tanh(C)
                watched += [(G < 0.05) | (G > 0.95) for G in (I, F, O)]
            Hs.append(Hprev)
        fractions.append(onp.mean(watched))
        inputs = onp.array(Hs)  # H^(l) feeds layer l + 1
    return fractions


def expected_figures(scratch):
    grads, weights = hand_gradients(scratch)
    layer = lambda name: int(name[5]) - 1 if name.startswith('layer') else L  # noqa: E731
    g2, w2 = onp.zeros(L + 1), onp.zeros(L + 1)
    for name in grads:
        g2[layer(name)] += (grads[name] ** 2).sum()
        w2[layer(name)] += (weights[name] ** 2).sum()
    norm = onp.sqrt(g2.sum())
    scale = min(1.0, CLIP / norm)
    return {'grad_norm': onp.sqrt(g2), 'clip_fraction': float(norm > CLIP),
            'update_ratio': LR * scale * onp.sqrt(g2) / onp.sqrt(w2)}


def one_step(net):
    batch = [(np.array(X), np.array(Y))]
    return train(net, batch, None, LR, 1, mx.cpu(), clip=CLIP, callbacks=[Diagnostics()])


@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
def test_recorded_figures_equal_the_hand_computation_for_both_models(cell):
    scratch = tiny_scratch(cell, scale={'rnn': 0.8, 'lstm': 2.0}[cell])
    fused = DeepRNN(V, H, L, cell)
    fused.initialize()
    copy_params(scratch, fused)
    expected = expected_figures(scratch)  # from the weights before the step
    assert expected['clip_fraction'] == 1.0  # the threshold is below this batch's norm
    histories = [one_step(net) for net in (scratch, fused)]
    expected['saturation'] = hand_saturation(scratch)  # from the weights after it
    assert 0 < min(expected['saturation'])  # some units do saturate
    for history in histories:
        assert history['diag_layers'] == ['layer 1', 'layer 2', 'output']
        for key in ('grad_norm', 'update_ratio', 'saturation'):
            onp.testing.assert_allclose(history[key][0], expected[key], rtol=2e-5)
        assert history['clip_fraction'] == [1.0]
    for key in ('grad_norm', 'update_ratio', 'saturation', 'clip_fraction'):
        onp.testing.assert_allclose(histories[0][key], histories[1][key], rtol=2e-5)


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_both_models_replay_the_same_weights_by_name(cell):
    """The saturation replay reads either model's weights by the section's names."""
    from d2l_deep_rnn.diagnostics import saturation, section_weights
    scratch = tiny_scratch(cell, scale=1.5)
    fused = DeepRNN(V, H, L, cell)
    fused.initialize()
    copy_params(scratch, fused)
    ws, wf = section_weights(scratch, mx.cpu()), section_weights(fused, mx.cpu())
    assert set(ws) == set(wf) == set(scratch.section_params())
    for name in ws:
        onp.testing.assert_allclose(ws[name].asnumpy(), wf[name].asnumpy(), rtol=1e-6,
                                    atol=1e-7, err_msg=name)
    assert saturation(scratch, np.array(X)) == saturation(fused, np.array(X))


def test_without_clipping_the_ratio_is_the_plain_sgd_step():
    scratch = tiny_scratch('rnn', scale=0.05)
    expected = expected_figures(scratch)  # scale 1: lr * ||g_l|| / ||w_l||
    assert expected['clip_fraction'] == 0.0  # small weights: this batch's norm is below 0.2
    history = one_step(scratch)
    assert history['clip_fraction'] == [0.0]
    assert history['saturation'] == [[0.0, 0.0]]  # and nothing saturates
    for key in ('grad_norm', 'update_ratio'):
        onp.testing.assert_allclose(history[key][0], expected[key], rtol=2e-5)


@pytest.mark.parametrize('Model', [DeepRNN, DeepRNNScratch])
def test_diagnostics_off_adds_nothing_and_on_changes_no_result(small_splits, Model):
    train_iter, val_iter, vocab = small_splits
    runs = {}
    for diagnostics in (False, True):
        net = Model(len(vocab), 16, 2, 'gru')
        history = train(net, train_iter, vocab, 1.0, 3, mx.cpu(), val_iter=val_iter, seed=5,
                        callbacks=[Diagnostics()] if diagnostics else [])
        runs[diagnostics] = history, [p.data().asnumpy() for p in
                                      net.collect_params().values()]
    (off, w_off), (on, w_on) = runs[False], runs[True]
    assert not set(KEYS) & set(off)
    assert set(KEYS) <= set(on) and len(on['grad_norm']) == 3 == len(on['saturation'])
    assert on['train_ppl'] == off['train_ppl'] and on['val_ppl'] == off['val_ppl']  # exact
    for a, b in zip(w_off, w_on):
        assert onp.array_equal(a, b)
    figures = summarize(on)
    assert figures['layers'] == ['layer 1', 'layer 2', 'output']
    assert len(figures['grad_norm']) == 3 and len(figures['saturation']) == 2
    assert 0 <= figures['clip_fraction'] <= 1


def test_plot_diagnostics_draws_four_panels(small_splits, tmp_path):
    train_iter, _, vocab = small_splits
    histories = {name: train(Model(len(vocab), 16, 2, 'rnn'), train_iter, vocab, 1.0, 2,
                             mx.cpu(), seed=1, callbacks=[Diagnostics()])
                 for name, Model in (('gluon', DeepRNN), ('scratch', DeepRNNScratch))}
    fig = plot_diagnostics(histories, tmp_path / 'diagnostics.png')
    assert len(fig.axes) == 4
    assert len(fig.axes[0].lines) == 2 * 3 and len(fig.axes[2].lines) == 2 * 2
    png = (tmp_path / 'diagnostics.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 20000


def test_the_ratio_is_the_step_at_the_rate_it_uses_after_a_decay():
    """`--lr-decay` sets the trainer's rate between epochs: the ratio follows it (it used to
    keep the initial rate, so a decayed run's figures were too large)."""
    scratch = tiny_scratch('rnn')
    expected = expected_figures(scratch)
    trainer = make_trainer(scratch, LR)
    monitor = Diagnostics()
    monitor.watch(scratch, CLIP, trainer)
    trainer.set_learning_rate(LR / 4)  # as DecayOnPlateau does
    with autograd.record():
        Y_hat, _ = scratch(np.array(X), scratch.begin_state(3))
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(Y_hat, np.array(Y).T.reshape(-1))
        (loss.sum() / Y.size).backward()
    monitor.on_after_backward()  # where train_epoch calls it: before the clipping
    onp.testing.assert_allclose(monitor.end_epoch()['update_ratio'],
                                expected['update_ratio'] / 4, rtol=2e-5)


def test_the_table_has_a_row_per_layer_then_the_clipping():
    """What the main job prints with --diagnostics and the two-layer notebook under its runs:
    the means over the run, the last epoch's saturation (hidden layers only)."""
    one = {'diag_layers': ['layer 1', 'output'], 'grad_norm': [[0.5, 1.0], [0.1, 0.3]],
           'update_ratio': [[0.01, 0.02], [0.03, 0.02]], 'clip_fraction': [1.0, 0.5],
           'saturation': [[0.1], [0.3]]}
    two = {'diag_layers': ['layer 1', 'layer 2', 'output'], 'grad_norm': [[0.2, 0.6, 1.0]],
           'update_ratio': [[0.001, 0.01, 0.02]], 'clip_fraction': [0.0],
           'saturation': [[0.0, 0.5]]}
    assert diagnostics_table({'1 layer': summarize(one), '2 layers': summarize(two)}) == [
        'model    layer     grad norm update/weight saturated',
        '1 layer  layer 1      0.3000      2.00e-02     30.0%',
        '1 layer  output       0.6500      2.00e-02',
        '1 layer  clipping fired on 75% of the steps',
        '2 layers layer 1      0.2000      1.00e-03      0.0%',
        '2 layers layer 2      0.6000      1.00e-02     50.0%',
        '2 layers output       1.0000      2.00e-02',
        '2 layers clipping fired on 0% of the steps',
    ]
