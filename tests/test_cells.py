"""The cells' gates in one table, and a deep RNN's parameters counted by the section's
equations, as both models hold them."""
from d2l_deep_rnn import DeepRNN, DeepRNNScratch
from d2l_deep_rnn.cells import FUSED_GATE_ORDER, GATES, num_params
from d2l_deep_rnn.metrics import count_params


def test_one_gate_table_in_two_orders():
    """The section's LSTM computes i, f, o, then the candidate c; MXNet stacks c third."""
    assert GATES == {'rnn': 'h', 'gru': 'rzh', 'lstm': 'ifoc'}
    assert {cell: sorted(g) for cell, g in FUSED_GATE_ORDER.items()} == \
        {cell: sorted(g) for cell, g in GATES.items()}


def test_parameter_counts_match_the_equations():
    # 28 tokens, h = 32: (28*32 + 32*32 + 32) + (32*28 + 28) = 2,876; + (2*32*32 + 32) per layer
    assert num_params(28, 32, 1, 'rnn') == 2876 and num_params(28, 32, 2, 'rnn') == 4956
    for layers in (1, 2, 3):
        expected = num_params(28, 32, layers, 'rnn')
        assert count_params(DeepRNNScratch(28, 32, layers, 'rnn')) == expected
        assert count_params(DeepRNN(28, 32, layers, 'rnn')) == expected  # h2h_bias is frozen
    lstm = 4 * (28 * 8 + 8 * 8 + 8) + 4 * (2 * 8 * 8 + 8) + 8 * 28 + 28  # 4 gates per layer
    assert count_params(DeepRNNScratch(28, 8, 2, 'lstm')) == lstm
    assert count_params(DeepRNN(28, 8, 2, 'lstm')) == lstm
