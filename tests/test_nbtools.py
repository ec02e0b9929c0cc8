from d2l_deep_rnn.nbtools import LivePlot, figure_png
from d2l_deep_rnn.plots import plot_tokens_per_sec

PNG = b'\x89PNG\r\n\x1a\n'


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


def test_tokens_per_sec_bar_chart():
    fig = plot_tokens_per_sec({'scratch': 1000.0, 'Gluon imperative': 4000.0,
                               'Gluon hybridized': 5000.0})
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [1000.0, 4000.0, 5000.0]
    assert [t.get_text() for t in ax.texts] == ['1,000\n(1.0x)', '4,000\n(4.0x)',
                                                '5,000\n(5.0x)']
    assert figure_png(fig).startswith(PNG)
