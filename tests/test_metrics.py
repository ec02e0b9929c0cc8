import math

import pytest

from d2l_deep_rnn import DeepRNN, DeepRNNScratch, UsageError
from d2l_deep_rnn.metrics import count_params, perplexity, tokens_per_sec


def test_perplexity_is_exp_of_the_mean_loss_and_inf_when_huge():
    assert perplexity(math.log(28)) == pytest.approx(28) and perplexity(0) == 1
    assert perplexity(1e6) == math.inf


def test_tokens_per_sec_leaves_out_the_warm_up_epoch():
    history = {'tokens_per_sec': [100.0, 1000.0, 3000.0], 'seconds': [10.0, 2.0, 1.0]}
    assert tokens_per_sec(history) == (2000 + 3000) / 3  # epochs 2 and 3: 5,000 tokens in 3 s
    assert tokens_per_sec({'tokens_per_sec': [100.0], 'seconds': [10.0]}) == 100
    with pytest.raises(UsageError, match='no epochs'):
        tokens_per_sec({'tokens_per_sec': [], 'seconds': []})


def test_count_params_leaves_out_the_frozen_bias():
    lstm = 4 * (28 * 8 + 8 * 8 + 8) + 4 * (2 * 8 * 8 + 8) + 8 * 28 + 28  # the section's
    assert count_params(DeepRNNScratch(28, 8, 2, 'lstm')) == lstm
    assert count_params(DeepRNN(28, 8, 2, 'lstm')) == lstm  # h2h_bias: frozen at zero
