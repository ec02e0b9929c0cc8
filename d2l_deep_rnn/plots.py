"""Figures: perplexity per epoch, written as PNG files (atomically) or drawn inline."""
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .data import atomic_write


def plot_perplexity(histories, path=None, title=None):
    """One figure: training (solid) and validation (dashed) perplexity per epoch of each
    model in `histories` ({label: history}), with the unigram level for reference.

    Saves a PNG at `path` when given; returns the matplotlib Figure (inline in notebooks)."""
    fig = Figure(figsize=(7, 4.2), dpi=120)
    ax = fig.add_subplot()
    unigram = None
    for i, (label, history) in enumerate(histories.items()):
        epochs = range(1, len(history['train_ppl']) + 1)
        style = dict(color=f'C{i}', linewidth=max(1.0, 3.5 - 1.3 * i))  # curves that coincide
        ax.plot(epochs, history['train_ppl'], '-', label=f'{label} train', **style)  # stay visible
        if history.get('val_ppl'):
            ax.plot(epochs, history['val_ppl'], '--', label=f'{label} validation', **style)
        unigram = history.get('unigram_ppl', unigram)
    if unigram is not None:
        ax.axhline(unigram, color='gray', linestyle=':', label=f'unigram ({unigram:.1f})')
    ax.set_xlabel('epoch')
    ax.set_ylabel('perplexity')
    ax.set_title(title or 'Perplexity per epoch')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


DIAGNOSTIC_PANELS = (  # history key, y label, log scale
    ('grad_norm', 'gradient norm before clipping', True),
    ('update_ratio', '|update| / |weights| per step', True),
    ('saturation', 'saturated fraction (first batch)', False),
    ('clip_fraction', 'steps clipped (whole model)', False))


def plot_diagnostics(histories, path=None, title=None):
    """One figure, a panel per quantity of `train(..., diagnostics=True)`, one line per
    layer (a color each); several models (`{label: history}`) get a line style each.

    Saves a PNG at `path` when given; returns the matplotlib Figure."""
    if 'grad_norm' in histories:  # a single history
        histories = {histories.get('model', 'model'): histories}
    fig = Figure(figsize=(10, 6.5), dpi=110)
    axes = fig.subplots(2, 2).ravel()
    styles = ('-', '--', ':', '-.')
    for (key, ylabel, log), ax in zip(DIAGNOSTIC_PANELS, axes):
        for m, (label, history) in enumerate(histories.items()):
            epochs = range(1, len(history[key]) + 1)
            prefix = f'{label}: ' if len(histories) > 1 else ''
            if key == 'clip_fraction':
                ax.plot(epochs, history[key], styles[m % 4], color='C0', label=label)
                continue
            for l, name in enumerate(history['diag_layers'][:len(history[key][0])]):
                curve = [row[l] for row in history[key]]
                ax.plot(epochs, curve, styles[m % 4], color=f'C{l}', label=prefix + name,
                        linewidth=max(1.0, 2.5 - m))
        if log:
            ax.set_yscale('log')
        else:  # a fraction: from 0, with room above the highest value
            top = max((y for line in ax.lines for y in line.get_ydata()), default=0)
            ax.set_ylim(0, max(0.05, 1.1 * top))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel('epoch')
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize='small')
    fig.suptitle(title or 'Per-layer diagnostics')
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def save_figure(fig, path):
    """Write `fig` as a PNG through `atomic_write`, so `path` is never half-written."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format='png'))
