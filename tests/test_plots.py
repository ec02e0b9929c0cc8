"""plots: what the figures show of each run."""
from d2l_deep_rnn.notebook import figure_png
from d2l_deep_rnn.plots import plot_tokens_per_sec, plot_validation


def test_validation_plot_marks_each_best_epoch_and_zooms_on_them(tmp_path):
    histories = {'1 layer': {'val_ppl': [9.0, 6.0, 5.2, 5.3], 'unigram_ppl': 17.1},
                 '2 layers': {'val_ppl': [10.0, 5.5, 4.8, 4.9, 5.0], 'unigram_ppl': 17.1}}
    fig = plot_validation(histories, tmp_path / 'val.png')
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        '1 layer (best 5.20, epoch 3)', '2 layers (best 4.80, epoch 3)']  # no unigram: above
    assert ax.get_ylim() == (0.95 * 4.8, 1.5 * 5.2)
    dots = [line.get_xydata().tolist() for line in ax.get_lines() if line.get_marker() == 'o']
    assert dots == [[[3.0, 5.2]], [[3.0, 4.8]]]
    assert (tmp_path / 'val.png').read_bytes()[:4] == b'\x89PNG'
    low = plot_validation({'a': {'val_ppl': [30.0, 16.0], 'unigram_ppl': 17.1}})
    assert low.axes[0].get_legend().get_texts()[-1].get_text() == 'unigram (17.1)'


def test_tokens_per_sec_bar_chart():
    fig = plot_tokens_per_sec({'scratch': 1000.0, 'Gluon imperative': 4000.0,
                               'Gluon hybridized': 5000.0})
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [1000.0, 4000.0, 5000.0]
    assert [t.get_text() for t in ax.texts] == ['1,000\n(1.0x)', '4,000\n(4.0x)',
                                                '5,000\n(5.0x)']
    assert figure_png(fig).startswith(b'\x89PNG\r\n\x1a\n')
