import json
import re
import subprocess
import sys

import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, np

from d2l_deep_rnn.params import is_frozen
from d2l_deep_rnn import DeepRNN, DeepRNNScratch, copy_params
from d2l_deep_rnn.cells import GATES
from d2l_deep_rnn.convert import scratch_view
from d2l_deep_rnn.factory import ensure_initialized
from d2l_deep_rnn.training import make_trainer, train_epoch

V, H, BATCH, STEPS = 28, 16, 3, 5


def make_pair(cell, num_layers, direction, activation='tanh', fast=False, **dropouts):
    """A DeepRNN and a DeepRNNScratch with random weights (biases included) copied across;
    `dropouts`: dropout, output_dropout, weight_dropout for both."""
    mx.random.seed(7)
    fused = DeepRNN(V, H, num_layers, cell, activation, **dropouts)
    scratch = DeepRNNScratch(V, H, num_layers, cell, activation, fast=fast, **dropouts)
    src, dst = (fused, scratch) if direction == 'to_scratch' else (scratch, fused)
    for net in (fused, scratch):
        net.initialize(mx.init.Normal(0.01))
    for p in src.collect_params().values():  # large, nonzero values everywhere, frozen too
        p.set_data(np.random.normal(0, 0.4, p.shape))
    copy_params(src, dst)
    return fused, scratch


def run(net, X, state):
    """Logits, final state and the loss gradients of one forward/backward pass."""
    with autograd.record():
        Y, new_state = net(X, state)
        loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()(Y, X.T.reshape(-1)).mean()
    loss.backward()
    return Y, new_state


def rel_err(a, b):
    a, b = a.asnumpy(), b.asnumpy()
    return float(onp.abs(a - b).max() / max(onp.abs(b).max(), 1e-3))


def inputs(net):
    rng = onp.random.RandomState(0)
    X = np.array(rng.randint(0, V, (BATCH, STEPS)), dtype='int32')
    state = [s + np.array(rng.normal(0, 0.5, s.shape), dtype='float32')
             for s in net.begin_state(BATCH)]
    return X, state


@pytest.mark.parametrize('fast', [False, True], ids=['steps', 'fast'])
@pytest.mark.parametrize('direction', ['to_scratch', 'to_fused'])
@pytest.mark.parametrize('num_layers', [1, 2, 3, 4])
@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_scratch_agrees_with_fused_after_copy(cell, num_layers, direction, fast):
    fused, scratch = make_pair(cell, num_layers, direction, fast=fast)
    X, state = inputs(fused)
    Y_f, state_f = run(fused, X, state)
    Y_s, state_s = run(scratch, X, state)
    assert Y_f.shape == Y_s.shape == (STEPS * BATCH, V)
    assert rel_err(Y_s, Y_f) < 1e-5
    for s, f in zip(state_s, state_f):
        assert s.shape == (num_layers, BATCH, H) and rel_err(s, f) < 1e-5
    expected = scratch_view(fused, grad=True)
    params = {n: p for n, p in scratch.section_params().items() if not is_frozen(p)}
    assert set(params) <= set(expected) and len(params) == len(expected)
    for name, p in params.items():
        assert rel_err(p.grad(), expected[name]) < 1e-5, name


@pytest.mark.parametrize('fast', [False, True], ids=['steps', 'fast'])
@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_hybridized_equals_imperative(cell, fast):
    fused, scratch = make_pair(cell, 2, 'to_scratch', fast=fast)
    X, state = inputs(fused)
    for net in (fused, scratch):
        Y0, s0 = net(X, state)
        net.hybridize()
        Y1, s1 = net(X, state)
        Y2, s2 = run(net, X, state)
        assert rel_err(Y1, Y0) < 1e-6 and rel_err(Y2, Y0) < 1e-6
        for a, b in zip(s1, s0):
            assert rel_err(a, b) < 1e-6
    # and the hybridized models still agree with each other, gradients included
    Y_f, _ = run(fused, X, state)
    Y_s, _ = run(scratch, X, state)
    assert rel_err(Y_s, Y_f) < 1e-5
    expected = scratch_view(fused, grad=True)
    for name, p in scratch.section_params().items():
        if not is_frozen(p):
            assert rel_err(p.grad(), expected[name]) < 1e-5, name


@pytest.mark.parametrize('fast', [False, True], ids=['steps', 'fast'])
@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_gradient_through_an_attached_initial_state_agrees(cell, fast):
    """`DeepRNNScratch` cuts a carried-over state from its old graph, but a state given
    `attach_grad()` keeps its gradient, the fused kernel's."""
    fused, scratch = make_pair(cell, 2, 'to_scratch', fast=fast)
    X, state = inputs(fused)
    grads = []
    for net in (fused, scratch):
        start = [s.copy() for s in state]
        for s in start:
            s.attach_grad()
        run(net, X, start)
        grads.append([s.grad for s in start])
    for s, f in zip(*reversed(grads)):
        assert float(np.abs(f).max()) > 0 and rel_err(s, f) < 1e-5


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_fast_schedule_agrees_for_every_sequence_length(cell, hybridize):
    """One graph per sequence length, one step included (as `predict` feeds characters)."""
    fused, scratch = make_pair(cell, 2, 'to_scratch', fast=True)
    if hybridize:
        scratch.hybridize()
    for steps in (1, 2, 7, 1):
        X = np.array(onp.random.RandomState(steps).randint(0, V, (BATCH, steps)), dtype='int32')
        state = inputs(fused)[1]
        Y_f, state_f = run(fused, X, state)
        Y_s, state_s = run(scratch, X, state)
        assert Y_s.shape == (steps * BATCH, V) and rel_err(Y_s, Y_f) < 1e-5
        for s, f in zip(state_s, state_f):
            assert rel_err(s, f) < 1e-5
        expected = scratch_view(fused, grad=True)
        for name, p in scratch.section_params().items():
            if not is_frozen(p):
                assert rel_err(p.grad(), expected[name]) < 1e-5, (steps, name)
    assert sorted(scratch._schedule.graphs) == ([1, 2, 7] if hybridize else [])


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_fast_schedule_takes_the_weights_by_name(cell):
    """`layer_by_layer` reads a dict by the section's names: their order does not matter,
    and a missing weight is named."""
    from d2l_deep_rnn.fast_scratch import layer_by_layer
    _, scratch = make_pair(cell, 3, 'to_scratch', fast=True)
    X, state = inputs(scratch)
    params = scratch.section_params()  # the names `convert` uses too
    weights = {name: p.data() for name, p in reversed(list(params.items()))}
    Y, new_state = layer_by_layer(mx.nd, X, state, weights, STEPS, **scratch.settings())
    Y_net, state_net = scratch(X, state)
    assert rel_err(Y, Y_net) == 0 and all(rel_err(a, b) == 0 for a, b in zip(new_state, state_net))
    del weights['layer2_W_hh' if cell != 'lstm' else 'layer2_W_hc']
    with pytest.raises(KeyError, match='layer2_W_h'):
        layer_by_layer(mx.nd, X, state, weights, STEPS, **scratch.settings())


@pytest.mark.parametrize('fast', [False, True], ids=['steps', 'fast'])
def test_relu_activation_is_passed_to_the_fused_layer(fast):
    fused, scratch = make_pair('rnn', 2, 'to_scratch', activation='relu', fast=fast)
    assert fused.rnn._mode == 'rnn_relu'
    X, state = inputs(fused)
    assert rel_err(scratch(X, state)[0], fused(X, state)[0]) < 1e-5
    assert DeepRNN(V, H, 2, 'rnn').rnn._mode == 'rnn_tanh'  # tanh unless asked: the section's phi


@pytest.mark.parametrize('cell, num_states', [('rnn', 1), ('gru', 1), ('lstm', 2)])
def test_begin_state_shapes(cell, num_states):
    for net in (DeepRNN(V, H, 3, cell), DeepRNNScratch(V, H, 3, cell)):
        state = net.begin_state(batch_size=5, ctx=mx.cpu())
        assert len(state) == num_states
        assert all(s.shape == (3, 5, H) and float(np.abs(s).sum()) == 0 for s in state)


@pytest.mark.parametrize('hybridize', [False, True])
def test_without_a_state_both_models_start_from_zeros(hybridize):
    """`net(X)`, as d2l 1.0.3's models are called, is `net(X, net.begin_state(...))`."""
    for net in (DeepRNN(V, H, 2, 'lstm'), DeepRNNScratch(V, H, 2, 'lstm')):
        net.initialize(mx.init.Normal(0.1))
        net.hybridize(hybridize)
        X = np.array(onp.random.RandomState(0).randint(0, V, (BATCH, STEPS)), dtype='int32')
        (Y, state), (Y0, state0) = net(X), net(X, net.begin_state(BATCH, ctx=mx.cpu()))
        assert float(np.abs(Y - Y0).max()) == 0 and Y.shape == (STEPS * BATCH, V)
        assert all(float(np.abs(s - s0).max()) == 0 for s, s0 in zip(state, state0))


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_section_parameters_and_shapes(cell):
    L, g = 3, len(GATES[cell])
    scratch = DeepRNNScratch(V, H, L, cell)
    params = scratch.section_params()
    extra = 1 if cell == 'gru' else 0  # the GRU's frozen b_hh
    assert len(params) == L * (3 * g + extra) + 2
    letter = {'rnn': 'h', 'gru': 'z', 'lstm': 'i'}[cell]
    assert params[f'layer1_W_x{letter}'].shape == (V, H)  # W_xh^(1) is d x h
    assert params[f'layer2_W_x{letter}'].shape == (H, H)  # W_xh^(l) is h x h for l > 1
    assert params[f'layer3_W_h{letter}'].shape == (H, H)
    assert params[f'layer3_b_{letter}'].shape == (H,)
    assert params['W_hq'].shape == (H, V) and params['b_q'].shape == (V,)
    # the same number of trainable values as the fused layer (which has a frozen h2h_bias)
    trainable = lambda net: sum(int(onp.prod(p.shape)) for p in net.collect_params().values()
                                if not is_frozen(p))
    assert trainable(scratch) == trainable(DeepRNN(V, H, L, cell))
    assert trainable(scratch) == g * (V * H + H * H + H) + (L - 1) * g * (2 * H * H + H) \
        + H * V + V


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
@pytest.mark.parametrize('Model', [DeepRNN, DeepRNNScratch,
                                   lambda *a: DeepRNNScratch(*a, fast=False)],
                         ids=['DeepRNN', 'DeepRNNScratch-fast', 'DeepRNNScratch-steps'])
def test_every_layer_trains(Model, cell):
    """The d2l 1.0.3 StackedRNNScratch bug (layers in a plain list, never updated) is impossible:
    every trainable parameter of every layer changes in one training step."""
    from d2l_deep_rnn.data import SeqDataLoader
    net = Model(V, H, 3, cell)
    ensure_initialized(net, mx.cpu())
    for p in net.collect_params().values():  # weights large enough for every gradient to show
        if not is_frozen(p):
            p.set_data(np.random.normal(0, 0.3, p.shape))
    before = {n: p.data().copy() for n, p in net.collect_params().items()}
    loader = SeqDataLoader(list(onp.random.RandomState(0).randint(0, V, 400)), 4, 6)
    trainer = make_trainer(net, 1.0)
    train_epoch(net, loader, mx.gluon.loss.SoftmaxCrossEntropyLoss(), trainer, mx.cpu(), False)
    params = dict(net.collect_params().items())
    assert len(params) >= 3 * 3 + 2  # three layers and the output layer
    for name, p in params.items():
        changed = float(np.abs(p.data() - before[name]).max()) > 0
        assert changed == (not is_frozen(p)), name


@pytest.mark.parametrize('Model', [DeepRNN, DeepRNNScratch])
@pytest.mark.parametrize('kwargs, words', [
    (dict(num_layers=0), 'num_layers must be a positive integer'),
    (dict(num_hiddens=-3), 'num_hiddens must be a positive integer'),
    (dict(vocab_size=1.5), 'vocab_size must be a positive integer'),
    (dict(cell='transformer'), 'cell must be one of rnn, gru, lstm'),
    (dict(activation='sigmoid'), 'activation must be one of tanh, relu'),
    (dict(cell='lstm', activation='relu'), "activation='relu' applies only to cell='rnn'"),
])
def test_invalid_arguments_raise_value_error_naming_them(Model, kwargs, words):
    args = dict(vocab_size=V, num_hiddens=H, num_layers=2, cell='rnn')
    args.update(kwargs)
    with pytest.raises(ValueError, match=words):
        Model(**args)


@pytest.mark.parametrize('direction', ['to_scratch', 'to_fused'])
@pytest.mark.parametrize('cell', ['gru', 'lstm'])
def test_copy_params_off_the_default_context(cell, direction, devices, on_devices):
    """Both models on cpu(1), or on [cpu(1), cpu(2)] (no cpu(0): as on GPUs): copy_params
    reads and writes there, and on each device the two compute what they do on cpu(0)."""
    fused0, scratch0 = make_pair(cell, 2, direction, fast=True)  # the reference, on cpu(0)
    fused, scratch = DeepRNN(V, H, 2, cell), DeepRNNScratch(V, H, 2, cell)
    for net in (fused, scratch):
        net.initialize(ctx=devices)
    (src0, src, dst) = (fused0, fused, scratch) if direction == 'to_scratch' else \
        (scratch0, scratch, fused)
    for p, q in zip(src0.collect_params().values(), src.collect_params().values()):
        q.set_data(p.data())
    copy_params(src, dst)
    X, state = inputs(fused0)
    Y0, state0 = run(fused0, X, state)
    for c in (devices if isinstance(devices, list) else [devices]):
        for net in (fused, scratch):
            Y, new_state = run(net, X.as_in_ctx(c), [s.as_in_ctx(c) for s in state])
            assert Y.ctx == c and rel_err(Y, Y0) < 1e-5
            assert all(s.ctx == c and rel_err(s, s0) < 1e-5 for s, s0 in zip(new_state, state0))
    expected = scratch_view(fused, grad=True)  # each device ran the same batch
    for name, p in scratch.section_params().items():
        assert is_frozen(p) or all(rel_err(g, expected[name]) < 1e-5 for g in p.list_grad())
    on_devices(fused, devices)
    on_devices(scratch, devices)


def test_invalid_dropout_and_mismatched_copy():
    for Model in (DeepRNN, DeepRNNScratch):
        for p in (1.0, -0.1, '0.5'):
            with pytest.raises(ValueError, match=r'dropout must be a number in \[0, 1\), got'):
                Model(V, H, 2, dropout=p)
    a, b = DeepRNN(V, H, 2, 'gru'), DeepRNNScratch(V, H, 3, 'gru')
    with pytest.raises(ValueError, match=r'num_layers differs \(2 vs 3\)'):
        copy_params(a, b)
    with pytest.raises(ValueError, match='cell differs'):
        copy_params(a, DeepRNNScratch(V, H, 2, 'lstm'))
    with pytest.raises(ValueError, match='DeepRNN -> DeepRNNScratch or back'):
        copy_params(a, DeepRNN(V, H, 2, 'gru'))


# The book's own loop: d2l 0.17.6's train_ch8 (with its train_epoch_ch8 and predict_ch8),
# from the registry, in a process of its own where it cannot meet the package's d2l 1.0.3.

BOOK_EPOCHS = 3
BOOK_LOOP = f"""
import contextlib, importlib.util, io, json, sys
import d2l_deep_rnn  # first, as everywhere: MXNet's thread settings and npx.set_np()
import mxnet as mx
from mxnet import np
from d2l_deep_rnn import DeepRNN, DeepRNNScratch, load_data_time_machine
from d2l_deep_rnn.factory import set_seed
from d2l_deep_rnn.params import is_frozen

path, data_dir, runs = sys.argv[1], sys.argv[2] or None, json.loads(sys.argv[3])
spec = importlib.util.spec_from_file_location('d2l_book', path)  # not `d2l`: that is 1.0.3
book = sys.modules['d2l_book'] = importlib.util.module_from_spec(spec)  # it finds itself there
spec.loader.exec_module(book)
train_iter, vocab = load_data_time_machine(8, 10, max_tokens=1000, data_dir=data_dir)
results = {{}}
for key, (model, cell, num_layers, fast) in runs.items():
    set_seed(0)
    net = DeepRNN(len(vocab), 32, num_layers, cell) if model == 'DeepRNN' else \\
        DeepRNNScratch(len(vocab), 32, num_layers, cell, fast=fast)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):  # the book's net, train_iter, vocab, lr, ...
            book.train_ch8(net, train_iter, vocab, 2.0, {BOOK_EPOCHS}, mx.cpu())
    except Exception as error:
        results[key] = {{'error': type(error).__name__ + ': ' + str(error).strip()[-300:]}}
        continue
    frozen = [p for p in net.collect_params().values() if is_frozen(p)]
    results[key] = {{'error': None, 'printed': printed.getvalue().splitlines(),
                    'frozen': len(frozen),
                    'frozen_values': [float(np.abs(p.data()).max()) for p in frozen],
                    'frozen_grads': [float(np.abs(p.grad()).sum()) for p in frozen]}}
print(json.dumps(results))
"""
BOOK_RUNS = {f'{model}-{cell}-{num_layers}': (model, cell, num_layers, fast)
             for cell in ('rnn', 'gru', 'lstm') for num_layers in (1, 2, 3)
             for model, fast in (('DeepRNN', None), ('steps', False), ('fast', True))}


@pytest.fixture(scope='module')
def book_runs(book_d2l, data_dir):
    """Every model, cell and depth trained by the book's train_ch8: key -> what it printed."""
    done = subprocess.run([sys.executable, '-c', BOOK_LOOP, book_d2l, data_dir or '',
                           json.dumps(BOOK_RUNS)], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('num_layers', [1, 2, 3])
@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
@pytest.mark.parametrize('model', ['DeepRNN', 'steps', 'fast'],
                         ids=['DeepRNN', 'DeepRNNScratch-steps', 'DeepRNNScratch-fast'])
def test_the_books_own_train_ch8_trains_both_models(book_runs, model, cell, num_layers):
    """d2l 0.17.6's train_ch8 passes each batch a state whose graph the last backward freed
    (its `s.detach()` is discarded) and calls predict_ch8: every model runs there unchanged
    and learns; the frozen biases get a gradient but stay exactly zero; both schedules of
    `DeepRNNScratch` (the same initial weights) train along the same curve."""
    run = book_runs[f'{model}-{cell}-{num_layers}']
    assert run['error'] is None, run['error']
    ppl_line, after_time_traveller, after_traveller = run['printed'][-3:]
    ppl = float(re.fullmatch(r'perplexity (\d+\.\d), [\d.]+ tokens/sec on cpu\(0\)',
                             ppl_line).group(1))
    assert ppl < 19  # measured 17.6 to 18.2, the unigram level; untrained 28 (uniform)
    assert after_time_traveller.startswith('time traveller') and len(after_time_traveller) == 64
    assert after_traveller.startswith('traveller') and len(after_traveller) == 59
    assert run['frozen'] == (num_layers if model == 'DeepRNN' or cell == 'gru' else 0)
    assert run['frozen_values'] == [0.0] * run['frozen'] and all(run['frozen_grads'])
    if model == 'fast':
        steps = book_runs[f'steps-{cell}-{num_layers}']['printed'][-3]
        assert abs(float(steps.split()[1].rstrip(',')) - ppl) <= 0.1


def test_fused_packed_size_is_what_mxnet_allocates():
    """`largest_array(fused=True)` counts exactly the fused kernel's packed parameters."""
    from d2l_deep_rnn.cells import largest_array, num_params
    for cell in ('rnn', 'gru', 'lstm'):
        net = DeepRNN(V, H, 3, cell)
        rnn_sizes = sum(int(onp.prod(p.shape)) for p in net.rnn.collect_params().values())
        assert largest_array(V, H, 3, cell, fused=True) == rnn_sizes
        trainable = sum(int(onp.prod(p.shape)) for p in net.collect_params().values()
                        if not is_frozen(p))
        assert num_params(V, H, 3, cell) == trainable


@pytest.mark.parametrize('Model', [DeepRNN, DeepRNNScratch])
def test_a_model_larger_than_free_memory_is_refused(Model, monkeypatch):
    from d2l_deep_rnn import cells
    from d2l_deep_rnn.config import UsageError
    monkeypatch.setattr(cells, 'available_memory', lambda: 2 ** 30)  # 1 GiB free
    Model(28, 2048, 2, 'lstm')  # 50,634,780 parameters: 0.6 GiB
    with pytest.raises(UsageError, match=r'^num_hiddens=4096, num_layers=2 \(lstm\) has '
                       r'201,932,828 parameters: their weights, gradients and update need '
                       r'2\.3 GiB, more than the 1\.0 GiB of memory free here; use a smaller '
                       r'num_hiddens or num_layers \(--num-hiddens, --num-layers\)$'):
        Model(28, 4096, 2, 'lstm')


# Dropout between layers (d2l_deep_rnn/dropout.py): placement, training mode only, and the
# CPU kernel that ignores it.

def training_pass(net, X, state):
    with autograd.record():  # training mode: dropout active
        return net(X, state)[0]


def dropping_models(cell, num_layers, **dropouts):
    """A model without dropout, and the same weights in three models with `dropouts`:
    DeepRNN, DeepRNNScratch fast and step by step."""
    plain, _ = make_pair(cell, num_layers, 'to_scratch')
    fused, scratch = make_pair(cell, num_layers, 'to_scratch', fast=True, **dropouts)
    step_by_step = DeepRNNScratch(V, H, num_layers, cell, fast=False, **dropouts)
    step_by_step.initialize()
    copy_params(fused, step_by_step)
    return plain, (fused, scratch, step_by_step)


@pytest.mark.parametrize('hybrid', [False, True], ids=['imperative', 'hybridized'])
@pytest.mark.parametrize('num_layers', [1, 2, 3])
@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
@pytest.mark.parametrize('kind', ['dropout', 'weight_dropout'])
def test_dropout_and_weight_dropout_act_in_training_only(kind, cell, num_layers, hybrid):
    """Dropout between layers: L = 1 has nothing to drop, even in training; L >= 2, two
    training passes differ. Weight dropout (on W_hh): every depth has recurrent weights, so
    two training passes differ. In DeepRNN on this CPU too; outside training both models
    compute what they compute without dropout (the same weights)."""
    plain, nets = dropping_models(cell, num_layers, **{kind: 0.5})
    X, state = inputs(plain)
    reference = plain(X, state)[0]
    for net in nets:
        if hybrid:
            net.hybridize()
        assert rel_err(net(X, state)[0], reference) < 1e-5  # predict mode: no dropout
        first, second = training_pass(net, X, state), training_pass(net, X, state)
        if kind == 'dropout' and num_layers == 1:
            assert rel_err(first, reference) < 1e-5 and rel_err(second, reference) < 1e-5
        else:
            assert rel_err(first, second) > 1e-2, type(net).__name__


def test_mxnets_own_fused_layer_ignores_dropout_on_this_cpu():
    """Why DeepRNN runs its layers one by one with dropout: MXNet 1.9.1's oneDNN kernel
    ignores the fused layer's dropout argument (two training passes are identical)."""
    layer = mx.gluon.rnn.LSTM(H, 2, dropout=0.5, input_size=V)
    layer.initialize(mx.init.Normal(0.4))
    X = np.random.normal(0, 1, (STEPS, BATCH, V))
    with autograd.record():
        first, second = layer(X), layer(X)
    assert rel_err(first, second) == 0


def fixed_mask(calls):
    """A stand-in for `dropout.between_layers` with a mask fixed by each entry's position
    in memory (time-major, so the fused (T, n, h) and the fast schedule's (T*n, h) layouts
    agree): every third entry dropped, the others scaled by 1/(1-p); records its calls."""
    def between_layers(F, Hs, p):
        calls.append((Hs.shape, p))
        keep = (onp.arange(Hs.size) % 3 != 0).reshape(Hs.shape) / (1 - p)
        return Hs * np.array(keep, dtype='float32', ctx=Hs.ctx)
    return between_layers


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_dropout_with_a_fixed_mask_falls_between_layers_alike_in_both_models(cell, monkeypatch):
    """With the same fixed mask, DeepRNN (a fused kernel per layer) and DeepRNNScratch (the
    section's equations) compute the same logits, states and gradients: the mask falls on
    the same entries, each layer's output on its way up; called L-1 times per pass, on
    (num_steps, batch_size, h) outputs, never on the top layer or the states."""
    from d2l_deep_rnn import dropout
    calls = []
    monkeypatch.setattr(dropout, 'between_layers', fixed_mask(calls))
    plain, _ = make_pair(cell, 3, 'to_scratch')
    fused, scratch = make_pair(cell, 3, 'to_scratch', fast=True, dropout=0.25)
    X, state = inputs(fused)
    Y_f, state_f = run(fused, X, state)
    assert calls == [((STEPS, BATCH, H), 0.25)] * 2
    calls.clear()
    Y_s, state_s = run(scratch, X, state)
    assert calls == [((STEPS * BATCH, H), 0.25)] * 2
    assert rel_err(Y_f, plain(X, state)[0]) > 1e-2
    assert_same_pass(fused, (Y_f, state_f), scratch, (Y_s, state_s))


def assert_same_pass(fused, fused_out, scratch, scratch_out):
    """The two models' passes (`run`) agree in logits, states and gradients within 1e-5."""
    (Y_f, state_f), (Y_s, state_s) = fused_out, scratch_out
    assert rel_err(Y_s, Y_f) < 1e-5
    for s, f in zip(state_s, state_f):
        assert rel_err(s, f) < 1e-5
    expected = scratch_view(fused, grad=True)
    for name, p in scratch.section_params().items():
        if not is_frozen(p):
            assert rel_err(p.grad(), expected[name]) < 1e-5, name


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_no_dropout_is_mxnets_fused_layer_bit_for_bit(cell):
    """dropout=0 (the default) runs MXNet's fused layer itself: the same logits and
    gradients, bit for bit, as rnn.RNN/GRU/LSTM with the same weights."""
    from d2l_deep_rnn.gluon_model import FUSED_LAYERS
    net = DeepRNN(V, H, 2, cell)
    net.initialize(mx.init.Normal(0.4))
    theirs = FUSED_LAYERS[cell](H, 2, input_size=V, prefix=net.rnn.prefix,
                                **({'activation': 'tanh'} if cell == 'rnn' else {}))
    theirs.initialize()
    for name, p in net.rnn.collect_params().items():
        theirs.collect_params()[name].set_data(p.data())
    X = np.random.normal(0, 1, (STEPS, BATCH, V))
    state = net.begin_state(BATCH)
    outputs = []
    for layer in (net.rnn, theirs):
        with autograd.record():
            Y, _ = layer(X, state)
            (Y * Y).sum().backward()
        outputs.append([Y] + [p.grad() for p in layer.collect_params().values()])
    for ours, plain in zip(*outputs):
        assert (ours == plain).all()


# Dropout on the top layer's output, before the output layer (`output_dropout`).

@pytest.mark.parametrize('hybrid', [False, True], ids=['imperative', 'hybridized'])
@pytest.mark.parametrize('num_layers', [1, 2])
@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
def test_output_dropout_acts_in_training_only_at_every_depth(cell, num_layers, hybrid):
    """One layer too has a top layer to drop from: two training passes differ; outside
    training both models compute what they compute without it."""
    plain, nets = dropping_models(cell, num_layers, output_dropout=0.5)
    X, state = inputs(plain)
    reference, reference_state = plain(X, state)
    for net in nets:
        if hybrid:
            net.hybridize()
        assert rel_err(net(X, state)[0], reference) < 1e-5  # predict mode: no dropout
        with autograd.record():
            (first, first_state), second = net(X, state), net(X, state)[0]
        assert rel_err(first, second) > 1e-2, type(net).__name__
        for s, r in zip(first_state, reference_state):  # the states are never dropped
            assert rel_err(s, r) < 1e-5


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_output_dropout_with_a_fixed_mask_falls_before_the_output_layer_alike(cell,
                                                                              monkeypatch):
    """With a fixed mask, both models drop the same entries of H_t^(L), once per pass, on
    (num_steps, batch_size, h) or (num_steps * batch_size, h), and agree in logits, states
    and gradients; between layers nothing is dropped."""
    from d2l_deep_rnn import dropout
    calls, between = [], []
    monkeypatch.setattr(dropout, 'before_output', fixed_mask(calls))
    monkeypatch.setattr(dropout, 'between_layers', fixed_mask(between))
    plain, _ = make_pair(cell, 2, 'to_scratch')
    fused, scratch = make_pair(cell, 2, 'to_scratch', fast=True, output_dropout=0.25)
    X, state = inputs(fused)
    Y_f, state_f = run(fused, X, state)
    assert calls == [((STEPS, BATCH, H), 0.25)]
    calls.clear()
    Y_s, state_s = run(scratch, X, state)
    assert calls == [((STEPS * BATCH, H), 0.25)] and between == []
    assert rel_err(Y_f, plain(X, state)[0]) > 1e-2
    assert_same_pass(fused, (Y_f, state_f), scratch, (Y_s, state_s))


def test_output_and_weight_dropout_zero_are_the_model_without_them_bit_for_bit():
    """output_dropout=0 and weight_dropout=0 (the defaults) add no operator: logits and
    gradients are exactly those of the model without the arguments."""
    results = []
    for kwargs in ({}, {'output_dropout': 0.0, 'weight_dropout': 0.0}):
        mx.random.seed(3)
        net = DeepRNN(V, H, 2, 'lstm', **kwargs)
        net.initialize(mx.init.Normal(0.4))
        X, state = inputs(net)
        Y, _ = run(net, X, state)
        results.append([Y] + [p.grad() for p in net.collect_params().values()])
    for a, b in zip(*results):
        assert (a == b).all()


@pytest.mark.parametrize('name', ['output_dropout', 'weight_dropout'])
@pytest.mark.parametrize('Model', [DeepRNN, DeepRNNScratch])
def test_invalid_output_and_weight_dropout(Model, name):
    with pytest.raises(ValueError, match=name + r' must be a number in \[0, 1\), got 1\.0'):
        Model(V, H, 2, **{name: 1.0})


# DropConnect on the recurrent weights W_hh (`weight_dropout`; in training only: above).

def fixed_weight_mask(calls):
    """A stand-in for `dropout.recurrent_weights` with a mask fixed by each weight's value
    (the models hold the same values in other layouts: the fused (G*h, h), the fast
    schedule's stacked W_h*^T, the step-by-step W_h* (h, h) per gate): about a third of the
    entries dropped, the others scaled by 1/(1-p); records its calls."""
    def recurrent_weights(F, W, p):
        calls.append((W.shape, p))
        keep = (np.floor(np.abs(W) * 1e4) % 3 != 0) / (1 - p)
        return W * keep.astype('float32')
    return recurrent_weights


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_weight_dropout_with_a_fixed_mask_drops_the_same_recurrent_weights_alike(cell,
                                                                                 monkeypatch):
    """With a fixed mask, DeepRNN and both schedules of DeepRNNScratch drop the same entries
    of every layer's W_hh, once per pass (not once per step) and never W_xh, and agree in
    logits, states and gradients; nothing else is dropped."""
    from d2l_deep_rnn import dropout
    calls, other = [], []
    monkeypatch.setattr(dropout, 'recurrent_weights', fixed_weight_mask(calls))
    monkeypatch.setattr(dropout, 'between_layers', fixed_mask(other))
    monkeypatch.setattr(dropout, 'before_output', fixed_mask(other))
    G = len(GATES[cell])
    plain, (fused, fast, steps) = dropping_models(cell, 2, weight_dropout=0.25)
    X, state = inputs(fused)
    Y_f, state_f = run(fused, X, state)
    assert calls == [((G * H, H), 0.25)] * 2
    assert rel_err(Y_f, plain(X, state)[0]) > 1e-2
    for scratch, each in ((fast, [((G * H, H), 0.25)] * 2), (steps, [((H, H), 0.25)] * 2 * G)):
        calls.clear()
        Y_s, state_s = run(scratch, X, state)
        assert calls == each and other == []
        assert_same_pass(fused, (Y_f, state_f), scratch, (Y_s, state_s))
