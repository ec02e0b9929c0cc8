"""Every figure: perplexity per epoch, per-layer diagnostics, the sweep, training speed;
written as PNG files (atomically) or returned for a notebook to show."""
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .files import atomic_write
from .history import best_epoch


def plot_perplexity(histories, path=None, title=None):
    """Training (solid) and validation (dashed) perplexity per epoch, and the unigram level."""
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
    ax.set_title(title or 'Perplexity per epoch')
    label_epochs(ax, 'perplexity')
    return finish(fig, path)


def plot_validation(histories, path=None, title=None):
    """Validation perplexity per epoch, a dot at each run's best (in the legend), the unigram."""
    fig = Figure(figsize=(7, 4.2), dpi=120)
    ax = fig.add_subplot()
    unigram, bests = None, []
    for i, (label, history) in enumerate(histories.items()):
        val, (best, at) = history['val_ppl'], best_epoch(history)
        ax.plot(range(1, len(val) + 1), val, '-', color=f'C{i}',
                label=f'{label} (best {best:.2f}, epoch {at})')
        ax.plot([at], [best], 'o', color=f'C{i}')
        unigram = history.get('unigram_ppl', unigram)
        bests.append(best)
    top = 1.5 * max(bests)  # the best epochs stand apart: the first ones are cut off
    if unigram is not None and unigram < top:
        ax.axhline(unigram, color='gray', linestyle=':', label=f'unigram ({unigram:.1f})')
    ax.set_ylim(0.95 * min(bests), top)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title or 'Validation perplexity per epoch')
    label_epochs(ax, 'validation perplexity', fontsize='small')
    return finish(fig, path)


DIAGNOSTIC_PANELS = (  # history key, y label, log scale
    ('grad_norm', 'gradient norm before clipping', True),
    ('update_ratio', '|update| / |weights| per step', True),
    ('saturation', 'saturated fraction (first batch)', False),
    ('clip_fraction', 'steps clipped (whole model)', False))


def plot_diagnostics(histories, path=None, title=None):
    """A panel per quantity `Diagnostics()` records, a color per layer, a line style per run."""
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
        label_epochs(ax, ylabel, fontsize='small')
    fig.suptitle(title or 'Per-layer diagnostics')
    return finish(fig, path)


def plot_sweep(rows, path, title):
    """Best and final validation perplexity, and tokens/s, by depth: a line per cell, dropout."""
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
    finish(fig, path)


def plot_tokens_per_sec(rates, title=None):
    """Bars of tokens per second ({label: rate}), labelled with their speed against the first."""
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
    return finish(fig)


def label_epochs(ax, ylabel, **legend):
    """The axes of a per-epoch plot: epochs on x, `ylabel` on y, a light grid, the legend."""
    ax.set_xlabel('epoch')
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(**legend)


def finish(fig, path=None):
    """Lay `fig` out and, given `path`, write it as a PNG (atomically: never half-written)."""
    fig.tight_layout()
    if path is not None:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format='png'))
    return fig
