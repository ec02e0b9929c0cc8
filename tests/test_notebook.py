"""The notebooks' helpers (`notebook`): the lines and the table printed under a run, exact
to the character, and the perplexity plot redrawn while training."""
import mxnet as mx
import pytest

from d2l_deep_rnn.config import UsageError
from d2l_deep_rnn.history import tokens_per_sec
from d2l_deep_rnn.notebook import (LivePlot, best_run, figure_png, format_duration, gap_line,
                                   max_gap, produced_line, result_line, run_label, run_table)

PNG = b'\x89PNG\r\n\x1a\n'


def history(train_ppl, val_ppl, rates, seconds):
    return {'model': 'DeepRNNScratch', 'ctx': 'cpu(0)', 'epochs': len(train_ppl),
            'train_ppl': train_ppl, 'val_ppl': val_ppl, 'tokens_per_sec': rates,
            'seconds': seconds}


ONE = history([20.0, 10.0, 5.0, 2.0], [18.0, 12.0, 10.0, 11.0],
              [500.0, 1000.0, 1000.0, 1000.0], [4.0, 2.0, 2.0, 2.0])
TWO = history([16.0, 5.0, 3.0, 1.5], [15.0, 9.0, 12.0, 14.0],
              [250.0, 500.0, 500.0, 500.0], [8.0, 4.0, 4.0, 4.0])


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
    with pytest.raises(UsageError, match='max_gap needs two or more histories'):
        max_gap({'a': ONE})


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


def test_run_labels_and_the_table_of_runs():
    assert [run_label(1), run_label(2, 0), run_label(3, 0.5)] == \
        ['1 layer', '2 layers', '3 layers, dropout 0.5']
    runs = {'1 layer': whole_book([9.0, 7.0, 6.5, 6.6], 1000.0, stopped=True),
            '2 layers, dropout 0.5': whole_book([9.0, 6.6, 5.9, 5.8], 400.0)}
    assert run_table(runs, {'1 layer': 1000, '2 layers, dropout 0.5': 2000}) == [
        'run                    parameters  epochs  best val ppl  best epoch  seconds to best'
        '  final val ppl  final train ppl  tokens/s',
        '1 layer                     1,000       4          6.50           3              4.0'
        '           6.60             7.60     1,000',
        '2 layers, dropout 0.5       2,000       4          5.80           4              5.0'
        '           5.80             6.80       400',
    ]
    assert best_run(runs) == '2 layers, dropout 0.5'
    tie = {'a': whole_book([9.0, 6.0], 10.0), 'b': whole_book([8.0, 6.0], 10.0)}
    assert best_run(tie) == 'a'  # the first, in a tie


def fake_history(epochs):
    return {'model': 'DeepRNN', 'ctx': 'cpu(0)', 'epochs': epochs,
            'train_ppl': [20.0 - e for e in range(epochs)],
            'val_ppl': [21.0 - e for e in range(epochs)],
            'tokens_per_sec': [100.0] * epochs, 'seconds': [1.0] * epochs,
            'unigram_ppl': 17.2}


def test_live_plot_redraws_every_few_epochs_in_one_output():
    shown = []

    def show(fig, handle):
        shown.append((fig, handle))
        return 'handle'

    live = LivePlot(25, updates=10, show=show)  # every 2 epochs, and after the last
    curve = live.curve('1 layer')  # a callback: train calls on_epoch_end after each epoch
    for epoch in range(1, 26):
        assert curve.on_epoch_end(fake_history(epoch)) is False  # never asks to stop
    assert live.every == 2 and live.draws == len(shown) == 13
    assert [h for _, h in shown] == [None] + ['handle'] * 12  # the first output, then updates
    second = live.curve('2 layers')
    for epoch in range(1, 26):
        second.on_epoch_end(fake_history(epoch))
    assert list(live.histories) == ['1 layer', '2 layers']
    legend = [t.get_text() for t in shown[-1][0].axes[0].get_legend().get_texts()]
    assert legend == ['1 layer train', '1 layer validation', '2 layers train',
                      '2 layers validation', 'unigram (17.2)']
    assert figure_png(shown[-1][0]).startswith(PNG)
