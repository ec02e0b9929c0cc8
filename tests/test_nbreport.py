import mxnet as mx
import pytest

from d2l_deep_rnn import DeepRNN, DeepRNNScratch
from d2l_deep_rnn.config import UsageError
from d2l_deep_rnn.metrics import count_params, tokens_per_sec
from d2l_deep_rnn.nbreport import (compare_runs, diagnostic_sentences, format_duration, gap_line,
                                   max_gap, produced_line, result_line, rnn_param_formula)


def history(train_ppl, val_ppl, rates, seconds):
    return {'model': 'DeepRNNScratch', 'ctx': 'cpu(0)', 'epochs': len(train_ppl),
            'train_ppl': train_ppl, 'val_ppl': val_ppl, 'tokens_per_sec': rates,
            'seconds': seconds}


ONE = history([20.0, 10.0, 5.0, 2.0], [18.0, 12.0, 10.0, 11.0],
              [500.0, 1000.0, 1000.0, 1000.0], [4.0, 2.0, 2.0, 2.0])
TWO = history([16.0, 5.0, 3.0, 1.5], [15.0, 9.0, 12.0, 14.0],
              [250.0, 500.0, 500.0, 500.0], [8.0, 4.0, 4.0, 4.0])


def with_diagnostics(h, grad_norm, clip_fraction, update_ratio, saturation):
    layers = [f'layer {l}' for l in range(1, len(saturation[0]) + 1)] + ['output']
    return dict(h, grad_norm=grad_norm, clip_fraction=clip_fraction,
                update_ratio=update_ratio, saturation=saturation, diag_layers=layers)


def test_compare_runs_builds_each_sentence_from_the_numbers():
    sentences = compare_runs({'1 layer': ONE, '2 layers': TWO},
                             {'1 layer': 2876, '2 layers': 4956})
    assert sentences == [
        'Throughput: 1,000 tokens/s for 1 layer (2.50 s per epoch) and 500 tokens/s for '
        '2 layers (5.00 s per epoch); the fastest is 1 layer, at 2.00x the tokens/s of 2 layers.',
        # sqrt(16 * 2) = 5.66: 1 layer gets there at epoch 3 (5.0), 2 layers at epoch 2 (5.0)
        "Per epoch: training perplexity first reaches 5.66 (halfway in loss from 16.00, the "
        "lowest after epoch 1, to 2.00, the highest of the runs' best values) at epoch 3 for "
        "1 layer and at epoch 2 for 2 layers; the fastest learner per epoch is 2 layers.",
        'Per second: reaching it took 8.0 s for 1 layer and 12.0 s for 2 layers; the first '
        'there in wall-clock time is 1 layer.',
        'Validation: the lowest validation perplexity is reached by 2 layers: 9.00 at epoch 2, '
        'against 10.00 at epoch 3 for 1 layer.',
        'Overfitting, 1 layer: after epoch 3, validation perplexity rises from 10.00 to 11.00 '
        'at epoch 4 while training perplexity falls from 5.00 to 2.00.',
        'Overfitting, 2 layers: after epoch 2, validation perplexity rises from 9.00 to 14.00 '
        'at epoch 4 while training perplexity falls from 5.00 to 1.50.',
        'Parameters: 2,876 for 1 layer and 4,956 for 2 layers; 1.72x as many for 2 layers as '
        'for 1 layer.',
    ]


def test_compare_runs_ties_no_overfitting_and_instability():
    still = history([20.0, 10.0, 8.0], [18.0, 12.0, 11.0], [100.0] * 3, [1.0] * 3)
    flat = history([20.0, 10.0, 9.0], [18.0, 12.0, 12.3], [100.0] * 3, [1.0] * 3)
    unstable = history([20.0, 10.0, 30.0], [18.0, 12.0, 40.0], [100.0] * 3, [1.0] * 3)
    sentences = compare_runs({'a': still, 'b': flat, 'c': unstable})
    assert len(sentences) == 7  # no parameters, no clipping given
    assert sentences[1].endswith('at epoch 2 for a, at epoch 2 for b and at epoch 2 for c; '
                                 'a tie per epoch.')
    assert sentences[2].endswith('; a tie in wall-clock time.')
    assert sentences[4:] == [
        'Overfitting, a: none within 3 epochs; validation perplexity is at its best, 11.00, '
        'in the last epoch, and training perplexity ends at 8.00.',
        'Overfitting, b: none within 3 epochs; the final validation perplexity, 12.30, is '
        'within 5% of the best, 12.00 (epoch 2), and training perplexity ends at 9.00.',
        'Overfitting, c: not the pattern here: validation perplexity rises from 12.00 '
        '(epoch 2) to 40.00 at epoch 3, but training perplexity does not fall (10.00 then, '
        '30.00 at the end): training became unstable.',
    ]
    with pytest.raises(UsageError, match='two or more runs'):
        compare_runs({'a': still})


def test_result_line_has_the_fixed_format():
    assert result_line(ONE) == ('perplexity 2.00, validation perplexity 11.00, '
                                '1,000 tokens/sec on cpu(0)')
    no_val = dict(TWO, val_ppl=[], ctx='gpu(0)')
    assert result_line(no_val, '2 layers') == '2 layers: perplexity 1.50, 500 tokens/sec on gpu(0)'
    # the first epoch (one-time set-up) is left out, unless it is the only one
    assert tokens_per_sec(ONE) == 1000.0
    assert tokens_per_sec(history([9.0], [], [123.0], [2.0])) == 123.0


def test_max_gap_and_gap_line():
    assert max_gap({'a': ONE, 'b': TWO}) == dict(gap=5.0, relative=0.5, epoch=2,
                                                  curve='training', between=('a', 'b'))
    close = dict(ONE, val_ppl=[18.0, 12.0, 10.002, 11.0])
    assert gap_line({'scratch': ONE, 'Gluon': close}) == (
        'largest gap between the curves: 2.0e-03 perplexity (relative 2.0e-04; validation, '
        'epoch 3, scratch vs Gluon): they coincide within 0.1%')
    assert gap_line({'a': ONE, 'b': TWO}).endswith('they differ by more than 0.1%')
    assert gap_line({'a': ONE, 'b': dict(ONE)}) == (
        'largest gap between the curves: 0.0e+00 perplexity: they are identical')


def test_diagnostic_sentences_cite_the_per_layer_figures():
    one = with_diagnostics(ONE, [[0.5, 1.0]] * 2 + [[0.1, 0.3]] * 2, [1.0, 0.5, 0.25, 0.25],
                           [[0.01, 0.02]] * 4, [[0.1], [0.2], [0.4], [0.3]])
    two = with_diagnostics(TWO, [[0.2, 0.6, 1.0]] * 4, [0.0] * 4, [[0.001, 0.01, 0.02]] * 4,
                           [[0.0, 0.5]] * 4)
    assert diagnostic_sentences({'1 layer': one, '2 layers': two}) == [
        'Gradients, 1 layer: mean norm before clipping 0.3 for layer 1 and 0.65 for output.',
        'Clipping, 1 layer: it fired on 50% of the steps over the run (100% in epoch 1, 25% '
        'in epoch 4).',
        'Update size, 1 layer: a step changed the weights by 1.00e-02 of their norm for layer 1 '
        'and 2.00e-02 of their norm for output (mean over steps).',
        "Saturation, 1 layer: in the last epoch 30.0% of layer 1's activations were saturated "
        '(peak 40.0%).',
        "Gradients, 2 layers: mean norm before clipping 0.2 for layer 1, 0.6 for layer 2 and 1 "
        "for output; the largest hidden-layer gradient is layer 2's.",
        'Clipping, 2 layers: it fired on 0% of the steps over the run (0% in epoch 1, 0% in '
        'epoch 4).',
        'Update size, 2 layers: a step changed the weights by 1.00e-03 of their norm for '
        'layer 1, 1.00e-02 of their norm for layer 2 and 2.00e-02 of their norm for output '
        '(mean over steps).',
        "Saturation, 2 layers: in the last epoch 0.0% of layer 1's activations and 50.0% of "
        "layer 2's activations were saturated (peak 0.0% and 50.0%).",
    ]
    sentences = compare_runs({'1 layer': one, '2 layers': two})
    assert sentences[-8:] == diagnostic_sentences({'1 layer': one, '2 layers': two})
    assert not any(s.startswith('Gradients') for s in compare_runs({'a': ONE, 'b': TWO}))


def test_parameter_counts_match_the_equations():
    # 28 tokens, h = 32: (28*32 + 32*32 + 32) + (32*28 + 28) = 2,876; + (2*32*32 + 32) per layer
    assert rnn_param_formula(28, 32, 1) == 2876 and rnn_param_formula(28, 32, 2) == 4956
    for layers in (1, 2, 3):
        expected = rnn_param_formula(28, 32, layers)
        assert count_params(DeepRNNScratch(28, 32, layers, 'rnn')) == expected
        assert count_params(DeepRNN(28, 32, layers, 'rnn')) == expected  # h2h_bias is frozen
    lstm = 4 * (28 * 8 + 8 * 8 + 8) + 4 * (2 * 8 * 8 + 8) + 8 * 28 + 28  # 4 gates per layer
    assert count_params(DeepRNNScratch(28, 8, 2, 'lstm')) == lstm
    assert count_params(DeepRNN(28, 8, 2, 'lstm')) == lstm


def test_durations_and_the_produced_line():
    assert [format_duration(s) for s in (0.4, 42.3, 59.6, 185, 3599, 3725)] == \
        ['0 s', '42 s', '1 min 00 s', '3 min 05 s', '59 min 59 s', '1 h 02 min']
    assert produced_line(mx.cpu(), 185, date='2026-05-09').startswith(
        'Outputs produced on 2026-05-09 on cpu(0): ')
    assert produced_line(mx.cpu(), 185, date='2026-05-09').endswith(', in 3 min 05 s.')
