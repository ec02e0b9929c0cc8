import math

import pytest

from d2l_deep_rnn import DeepRNN, DeepRNNScratch
from d2l_deep_rnn.metrics import count_params, perplexity


def test_perplexity_is_exp_of_the_mean_loss_and_inf_when_huge():
    assert perplexity(math.log(28)) == pytest.approx(28) and perplexity(0) == 1
    assert perplexity(1e6) == math.inf


def test_count_params_leaves_out_the_frozen_bias():
    lstm = 4 * (28 * 8 + 8 * 8 + 8) + 4 * (2 * 8 * 8 + 8) + 8 * 28 + 28  # the section's
    assert count_params(DeepRNNScratch(28, 8, 2, 'lstm')) == lstm
    assert count_params(DeepRNN(28, 8, 2, 'lstm')) == lstm  # h2h_bias: frozen at zero
