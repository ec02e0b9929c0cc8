import mxnet as mx
import pytest

from d2l_deep_rnn.config import UsageError
from d2l_deep_rnn.history import tokens_per_sec
from d2l_deep_rnn.nbreport import (best_run, compare_runs, diagnostic_sentences, format_duration,
                                   gap_line, generalization_observations, max_gap, produced_line,
                                   result_line, run_label, run_table)


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


def test_durations_and_the_produced_line():
    assert [format_duration(s) for s in (0.4, 42.3, 59.6, 185, 3599, 3725)] == \
        ['0 s', '42 s', '1 min 00 s', '3 min 05 s', '59 min 59 s', '1 h 02 min']
    assert produced_line(mx.cpu(), 185, date='2026-05-09').startswith(
        'Outputs produced on 2026-05-09 on cpu(0): ')
    assert produced_line(mx.cpu(), 185, date='2026-05-09').endswith(', in 3 min 05 s.')



def whole_book(val_ppl, rate, stopped=False):
    """A whole-book run: training perplexity 1 above validation, the first epoch at half the
    rate and twice the seconds (1 s per later epoch), the unigram level 17.2."""
    n = len(val_ppl)
    h = dict(history([v + 1 for v in val_ppl], val_ppl, [rate / 2] + [rate] * (n - 1),
                     [2.0] + [1.0] * (n - 1)), unigram_ppl=17.2)
    return dict(h, stopped_early=n) if stopped else h


SECTION = ONE  # best 10.00 at epoch 3, then 11.00 while training perplexity falls to 2.00
PARAMS = {(1, 0): 1000, (2, 0): 2000, (3, 0): 3000, (2, 0.5): 2000, (3, 0.5): 3000}


def test_generalization_observations_when_depth_helps():
    runs = {(1, 0): whole_book([9.0, 7.0, 6.5, 6.6], 1000.0, stopped=True),
            (2, 0): whole_book([9.0, 6.5, 6.0, 6.2], 500.0, stopped=True),
            (3, 0): whole_book([12.0, 8.0, 6.25], 400.0),
            (2, 0.5): whole_book([9.0, 6.6, 5.9, 5.8], 400.0),
            (3, 0.5): whole_book([12.0, 8.5, 6.25], 250.0)}
    assert generalization_observations(SECTION, runs, PARAMS) == [
        "Memorizing: in the section's run training perplexity fell to 2.00 (5.00 in epoch 3) "
        'while validation perplexity was best at 10.00 in epoch 3 and ended at 11.00 (epoch '
        '4): after its best epoch the model fit its training text better and the held-out '
        'text worse.',
        'Depth: without dropout, the best validation perplexity was 6.50 with 1 layer (epoch '
        '3), 6.00 with 2 layers (epoch 3) and 6.25 with 3 layers (epoch 3); against 1 layer: '
        "2 layers 0.50 lower and 3 layers 0.25 lower; the lowest is 2 layers' (7.7% below "
        "1 layer's).",
        'Dropout: dropout 0.5 lowered the best validation perplexity of 2 layers from 6.00 '
        '(epoch 3) to 5.80 (epoch 4) and dropout 0.5 left the best validation perplexity of '
        '3 layers at 6.25 (epoch 3 without, 3 with).',
        'Unigram: a model that knows only how frequent each character is scores 17.20 on the '
        'validation text; every run went more than 5% below it (the highest best validation '
        'perplexity: 6.50, 1 layer).',
        'Stopping: 1 layer stopped early at epoch 4 (best 3), 2 layers stopped early at epoch '
        '4 (best 3), 3 layers ran all 3 epochs (best 3, the last: still improving), 2 layers, '
        'dropout 0.5 ran all 4 epochs (best 4, the last: still improving) and 3 layers, '
        'dropout 0.5 ran all 3 epochs (best 3, the last: still improving).',
        # seconds to the best epoch: 2 s for the first epoch, 1 s for each further one
        'Cost: 1,000 tokens/s for 1 layer (1,000 parameters, 4.0 s to its best epoch), 500 '
        'tokens/s for 2 layers (2,000 parameters, 4.0 s to its best epoch), 400 tokens/s for '
        '3 layers (3,000 parameters, 4.0 s to its best epoch), 400 tokens/s for 2 layers, '
        'dropout 0.5 (2,000 parameters, 5.0 s to its best epoch) and 250 tokens/s for 3 '
        'layers, dropout 0.5 (3,000 parameters, 4.0 s to its best epoch); the fastest, 1 '
        'layer, made 4.00x the tokens/s of the slowest, 3 layers, dropout 0.5.',
        'Best: among the whole-book runs the lowest validation perplexity is 5.80, by 2 '
        "layers, dropout 0.5 (epoch 4): 4.20 below the best of the section's run, 10.00 "
        '(epoch 3).',
    ]
    assert best_run(runs) == (2, 0.5)


def test_generalization_observations_when_depth_does_not_help():
    still = history([20.0, 10.0, 8.0], [18.0, 12.0, 11.0], [100.0] * 3, [1.0] * 3)
    runs = {(1, 0): whole_book([9.0, 6.0, 5.44, 5.5], 1000.0, stopped=True),
            (2, 0): whole_book([9.0, 6.0, 5.6, 5.62], 500.0, stopped=True),
            (3, 0): whole_book([17.5, 17.3, 17.13], 400.0),  # the unigram plateau
            (2, 0.5): whole_book([9.0, 6.5, 5.8, 5.7], 400.0),
            (3, 0.5): whole_book([17.5, 17.3, 17.13], 250.0)}
    sentences = generalization_observations(still, runs, PARAMS)
    assert [s.split(':')[0] for s in sentences] == [
        'Memorizing', 'Depth', 'Dropout', 'Unigram', 'Stopping', 'Cost', 'Best']
    assert sentences[:4] == [
        "Memorizing: none within the 3 epochs of the section's run: validation perplexity "
        'ended at 11.00, within 5% of its best, 11.00 (epoch 3), and training perplexity at '
        '8.00.',
        'Depth: without dropout, the best validation perplexity was 5.44 with 1 layer (epoch '
        '3), 5.60 with 2 layers (epoch 3) and 17.13 with 3 layers (epoch 3); against 1 layer: '
        '2 layers 0.16 higher and 3 layers 11.69 higher; no deeper model beat 1 layer.',
        'Dropout: dropout 0.5 raised the best validation perplexity of 2 layers from 5.60 '
        '(epoch 3) to 5.70 (epoch 4) and dropout 0.5 left the best validation perplexity of '
        '3 layers at 17.13 (epoch 3 without, 3 with).',
        'Unigram: a model that knows only how frequent each character is scores 17.20 on the '
        'validation text; 3 layers and 3 layers, dropout 0.5 never went more than 5% below it '
        '(best 17.13 and 17.13), learning little beyond character frequencies.',
    ]
    assert sentences[-1] == (
        'Best: among the whole-book runs the lowest validation perplexity is 5.44, by 1 layer '
        "(epoch 3): 5.56 below the best of the section's run, 11.00 (epoch 3).")


def test_generalization_observations_ties_instability_and_missing_runs():
    unstable = history([20.0, 10.0, 30.0], [18.0, 5.0, 40.0], [100.0] * 3, [1.0] * 3)
    tie = {(1, 0): history([7.0, 6.0, 6.5], [6.0, 5.44, 5.5], [500.0, 1000.0, 1000.0],
                           [2.0, 1.0, 1.0]),
           (2, 0): history([7.0, 6.0, 6.5], [6.0, 5.444, 5.5], [500.0, 1000.0, 1000.0],
                           [2.0, 1.0, 1.0])}  # 5.444 prints as 5.44: a tie
    assert generalization_observations(unstable, tie, {(1, 0): 10, (2, 0): 20}) == [
        "Memorizing: not the pattern in the section's run: validation perplexity was best at "
        '5.00 in epoch 2 and ended at 40.00, but training perplexity did not fall after that '
        '(10.00 then, 30.00 at the end): training became unstable.',
        'Depth: without dropout, the best validation perplexity was 5.44 with 1 layer (epoch '
        '2) and 5.44 with 2 layers (epoch 2); against 1 layer: 2 layers equal; the lowest, '
        '5.44, is shared by 1 layer and 2 layers.',
        'Dropout: no depth was trained both without and with dropout.',
        # no unigram level in these histories: no Unigram sentence
        'Stopping: 1 layer ran all 3 epochs (best 2) and 2 layers ran all 3 epochs (best 2).',
        'Cost: 1,000 tokens/s for 1 layer (10 parameters, 3.0 s to its best epoch) and 1,000 '
        'tokens/s for 2 layers (20 parameters, 3.0 s to its best epoch); all at the same rate.',
        'Best: among the whole-book runs the lowest validation perplexity is 5.44, by 1 layer '
        "and 2 layers (epochs 2 and 2): 0.44 above the best of the section's run, 5.00 "
        '(epoch 2).',
    ]
    assert best_run(tie) == (1, 0)
    only_dropout = {(2, 0.5): tie[2, 0]}
    sentences = generalization_observations(unstable, only_dropout, {(2, 0.5): 20})
    assert sentences[1:3] == ['Depth: no run without dropout to compare depths with.',
                              'Dropout: no depth was trained both without and with dropout.']
    with pytest.raises(UsageError, match='one or more whole-book runs'):
        generalization_observations(unstable, {}, {})


def test_run_labels_and_the_table_of_runs():
    assert [run_label(1), run_label(2, 0), run_label(3, 0.5)] == \
        ['1 layer', '2 layers', '3 layers, dropout 0.5']
    runs = {(1, 0): whole_book([9.0, 7.0, 6.5, 6.6], 1000.0, stopped=True),
            (2, 0.5): whole_book([9.0, 6.6, 5.9, 5.8], 400.0)}
    assert run_table(runs, PARAMS) == [
        'run                    parameters  epochs  best val ppl  best epoch  seconds to best'
        '  tokens/s  final train ppl',
        '1 layer                     1,000       4          6.50           3              4.0'
        '     1,000             7.60',
        '2 layers, dropout 0.5       2,000       4          5.80           4              5.0'
        '       400             6.80',
    ]
