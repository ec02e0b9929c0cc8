import mxnet as mx
import pytest

from d2l_deep_rnn import DeepRNN, DeepRNNScratch, copy_params, load_data_time_machine, predict
from d2l_deep_rnn.config import UsageError
from d2l_deep_rnn.factory import set_seed


@pytest.fixture(scope='module')
def nets(data_dir):
    _, vocab = load_data_time_machine(32, 35, data_dir=data_dir)
    set_seed(0)
    net = DeepRNN(len(vocab), 32, 2, 'lstm')
    net.initialize(mx.init.Normal(0.5))  # large weights: varied, not all-space, predictions
    scratch = DeepRNNScratch(len(vocab), 32, 2, 'lstm')
    scratch.initialize()
    copy_params(net, scratch)
    return net, scratch, vocab


def test_greedy_is_prefix_plus_num_preds_and_deterministic(nets):
    net, scratch, vocab = nets
    text = predict('time traveller', 40, net, vocab, mx.cpu())
    assert text.startswith('time traveller') and len(text) == len('time traveller') + 40
    assert predict('time traveller', 40, net, vocab) == text  # ctx defaults to the net's
    assert predict('time traveller', 40, scratch, vocab, mx.cpu()) == text  # same weights


def test_prefix_is_preprocessed_like_the_corpus(nets):
    net, _, vocab = nets
    assert predict('Time-Traveller!', 5, net, vocab)[:15] == 'time traveller '


def test_temperature_samples_reproducibly(nets):
    net, _, vocab = nets
    greedy = predict('the', 60, net, vocab)
    a = predict('the', 60, net, vocab, temperature=1.0, seed=3)
    b = predict('the', 60, net, vocab, temperature=1.0, seed=3)
    c = predict('the', 60, net, vocab, temperature=1.0, seed=4)
    assert a == b and a != c and a != greedy
    assert len(a) == 63 and a.startswith('the') and '<unk>' not in a + greedy


def test_bad_prefix_and_temperature(nets):
    net, _, vocab = nets
    with pytest.raises(UsageError, match='has none of the letters a-z'):
        predict('!!! 42', 5, net, vocab)
    with pytest.raises(UsageError) as error:  # letters, but none the corpus keeps
        predict('日本 ü', 5, net, vocab)
    assert str(error.value) == (
        "the prefix '日本 ü' has none of the letters a-z, which with the space are all the "
        "model knows (the corpus turns everything else into spaces); give a prefix such as "
        '"time traveller"')
    assert predict('Time-Traveller!', 0, net, vocab) == 'time traveller '  # cleaned as the corpus
    for bad, match in ((-1, 'num_preds must be a non-negative integer, got -1'),
                       (2.5, 'num_preds must be a non-negative integer, got 2.5')):
        with pytest.raises(UsageError, match=match):
            predict('the', bad, net, vocab)
    with pytest.raises(UsageError, match='prefix must be a string'):
        predict(None, 5, net, vocab)
    for bad in (float('inf'), float('nan'), '1', True):
        with pytest.raises(UsageError, match='temperature must be a number >= 0'):
            predict('the', 5, net, vocab, temperature=bad)
    with pytest.raises(UsageError, match='temperature must be a number >= 0'):
        predict('the', 5, net, vocab, temperature=-1)


@pytest.mark.parametrize('which', ['gluon', 'scratch'])
def test_predict_runs_on_the_models_devices(nets, which, devices, monkeypatch):
    """A model on cpu(1), or on [cpu(1), cpu(2)] (no cpu(0): as on GPUs), predicts on its
    first device, every input and state there, the same text as on cpu(0)."""
    net0, scratch0, vocab = nets
    ref = net0 if which == 'gluon' else scratch0
    net = type(ref)(len(vocab), 32, 2, 'lstm')
    net.initialize(ctx=devices)
    for p, q in zip(ref.collect_params().values(), net.collect_params().values()):
        q.set_data(p.data())
    first, seen = (devices if isinstance(devices, list) else [devices])[0], []
    forward = net.forward
    monkeypatch.setattr(net, 'forward', lambda X, state: seen.append(
        [X.ctx] + [s.ctx for s in state]) or forward(X, state))
    for options in ({}, {'temperature': 0.8, 'seed': 3}):
        assert predict('time traveller', 30, net, vocab, **options) == \
            predict('time traveller', 30, ref, vocab, **options)
    assert len(seen) == 2 * 31 and all(ctx == first for ctxs in seen for ctx in ctxs)


def test_predict_refuses_a_model_without_weights_or_on_another_device(nets):
    from d2l_deep_rnn import DeepRNN
    net, _, vocab = nets
    with pytest.raises(UsageError) as error:
        predict('the', 5, DeepRNN(len(vocab), 8, 2), vocab)
    assert str(error.value) == ('the DeepRNN has no weights yet; train it, load a checkpoint '
                                'or call net.initialize() first')
    with pytest.raises(UsageError) as error:
        predict('the', 5, net, vocab, ctx=mx.cpu(3))
    assert str(error.value) == ("ctx=cpu(3), but the model's weights are on cpu(0); pass "
                                "ctx=cpu(0) or leave it out")
    with pytest.raises(UsageError, match=r'ctx=gpu\(7\): MXNet sees 0 GPU\(s\) here'):
        predict('the', 5, net, vocab, ctx=mx.gpu(7))
