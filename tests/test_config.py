import pytest

from d2l_deep_rnn import Config, UsageError


def test_defaults_are_the_sections_configuration():
    c = Config()
    assert (c.cell, c.num_layers, c.num_hiddens, c.batch_size, c.num_steps, c.lr,
            c.num_epochs, c.max_tokens, c.clip) == ('lstm', 2, 256, 32, 35, 2.0, 500, 10000, 1.0)


def test_small_is_the_two_layer_tanh_rnn():
    c = Config.small()
    assert (c.cell, c.activation, c.num_layers, c.num_hiddens, c.lr, c.num_epochs) == \
        ('rnn', 'tanh', 2, 256, 1.0, 100)
    assert Config.small(num_epochs=3).num_epochs == 3


@pytest.mark.parametrize('field, value, words', [
    ('num_layers', 0, 'num_layers must be a positive integer, got 0'),
    ('num_hiddens', 2.5, 'num_hiddens must be a positive integer, got 2.5'),
    ('batch_size', -1, 'batch_size must be a positive integer'),
    ('num_steps', True, 'num_steps must be a positive integer'),
    ('num_epochs', 0, 'num_epochs must be a positive integer'),
    ('lr', 0.0, 'lr must be a positive number, got 0.0'),
    ('lr', float('nan'), 'lr must be a positive number'),
    ('clip', float('inf'), 'clip must be a positive number'),
    ('cell', 'transformer', "cell must be one of rnn, gru, lstm; got 'transformer'"),
    ('activation', 'sigmoid', 'activation must be one of tanh, relu'),
    ('max_tokens', 0, 'max_tokens must be a positive integer'),
    ('val_tokens', -5, 'val_tokens must be a non-negative integer'),
    ('seed', 2**70, 'seed must be between 0 and 2**32 - 1 (4294967295), got '
                    '1180591620717411303424'),
    ('seed', 2**32, 'seed must be between 0 and 2**32 - 1'),
    ('seed', -1, 'seed must be a non-negative integer, got -1'),
])
def test_bad_values_name_the_setting(field, value, words):
    with pytest.raises(UsageError) as e:
        Config(**{field: value})
    assert words in str(e.value)
    assert isinstance(e.value, ValueError)


def test_the_largest_seed_is_accepted_and_seeds_every_generator():
    from d2l_deep_rnn.factory import set_seed
    assert Config(seed=2**32 - 1).seed == 2**32 - 1
    set_seed(2**32 - 1)  # Python's, NumPy's and MXNet's generators all take it


def test_the_library_refuses_a_seed_out_of_range_too():
    from d2l_deep_rnn.factory import set_seed
    with pytest.raises(UsageError, match='seed must be between 0 and 2\\*\\*32 - 1'):
        set_seed(2**70)  # what train(seed=...) and build_models call


@pytest.mark.parametrize('changes, words', [
    (dict(num_layers=0), 'num_layers must be a positive integer, got 0'),
    (dict(cell='gru', activation='relu'),
     "activation='relu' applies only to cell='rnn'; GRU and LSTM cells use tanh"),
    (dict(dropout=1.0), 'dropout must be a number in [0, 1), got 1.0'),
    (dict(weight_dropout=-0.1), 'weight_dropout must be a number in [0, 1), got -0.1'),
])
def test_config_and_both_models_refuse_a_model_setting_with_the_same_line(changes, words):
    """One check of the model settings (`config.check_model`): Config refuses what the
    models' constructors refuse, in the same words, before any model is built."""
    from d2l_deep_rnn import DeepRNN, DeepRNNScratch
    from d2l_deep_rnn.config import MODEL_FIELDS
    settings = {**{name: getattr(Config(), name) for name in MODEL_FIELDS}, **changes}
    for make in (lambda: Config(**changes), lambda: DeepRNN(28, **settings),
                 lambda: DeepRNNScratch(28, **settings)):
        with pytest.raises(UsageError) as e:
            make()
        assert str(e.value) == words
