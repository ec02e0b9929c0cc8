"""Every figure: perplexity per epoch, per-layer diagnostics, the sweep, training speed;
written as PNG files (atomically) or returned for a notebook to show."""
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .files import atomic_write


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


def plot_validation(histories, path=None, title=None):
    """Validation perplexity per epoch of each run in `histories` ({label: history}), a dot
    at each run's best epoch (its value and epoch in the legend), with the unigram level.
    The axis stops at 1.5 times the worst run's best, so that the best epochs stand apart
    (the first epochs, and the unigram level when it is higher, are cut off).

    Saves a PNG at `path` when given; returns the matplotlib Figure."""
    fig = Figure(figsize=(7, 4.2), dpi=120)
    ax = fig.add_subplot()
    unigram, bests = None, []
    for i, (label, history) in enumerate(histories.items()):
        val = history['val_ppl']
        best = min(val)
        at = val.index(best) + 1
        ax.plot(range(1, len(val) + 1), val, '-', color=f'C{i}',
                label=f'{label} (best {best:.2f}, epoch {at})')
        ax.plot([at], [best], 'o', color=f'C{i}')
        unigram = history.get('unigram_ppl', unigram)
        bests.append(best)
    top = 1.5 * max(bests)
    if unigram is not None and unigram < top:
        ax.axhline(unigram, color='gray', linestyle=':', label=f'unigram ({unigram:.1f})')
    ax.set_ylim(0.95 * min(bests), top)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel('epoch')
    ax.set_ylabel('validation perplexity')
    ax.set_title(title or 'Validation perplexity per epoch')
    ax.grid(alpha=0.3)
    ax.legend(fontsize='small')
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
    """One figure, a panel per quantity `Diagnostics()` records, one line per layer (a
    color each); several models (`{label: history}`) get a line style each.

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


def plot_sweep(rows, path, title):
    """Validation perplexity (best: solid, final: dashed) and tokens/s against depth, a line
    per cell and dropout."""
    fig = Figure(figsize=(10, 4), dpi=120)
    ppl_ax, speed_ax = fig.subplots(1, 2)
    lines = dict.fromkeys((r['cell'], r.get('dropout', 0)) for r in rows)
    for i, (cell, p) in enumerate(lines):
        mine = sorted((r for r in rows if (r['cell'], r.get('dropout', 0)) == (cell, p)),
                      key=lambda r: r['layers'])
        depths, label = [r['layers'] for r in mine], cell + (f', dropout {p:g}' if p else '')
        ppl_ax.plot(depths, [r['best_val_ppl'] for r in mine], 'o-', color=f'C{i}',
                    label=f'{label} best')
        ppl_ax.plot(depths, [r['val_ppl'] for r in mine], 'o--', color=f'C{i}',
                    alpha=0.6, label=f'{label} final')
        speed_ax.plot(depths, [r['tokens_per_sec'] for r in mine], 'o-', color=f'C{i}',
                      label=label)
    ppl_ax.set(xlabel='layers', ylabel='validation perplexity', title='Validation perplexity')
    speed_ax.set(xlabel='layers', ylabel='tokens/s', title='Training speed')
    for ax in (ppl_ax, speed_ax):
        ax.set_xticks(sorted({r['layers'] for r in rows}))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def plot_tokens_per_sec(rates, title=None):
    """A bar chart of training speed ({label: tokens per second}), each bar labelled with
    its value and its speed relative to the first bar."""
    fig = Figure(figsize=(6, 3.4), dpi=120)
    ax = fig.add_subplot()
    labels, values = list(rates), list(rates.values())
    bars = ax.bar(labels, values, color=[f'C{i}' for i in range(len(labels))])
    for bar, value in zip(bars, values):
        ax.annotate(f'{value:,.0f}\n({value / values[0]:.1f}x)',
                    (bar.get_x() + bar.get_width() / 2, value), ha='center', va='bottom',
                    fontsize=9)
    ax.set_ylim(0, max(values) * 1.25)
    ax.set_ylabel('tokens per second')
    ax.set_title(title or 'Training speed')
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    return fig


def save_figure(fig, path):
    """Write `fig` as a PNG through `atomic_write`, so `path` is never half-written."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format='png'))
