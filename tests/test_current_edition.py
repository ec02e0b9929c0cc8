"""The current edition's classes (d2l 1.0.3, the real package) trained by d2l's own
`Trainer.fit`: every array that should learn moves, and where a few epochs get there the
perplexity ends below the unigram level. The settings are the section's but for smaller
batches and more hidden units (batch 32 x 16 steps, 64 hiddens, lr 2, clip 1): at the
section's batch of 1024 a working stack needs about 40 epochs to leave the unigram plateau,
here 2."""
import os
import shutil

import mxnet as mx
import numpy as onp
import pytest
from d2l import mxnet as d2l
from mxnet import autograd

from d2l_deep_rnn import Config, DeepRNN, UsageError
from d2l_deep_rnn.current_edition import DeepRNNLM, StackedRNN, StackedRNNScratch, TimeMachine
from d2l_deep_rnn.data import CorpusError
from d2l_deep_rnn.factory import build_models, set_seed
from d2l_deep_rnn.notebook import fit, moved, named_arrays

BATCH, STEPS, HIDDENS, LR, EPOCHS = 32, 16, 64, 2, 4


@pytest.fixture(scope='module')
def data(data_dir):
    return TimeMachine(BATCH, STEPS, num_train=2048, num_val=1024, data_dir=data_dir)


def train(model, data, epochs=EPOCHS, device=None, seed=0):
    """d2l.Trainer(epochs, gradient_clip_val=1).fit, seeded (the loader shuffles with NumPy);
    `device` stands in for the GPU d2l would pick. Returns (history, arrays before, after)."""
    set_seed(seed)
    before = named_arrays(model)
    trainer = d2l.Trainer(max_epochs=epochs, gradient_clip_val=1, num_gpus=1)
    if device is not None:
        trainer.gpus = [device]
    history = fit(trainer, model, data)
    return history, before, named_arrays(model)


def scratch_stack(data, cls=StackedRNNScratch):
    set_seed(0)
    return d2l.RNNLMScratch(cls(len(data.vocab), HIDDENS, 2), vocab_size=len(data.vocab), lr=LR)


class ListHeldStack(StackedRNNScratch):
    """The book's MXNet StackedRNNScratch as it behaves: layers in a plain list that d2l's
    own `get_scratch_params` does not open."""
    get_scratch_params = d2l.Module.get_scratch_params


SCRATCH_NAMES = ['W_hq', 'b_q'] + [f'rnn.rnns[{i}].{w}' for i in (0, 1)
                                   for w in ('W_hh', 'W_xh', 'b_h')]


def test_list_held_stack_trains_only_its_output_layer(data):
    model = scratch_stack(data, ListHeldStack)
    assert len(model.parameters()) == 2  # W_hq and b_q: what the optimizer and clipping get
    history, before, after = train(model, data)
    changed, same = moved(before, after)
    assert sorted(before) == SCRATCH_NAMES
    assert changed == ['W_hq', 'b_q'] and len(same) == 6  # every layer bit for bit as drawn
    assert history['val_ppl'][-1] > 0.95 * data.unigram_perplexity()


@pytest.mark.parametrize('device', [None, mx.cpu(1)], ids=['default', 'cpu1'])
def test_stacked_rnn_scratch_trains_every_layer(data, device):
    model = scratch_stack(data)
    assert len(model.parameters()) == 8
    history, before, after = train(model, data, device=device)
    changed, same = moved(before, after)
    assert changed == SCRATCH_NAMES and not same
    assert history['val_ppl'][-1] < 0.8 * data.unigram_perplexity()
    if device is not None:  # every array, the layers' in the list too, lives on the device
        assert {a.ctx for a in model.get_scratch_params()} == {device}
        assert all(p.grad.ctx == device for p in model.get_scratch_params())


def test_stacked_rnn_scratch_carries_each_layers_state(data):
    """Hs in, Hs out: one (batch, h) state per layer, for any batch size (the edition's
    `RNNScratch` unpacks what it is given)."""
    rnn = StackedRNNScratch(5, 4, 3)
    inputs = mx.np.random.normal(size=(6, 2, 5))
    outputs, Hs = rnn(inputs)
    assert outputs.shape == (6, 2, 4) and [H.shape for H in Hs] == [(2, 4)] * 3
    whole, _ = rnn(inputs)
    first, Hs = rnn(inputs[:3])
    rest, _ = rnn(inputs[3:], Hs)  # carried on: the same as one pass
    assert onp.allclose(onp.concatenate([first.asnumpy(), rest.asnumpy()]), whole.asnumpy(),
                        atol=1e-6)


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_stacked_rnn_in_the_books_rnnlm(data, cell):
    set_seed(0)
    model = d2l.RNNLM(StackedRNN(HIDDENS, 2, cell), vocab_size=len(data.vocab), lr=LR)
    model(next(iter(data.train_dataloader()))[0])  # Gluon's deferred shapes: now known
    history, before, after = train(model, data)
    changed, same = moved(before, after)
    assert len(changed) == 2 * 4 + 2 and not same  # 2 layers' 2 weights, 2 biases; the output
    if cell != 'lstm':  # the LSTM stays on the plateau longer
        assert history['val_ppl'][-1] < 0.8 * data.unigram_perplexity()
    text = model.predict('it has', 20, data.vocab)  # the book's predict: the state goes round
    assert len(text) == 26 and text.startswith('it has')


def test_stacked_rnn_states(data):
    rnn = StackedRNN(4, 2, 'lstm')
    rnn.initialize()
    X = mx.np.random.normal(size=(5, 3, 7))
    outputs, (H, C) = rnn(X)
    assert outputs.shape == (5, 3, 4) and H.shape == C.shape == (2, 3, 4)
    again, _ = rnn(X, (H, C))  # the LSTM's two states go back in
    assert again.shape == (5, 3, 4)
    gru = StackedRNN(4, 2)
    gru.initialize()
    _, H = gru(X)
    assert H.shape == (2, 3, 4) and gru(X, H)[1].shape == (2, 3, 4)


def our_pair(data, cell='gru', seed=0):
    """DeepRNNLM of a DeepRNN and of a DeepRNNScratch with the same weights."""
    config = Config(cell=cell, num_hiddens=HIDDENS, num_layers=2, seed=seed)
    nets = build_models(config, len(data.vocab), mx.cpu())
    return {name: DeepRNNLM(net, lr=LR) for name, net in nets.items()}


def test_deep_rnnlm_keeps_set_weights_and_leaves_frozen_biases_out(data):
    models = our_pair(data)
    fused, scratch = models['gluon'].net, models['scratch'].net
    weights = named_arrays(models['gluon'])
    assert all((weights[name] == a).all() for name, a in
               named_arrays(DeepRNNLM(fused, lr=LR)).items())  # not drawn again
    frozen = {name for name in named_arrays(models['gluon']) if name.endswith('h2h_bias')}
    assert len(frozen) == 2 and not frozen & set(models['gluon'].parameters())
    assert not any(name.endswith('b_hh') for name in models['scratch'].parameters())
    assert len(models['gluon'].parameters()) == 6 + 2 and \
        len(models['scratch'].parameters()) == 2 * 9 + 2
    fresh = DeepRNNLM(DeepRNN(len(data.vocab), 8, 2), lr=1)  # not initialized: drawn
    assert all(a.std() < 0.02 for a in named_arrays(fresh).values())
    assert scratch.num_hiddens == fused.num_hiddens == HIDDENS


def clip_norm(model, X, Y):
    """The norm d2l's clip_gradients takes, over `model.parameters()`."""
    with autograd.record():
        loss = model.loss(model(X), Y)
    loss.backward()
    return float(sum((p.data().grad ** 2).sum() for p in model.parameters().values()) ** 0.5)


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_d2l_clipping_norm_is_the_same_in_both_models(data, cell):
    models = our_pair(data, cell)
    X, Y = next(iter(data.train_dataloader()))
    norms = {name: clip_norm(model, X, Y) for name, model in models.items()}
    assert norms['gluon'] == pytest.approx(norms['scratch'], rel=1e-5)
    with_frozen = float(sum((p.data().grad ** 2).sum()
                            for p in models['gluon'].collect_params().values()) ** 0.5)
    assert with_frozen > norms['gluon']  # what d2l would take with our frozen biases in


def test_our_models_follow_one_curve_in_d2l_trainer(data):
    models = our_pair(data, 'rnn')
    histories = {name: train(model, data)[0] for name, model in models.items()}
    for key in ('train_ppl', 'val_ppl'):  # float rounding grows as lr 2 takes big steps
        gluon, scratch = histories['gluon'][key], histories['scratch'][key]
        onp.testing.assert_allclose(gluon[:2], scratch[:2], rtol=1e-6)
        onp.testing.assert_allclose(gluon, scratch, rtol=1e-3)
    assert histories['gluon']['val_ppl'][-1] < 0.8 * data.unigram_perplexity()
    text = models['gluon'].predict('it has', 20, data.vocab)
    assert len(text) == 26 and text.startswith('it has')


@pytest.mark.parametrize('name', ['gluon', 'scratch'])
def test_deep_rnnlm_on_a_device_without_the_default_context(data, name, on_devices):
    model = our_pair(data, 'lstm')[name]
    history, before, after = train(model, data, epochs=1, device=mx.cpu(1))
    changed, same = moved(before, after)
    assert all(n.endswith(('h2h_bias', 'b_hh')) for n in same) and changed
    on_devices(model.net, mx.cpu(1))


def test_progress_board_draws(data, capsys):
    """d2l's ProgressBoard as the book runs it (drawn after every point), under Agg: it
    runs on every Python we support (d2l 1.0.3 is installed without its pins on 3.12+)."""
    model = d2l.RNNLM(StackedRNN(8, 2), vocab_size=len(data.vocab), lr=LR)
    d2l.Trainer(max_epochs=1, gradient_clip_val=1).fit(model, data)
    assert len(model.board.data['train_ppl']) == 2 and len(model.board.data['val_ppl']) == 1
    assert model.board.fig is not None


def test_same_windows_as_d2l_time_machine(data_dir, corpus_path, tmp_path, monkeypatch):
    """d2l.TimeMachine reads ../data (the checked copy there: no download): the same
    vocabulary, windows and validation batches as ours."""
    (tmp_path / 'data').mkdir()
    (tmp_path / 'work').mkdir()
    shutil.copy(corpus_path, tmp_path / 'data' / 'timemachine.txt')
    monkeypatch.chdir(tmp_path / 'work')
    theirs = d2l.TimeMachine(batch_size=64, num_steps=10, num_train=1000, num_val=500)
    ours = TimeMachine(batch_size=64, num_steps=10, num_train=1000, num_val=500,
                       data_dir=data_dir)
    assert ours.vocab.idx_to_token == theirs.vocab.idx_to_token and len(ours.vocab) == 28
    assert (ours.X == theirs.X).all() and (ours.Y == theirs.Y).all()
    for a, b in zip(ours.val_dataloader(), theirs.val_dataloader()):
        assert all((x == y).all() for x, y in zip(a, b))
    assert len(ours.train_dataloader()) == len(theirs.train_dataloader()) == 16


def test_time_machine_refuses(tmp_path, data_dir):
    with pytest.raises(CorpusError, match='no such folder'):
        TimeMachine(32, 16, data_dir=str(tmp_path / 'missing'))
    with pytest.raises(UsageError, match='num_train \\+ num_val = 200000 exceeds'):
        TimeMachine(32, 16, num_train=150000, num_val=50000, data_dir=data_dir)
    with pytest.raises(UsageError, match='batch_size'):
        TimeMachine(0, 16, data_dir=data_dir)


def test_classes_refuse_bad_settings():
    with pytest.raises(UsageError, match="cell"):
        StackedRNN(32, 2, cell='transformer')
    with pytest.raises(UsageError, match='num_layers'):
        StackedRNNScratch(28, 32, 0)
    for huge in (lambda: StackedRNNScratch(10 ** 12, 32, 2), lambda: StackedRNN(10 ** 6, 2)):
        with pytest.raises(UsageError, match="over MXNet's limit of 2.31 - 1 per array"):
            huge()
    with pytest.raises(UsageError, match='more than the .* GiB of memory free here'):
        StackedRNNScratch(28, 10000, 100)
    with pytest.raises(UsageError, match='sigma'):
        StackedRNNScratch(28, 32, 2, sigma=-1)
    with pytest.raises(UsageError, match='DeepRNN or a DeepRNNScratch, got StackedRNN'):
        DeepRNNLM(StackedRNN(32, 2), lr=2)
    with pytest.raises(UsageError, match='lr must be a positive number'):
        DeepRNNLM(DeepRNN(28, 8, 2), lr=0)


def test_importable_from_the_package():
    import d2l_deep_rnn
    assert {'StackedRNNScratch', 'StackedRNN', 'DeepRNNLM', 'TimeMachine'} <= \
        set(d2l_deep_rnn.__all__)
    assert os.path.basename(d2l.__file__) == 'mxnet.py'
