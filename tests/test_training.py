import mxnet as mx
import pytest

from d2l_deep_rnn import (Config, DeepRNN, DeepRNNScratch, copy_params, load_data_splits,
                          train)
from d2l_deep_rnn.callbacks import Progress
from d2l_deep_rnn.factory import set_seed
from d2l_deep_rnn.machine import as_ctx_list
from d2l_deep_rnn.params import is_frozen
from d2l_deep_rnn.training import TrainingDiverged, callbacks_for, evaluate_perplexity


@pytest.fixture(scope='module')
def splits(data_dir):
    return load_data_splits(32, 35, max_tokens=10000, val_tokens=5000, data_dir=data_dir)


def short_run(splits, epochs=30):
    """The main job's model (2-layer tanh RNN, 256 hiddens, lr 1) on the first 10,000 chars."""
    train_iter, val_iter, vocab = splits
    c = Config.small(num_epochs=epochs)
    set_seed(c.seed)
    net = DeepRNN(len(vocab), c.num_hiddens, c.num_layers, c.cell, c.activation)
    net.initialize(mx.init.Normal(0.01), ctx=mx.cpu())
    before = evaluate_perplexity(net, train_iter, mx.cpu())
    history = train(net, train_iter, vocab, c.lr, c.num_epochs, mx.cpu(), clip=c.clip,
                    val_iter=val_iter, seed=c.seed, callbacks=[])
    return before, history


def test_short_run_learns_and_is_reproducible(splits):
    before, history = short_run(splits)
    assert before == pytest.approx(28, abs=0.5)  # untrained: uniform over 28 tokens
    assert history['train_ppl'][-1] < 12.5  # well below 15 (and the unigram 17.2)
    assert history['val_ppl'][-1] < 14
    assert history['unigram_ppl'] == pytest.approx(17.2, abs=0.1)
    assert len(history['train_ppl']) == len(history['val_ppl']) == 30 == history['epochs']
    assert all(t > 0 for t in history['tokens_per_sec']) and history['ctx'] == 'cpu(0)'
    _, again = short_run(splits)
    assert again['train_ppl'] == history['train_ppl']
    assert again['val_ppl'] == history['val_ppl']


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_scratch_and_gluon_train_identically_from_copied_weights(splits, cell):
    train_iter, val_iter, vocab = splits
    set_seed(1)
    gluon_net = DeepRNN(len(vocab), 32, 2, cell)
    scratch_net = DeepRNNScratch(len(vocab), 32, 2, cell)
    gluon_net.initialize(mx.init.Normal(0.1), ctx=mx.cpu())
    scratch_net.initialize(ctx=mx.cpu())
    copy_params(gluon_net, scratch_net)
    runs = [train(net, train_iter, vocab, 2.0, 2, mx.cpu(), val_iter=val_iter, seed=5,
                  callbacks=[]) for net in (gluon_net, scratch_net)]
    for key in ('train_ppl', 'val_ppl'):
        for a, b in zip(runs[0][key], runs[1][key]):
            assert a == pytest.approx(b, rel=1e-4)


def test_the_books_positional_call(splits, monkeypatch):
    """`train(net, train_iter, vocab, lr, num_epochs, ctx, True)`, train_ch8's call with
    random sampling, starts every batch from a fresh state, as `use_random_iter=True` does
    (an earlier seventh parameter, `clip`, took the True); an eighth positional is refused."""
    from d2l_deep_rnn.data import SeqDataLoader
    train_iter, _, vocab = splits
    random_iter = SeqDataLoader(train_iter.corpus, 32, 35, use_random_iter=True)
    runs = {}
    for how, args, kwargs in (('positional', (True,), {}), ('sequential', (), {}),
                              ('keyword', (), {'use_random_iter': True})):
        net = DeepRNN(len(vocab), 16, 2, 'rnn')
        starts = []
        fresh = net.begin_state
        monkeypatch.setattr(net, 'begin_state',
                            lambda *a, **k: starts.append(1) or fresh(*a, **k))
        history = train(net, random_iter, vocab, 1.0, 2, mx.cpu(), *args, seed=0,
                        callbacks=[], **kwargs)
        runs[how] = len(starts), history['train_ppl']
    batches = 2 * len(list(random_iter))  # two epochs
    assert runs['positional'] == runs['keyword'] and runs['positional'][0] == batches
    assert runs['sequential'][0] == 2 and runs['sequential'][1] != runs['positional'][1]
    with pytest.raises(TypeError, match='from 5 to 7 positional arguments but 8 were given'):
        train(DeepRNN(len(vocab), 8, 2, 'rnn'), random_iter, vocab, 1.0, 1, mx.cpu(), True, 1.0)


def test_random_sampling_and_progress_lines(splits, capsys):
    train_iter, val_iter, vocab = splits
    from d2l_deep_rnn.data import SeqDataLoader
    random_iter = SeqDataLoader(train_iter.corpus, 32, 35, use_random_iter=True)
    net = DeepRNN(len(vocab), 32, 1, 'gru')
    history = train(net, random_iter, vocab, 1.0, 4, mx.cpu(), use_random_iter=True,
                    val_iter=val_iter, seed=0, callbacks=[Progress(2)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[2] for line in lines] == ['1/4', '2/4', '4/4']
    assert 'val ppl' in lines[0] and 'unigram 17.2' in lines[0] and 'tokens/s' in lines[0]
    assert history['train_ppl'][-1] < history['train_ppl'][0]
    train(net, random_iter, vocab, 1.0, 1, mx.cpu(), use_random_iter=True, callbacks=[])
    assert capsys.readouterr().out == ''  # no callbacks: nothing shown
    train(net, random_iter, vocab, 1.0, 1, mx.cpu(), use_random_iter=True)
    assert capsys.readouterr().out.startswith('DeepRNN         epoch 1/1  train ppl ')  # default


def test_divergence_stops_with_a_clear_error(splits):
    train_iter, _, vocab = splits
    net = DeepRNN(len(vocab), 16, 1, 'rnn', 'relu')
    with pytest.raises(TrainingDiverged, match=r'loss became (nan|inf) in epoch \d+; lower the '
                                               r'learning rate \(now 1e\+30\)'):
        train(net, train_iter, vocab, 1e30, 3, mx.cpu(), seed=0, callbacks=[])


@pytest.mark.parametrize('theta, clipped', [(1e-2, True), (1e6, False)])
def test_grad_clipping_scales_by_the_global_norm(theta, clipped):
    import numpy as onp
    from mxnet import autograd, np
    from d2l_deep_rnn.training import grad_clipping
    net = DeepRNNScratch(28, 8, 2, 'gru')
    net.initialize()
    for p in net.collect_params().values():
        p.set_data(np.random.normal(0, 0.3, p.shape))
    with autograd.record():
        Y, _ = net(np.array([[1, 2, 3], [4, 5, 6]], dtype='int32'), net.begin_state(2))
        (Y ** 2).sum().backward()
    params = [p for p in net.collect_params().values() if not is_frozen(p)]
    before = [p.grad().asnumpy().copy() for p in params]
    expected = onp.sqrt(sum((g.astype('float64') ** 2).sum() for g in before))
    norm = float(grad_clipping(params, theta, mx.cpu()))
    assert norm == pytest.approx(expected, rel=1e-5)
    assert (norm > theta) == clipped
    scale = theta / expected if clipped else 1.0
    for p, g in zip(params, before):
        onp.testing.assert_allclose(p.grad().asnumpy(), g * scale, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize('contexts', [(mx.cpu(0), [mx.cpu(0), mx.cpu(1)]),
                                      (mx.cpu(1), [mx.cpu(1), mx.cpu(2)])],
                         ids=['cpu0+cpu1', 'cpu1+cpu2'])
@pytest.mark.parametrize('Model', [DeepRNN, DeepRNNScratch])
def test_two_cpu_contexts_take_the_single_device_step(data_dir, Model, contexts):
    """Data parallel on two CPU contexts: rows split 3 + 4, gradients summed by the Trainer,
    clipped once: the first epoch's loss and the updated weights equal one device's. Also
    without cpu(0), the default context (as on GPUs)."""
    import numpy as onp
    train_iter, val_iter, vocab = load_data_splits(7, 10, max_tokens=2000, val_tokens=1000,
                                                   data_dir=data_dir)
    one, two = Model(len(vocab), 16, 2, 'lstm'), Model(len(vocab), 16, 2, 'lstm')
    for net, ctx in zip((one, two), contexts):
        net.initialize(mx.init.Normal(0.1), ctx=ctx)
    for p, q in zip(one.collect_params().values(), two.collect_params().values()):
        q.set_data(p.data())  # the same initial weights on every device
    h1, h2 = (train(net, train_iter, vocab, 1.0, 2, ctx, val_iter=val_iter, seed=4,
                    callbacks=[]) for net, ctx in zip((one, two), contexts))
    assert h2['ctx'] == str(contexts[1])
    assert h2['train_ppl'] == pytest.approx(h1['train_ppl'], rel=1e-5)
    assert h2['val_ppl'] == pytest.approx(h1['val_ppl'], rel=1e-5)
    for p, q in zip(one.collect_params().values(), two.collect_params().values()):
        expected = p.data().asnumpy()
        assert float(onp.abs(expected).max()) > 0 or is_frozen(p)
        for c in contexts[1]:
            onp.testing.assert_allclose(q.data(c).asnumpy(), expected, rtol=1e-4, atol=1e-6)


def twins(Model, vocab, ctx):
    """Two models with the same weights: one on cpu(0), the other on `ctx`."""
    set_seed(2)
    ref, net = Model(len(vocab), 16, 2, 'lstm'), Model(len(vocab), 16, 2, 'lstm')
    ref.initialize(mx.init.Normal(0.1), ctx=mx.cpu(0))
    net.initialize(ctx=ctx)
    for p, q in zip(ref.collect_params().values(), net.collect_params().values()):
        q.set_data(p.data())
    return ref, net


def copies(net):
    """Every copy of every parameter, as NumPy arrays."""
    return [a.asnumpy() for p in net.collect_params().values() for a in p.list_data()]


def assert_same_weights(net, ref):
    """Each copy of each of `net`'s parameters equals `ref`'s (one copy, on cpu(0))."""
    import numpy as onp
    for p, q in zip(ref.collect_params().values(), net.collect_params().values()):
        for a in q.list_data():
            onp.testing.assert_allclose(a.asnumpy(), p.data().asnumpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('Model', [DeepRNN, DeepRNNScratch])
def test_training_off_the_default_context_equals_training_on_it(Model, devices, data_dir,
                                                                 tmp_path, monkeypatch,
                                                                 on_devices):
    """On cpu(1) and on [cpu(1), cpu(2)] (neither has cpu(0): as on GPUs), with keep_best,
    diagnostics and checkpoints, stopped after epoch 2 and resumed into an uninitialized
    model: the run equals one on cpu(0), and the model, its gradients, outputs, states and
    optimizer state all live on the devices. A second train() continues from the weights."""
    import numpy as onp
    from d2l_deep_rnn import training
    train_iter, val_iter, vocab = load_data_splits(7, 10, max_tokens=2000, val_tokens=1000,
                                                   data_dir=data_dir)
    trainers = []
    make_trainer = training.make_trainer
    monkeypatch.setattr(training, 'make_trainer',
                        lambda *args, **kw: trainers.append(make_trainer(*args, **kw)) or
                        trainers[-1])

    def extras(folder, resume=False):  # keep_best, diagnostics and checkpoints
        return callbacks_for(Config(keep_best=True), diagnostics=True, save_dir=folder,
                             save_every=1, resume=resume, verbose=False)
    options = dict(val_iter=val_iter, seed=4)
    ref, net = twins(Model, vocab, devices)
    expected = train(ref, train_iter, vocab, 1.0, 3, mx.cpu(0),
                     callbacks=extras(str(tmp_path / 'ref')), **options)
    folder = str(tmp_path / 'dev')
    train(net, train_iter, vocab, 1.0, 2, devices, callbacks=extras(folder), **options)
    net = Model(len(vocab), 16, 2, 'lstm')  # uninitialized: everything comes from disk
    history = train(net, train_iter, vocab, 1.0, 3, devices, callbacks=extras(folder, True),
                    **options)
    assert history['ctx'] == str(devices) and history['epochs'] == 3
    assert history['best_epoch'] == expected['best_epoch']
    keys = ['train_ppl', 'val_ppl', 'grad_norm', 'update_ratio', 'clip_fraction']
    if not isinstance(devices, list):  # (with several devices: the first one's rows only)
        keys.append('saturation')
    for key in keys:
        assert onp.array(history[key]) == pytest.approx(onp.array(expected[key]), rel=1e-5)
    assert_same_weights(net, ref)  # the best epoch's, on every device
    on_devices(net, devices)
    first = as_ctx_list(devices)[0]
    assert evaluate_perplexity(net, val_iter, first) == \
        pytest.approx(expected['best_val_ppl'], rel=1e-6)
    # a second train() starts from the trained weights, not new ones (0 epochs: just that)
    trained = copies(net)
    train(net, train_iter, vocab, 1.0, 0, devices, seed=5, callbacks=[])
    assert all((a == b).all() for a, b in zip(copies(net), trained))
    # and with Adam as on cpu(0), its moments on each device
    again, expected = (train(model, train_iter, vocab, 0.01, 1, ctx, val_iter=val_iter, seed=5,
                             callbacks=[], optimizer='adam')
                       for model, ctx in ((net, devices), (ref, mx.cpu(0))))
    assert again['train_ppl'] == pytest.approx(expected['train_ppl'], rel=1e-5)
    assert_same_weights(net, ref)
    on_devices(net, devices, trainers[-2])


def test_worker_rows_are_contiguous_blocks_covering_the_batch():
    from types import SimpleNamespace
    from mxnet import np
    from d2l_deep_rnn.config import UsageError
    from d2l_deep_rnn.distributed import worker_rows
    X = np.arange(7 * 3).reshape(7, 3)
    blocks = [worker_rows(X, SimpleNamespace(rank=r, num_workers=3)).asnumpy()
              for r in range(3)]
    assert [b[:, 0].tolist() for b in blocks] == [[0, 3], [6, 9], [12, 15, 18]]
    with pytest.raises(UsageError, match='a batch of 2 sequences cannot be split across 3 '
                                         'workers; use a batch size of at least 3'):
        worker_rows(X[:2], SimpleNamespace(rank=0, num_workers=3))


def test_unknown_kvstore_is_refused_and_a_single_process_keeps_its_devices():
    from d2l_deep_rnn.config import UsageError
    from d2l_deep_rnn.distributed import join
    with pytest.raises(UsageError, match="kvstore must be one of device, local, dist_sync, "
                                         "dist_async; got 'nccl'"):
        join('nccl', mx.cpu())
    devices = [mx.cpu(1), mx.cpu(2)]
    assert join('device', devices) is devices and join('local', mx.cpu(1)) == mx.cpu(1)


def test_the_model_says_whether_train_compiles_it_and_names_the_run(small_splits):
    """`train` hybridizes a model unless `net.hybridize(False)` was called, and the history
    takes the model's `label`, else its class name."""
    train_iter, _, vocab = small_splits
    for Model in (DeepRNN, DeepRNNScratch):
        compiled, stepwise = Model(len(vocab), 8, 2, 'rnn'), Model(len(vocab), 8, 2, 'rnn')
        stepwise.hybridize(False)
        stepwise.label = 'step by step'
        names = [train(net, train_iter, vocab, 1.0, 1, mx.cpu(), callbacks=[])['model']
                 for net in (compiled, stepwise)]
        assert names == [Model.__name__, 'step by step']
        assert (compiled.compiled, stepwise.compiled) == (True, False)
    assert compiled._schedule.hybrid and not stepwise._schedule.hybrid  # the scratch model's
    assert DeepRNN(len(vocab), 8, 1, 'rnn')._active is False  # Gluon's flag, untouched
    for label, name in ((None, 'DeepRNNScratch'), (2, '2')):  # Progress prints either
        compiled.label = label
        assert train(compiled, train_iter, vocab, 1.0, 1, mx.cpu())['model'] == name



def test_frozen_biases_keep_a_zero_rate_on_a_parameter_server():
    """Servers that update on the kvstore (dist_async) get a pickled copy of the optimizer,
    without the parameters' own lr_mult: the frozen biases' zero rate travels by index."""
    import pickle
    from d2l_deep_rnn.training import make_trainer
    net = DeepRNN(28, 8, 2, 'gru')
    net.initialize()
    trainer = make_trainer(net, 2.0)
    server_copy = pickle.loads(pickle.dumps(trainer._optimizer))
    names = list(net.collect_params().keys())
    lrs = server_copy._get_lrs(list(range(len(names))))
    assert {n for n, lr in zip(names, lrs) if lr == 0} == \
        {n for n in names if n.endswith('h2h_bias')} and len([lr for lr in lrs if lr]) == 8
    assert set(lr for lr in lrs if lr) == {2.0}


# Training for held-out perplexity: the callbacks that follow the validation curve, on a
# tiny run whose validation perplexities are scripted.

def test_train_takes_the_books_seven_then_a_few_keywords():
    """The extras are callbacks; the model, the devices and the worker carry what describes
    them (hybridize, label, kvstore): train's keyword-only parameters are these five."""
    import inspect
    parameters = inspect.signature(train).parameters.values()
    assert [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD] == \
        ['net', 'train_iter', 'vocab', 'lr', 'num_epochs', 'ctx', 'use_random_iter']
    assert [p.name for p in parameters if p.kind is p.KEYWORD_ONLY] == \
        ['clip', 'val_iter', 'seed', 'optimizer', 'callbacks']


def test_train_refuses_bad_arguments_in_one_line_before_anything_trains(data_dir):
    """The checks Config makes (lr, num_epochs, clip), a device MXNet does not have, and a
    model of another vocabulary size: each one line, the model left uninitialized."""
    from d2l_deep_rnn import UsageError, load_data_time_machine
    from d2l_deep_rnn.factory import is_initialized
    train_iter, vocab = load_data_time_machine(4, 5, max_tokens=200, data_dir=data_dir)
    nan, inf = float('nan'), float('inf')
    cases = [(dict(lr=-1), 'lr must be a positive number, got -1'),
             (dict(lr=nan), 'lr must be a positive number, got nan'),
             (dict(lr='2'), "lr must be a positive number, got '2'"),
             (dict(num_epochs=-1), 'num_epochs must be a non-negative integer, got -1'),
             (dict(num_epochs=2.5), 'num_epochs must be a non-negative integer, got 2.5'),
             (dict(clip=inf), 'clip must be a positive number, got inf'),
             (dict(ctx=mx.gpu(7)), 'ctx=gpu(7): MXNet sees 0 GPU(s) here; use mx.cpu()'),
             (dict(ctx=[mx.cpu(1), mx.gpu(0)]),
              'ctx=gpu(0): MXNet sees 0 GPU(s) here; use mx.cpu()'),
             (dict(ctx='cpu'), "ctx must be an MXNet context such as mx.cpu() or mx.gpu(0), "
                               "or a list of them; got 'cpu'")]
    for changes, message in cases:
        net = DeepRNN(len(vocab), 8, 2, 'rnn')
        args = {**dict(lr=1.0, num_epochs=1, ctx=mx.cpu()), **changes}
        with pytest.raises(UsageError) as error:
            train(net, train_iter, vocab, args.pop('lr'), args.pop('num_epochs'),
                  args.pop('ctx'), callbacks=[], **args)
        assert str(error.value) == message
        assert not any(is_initialized(p) for p in net.collect_params().values())
    with pytest.raises(UsageError) as error:
        train(DeepRNNScratch(30, 8, 2), train_iter, vocab, 1.0, 1, mx.cpu(), callbacks=[])
    assert str(error.value) == ('the model was built for 30 tokens but the vocabulary has 28; '
                                'build it with len(vocab) as its vocab_size')


def test_copy_params_refuses_models_without_weights():
    from d2l_deep_rnn import UsageError
    fused, scratch = DeepRNN(28, 8, 2, 'gru'), DeepRNNScratch(28, 8, 2, 'gru')
    fused.initialize()
    with pytest.raises(UsageError) as error:
        copy_params(fused, scratch)
    assert str(error.value) == ('copy_params: dst, a DeepRNNScratch, has no weights yet; '
                                'call dst.initialize() first')
    with pytest.raises(UsageError, match='copies DeepRNN -> DeepRNNScratch or back, got '
                                         'DeepRNN -> list'):
        copy_params(fused, [])


def test_a_notebooks_stop_button_leaves_the_model_trainable(data_dir):
    """KeyboardInterrupt in the middle of an epoch (as a notebook's stop button sends it)
    reaches the caller; the model still predicts, and the next train call trains it on."""
    from d2l_deep_rnn import load_data_time_machine, predict
    from d2l_deep_rnn.callbacks import Callback

    class StopButton(Callback):
        def __init__(self):
            self.batches = 0

        def on_batch_begin(self, X):
            self.batches += 1
            if self.batches == 3:
                raise KeyboardInterrupt

    train_iter, vocab = load_data_time_machine(4, 5, max_tokens=400, data_dir=data_dir)
    net = DeepRNN(len(vocab), 8, 2, 'rnn')
    with pytest.raises(KeyboardInterrupt):
        train(net, train_iter, vocab, 1.0, 5, mx.cpu(), seed=0, callbacks=[StopButton()])
    before = {n: p.data().asnumpy().copy() for n, p in net.collect_params().items()}
    assert len(predict('the', 5, net, vocab)) == 8
    history = train(net, train_iter, vocab, 1.0, 2, mx.cpu(), seed=0, callbacks=[])
    assert history['epochs'] == 2 and all(1 < p < 28 for p in history['train_ppl'])
    after = {n: p.data().asnumpy() for n, p in net.collect_params().items()}
    assert any((before[n] != after[n]).any() for n in before)
