"""The notebooks' helpers (no command imports them): the small-run switch, figures shown as PNG
(alike inline and under Agg in tests) and redrawn while training, the lines and table printed
under a run (from its history, so they hold for any run), and the current edition's timed fit."""
import io
import math
import time

from d2l import mxnet as d2l
from mxnet import np, npx

from .callbacks import Callback
from .config import UsageError, check_positive_int
from .history import best_epoch, result_row, tokens_per_sec
from .machine import describe_machine
from .plots import plot_perplexity

# D2L_DEEP_RNN_SMALL=1 makes each notebook's first cell shrink its settings, so that the
# whole notebook runs headless in seconds (the tests set it).
SMALL_ENV = 'D2L_DEEP_RNN_SMALL'


def figure_png(fig):
    """A matplotlib Figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png')
    return buffer.getvalue()


def show(fig, handle=None):
    """Display `fig` as a PNG, whatever the backend, in place of `handle`'s; returns the handle."""
    from IPython.display import Image, display
    image = Image(data=figure_png(fig), format='png')
    if handle is None:
        return display(image, display_id=True)
    handle.update(image)
    return handle


class LivePlot:
    """Every run's perplexity curves in one output, redrawn `updates` times while `train` runs."""

    def __init__(self, num_epochs, updates=10, title=None, show=show):
        check_positive_int('num_epochs', num_epochs)
        check_positive_int('updates', updates)
        self.num_epochs, self.title, self._show = num_epochs, title, show
        self.every = max(1, num_epochs // updates)
        self.histories, self.handle, self.draws = {}, None, 0

    def curve(self, label):
        """The callback that draws run `label` into this figure."""
        return Curve(self, label)

    def add(self, label, history):
        """After each epoch of run `label`: keep its history, redraw every few epochs."""
        self.histories[label] = history  # train keeps appending to this same dict
        epoch = history['epochs']
        if epoch % self.every == 0 or epoch == self.num_epochs:
            self.draw()

    def draw(self):
        fig = plot_perplexity(self.histories, title=self.title)
        self.handle = self._show(fig, self.handle)
        self.draws += 1
        return fig


class Curve(Callback):
    """One run's curves in a `LivePlot`, after each epoch."""

    def __init__(self, live, label):
        self.live, self.label = live, label

    def on_epoch_end(self, history):
        self.live.add(self.label, history)
        return False


# --- the lines and the table under a run ----------------------------------------------------

def format_duration(seconds):
    """42.3 -> '42 s', 185 -> '3 min 05 s', 3725 -> '1 h 02 min'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds} s'
    if seconds < 3600:
        return f'{seconds // 60} min {seconds % 60:02d} s'
    return f'{seconds // 3600} h {seconds % 3600 // 60:02d} min'


def produced_line(ctx, seconds, date=None):
    """'Outputs produced on 2026-05-09 on cpu(0): ..., in 3 min 05 s.'"""
    date = date or time.strftime('%Y-%m-%d')
    return f'Outputs produced on {date} on {describe_machine(ctx)}, in {format_duration(seconds)}.'


def result_line(history, label=None):
    """'[label: ]perplexity 1.05, validation perplexity 9.87, 52,345 tokens/sec on cpu(0)'"""
    line = f"perplexity {history['train_ppl'][-1]:.2f}"
    if history.get('val_ppl'):
        line += f", validation perplexity {history['val_ppl'][-1]:.2f}"
    line += f", {tokens_per_sec(history):,.0f} tokens/sec on {history['ctx']}"
    return f'{label}: {line}' if label else line


def max_gap(histories):
    """The largest |difference| of two runs' training or validation perplexities at one epoch."""
    labels = list(histories)
    best = dict(gap=0.0, relative=0.0, epoch=None, curve=None, between=None)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            for key, curve in (('train_ppl', 'training'), ('val_ppl', 'validation')):
                for epoch, (x, y) in enumerate(zip(histories[a].get(key, []),
                                                   histories[b].get(key, [])), start=1):
                    if best['between'] is None or abs(x - y) > best['gap']:
                        best = dict(gap=abs(x - y), relative=abs(x - y) / max(x, y),
                                    epoch=epoch, curve=curve, between=(a, b))
    if best['between'] is None:
        raise UsageError('max_gap needs two or more histories with epochs in common')
    return best


def gap_line(histories, tolerance=1e-3):
    """`max_gap` in a line, with its one judgement: the curves coincide within `tolerance`."""
    g = max_gap(histories)
    a, b = g['between']
    if g['gap'] == 0:
        return 'largest gap between the curves: 0.0e+00 perplexity: they are identical'
    verdict = (f'they coincide within {tolerance:.1%}' if g['relative'] <= tolerance else
               f'they differ by more than {tolerance:.1%}')
    return (f"largest gap between the curves: {g['gap']:.1e} perplexity (relative "
            f"{g['relative']:.1e}; {g['curve']}, epoch {g['epoch']}, {a} vs {b}): {verdict}")


def run_label(num_layers, dropout=0):
    """(1, 0) -> '1 layer'; (2, 0) -> '2 layers'; (3, 0.5) -> '3 layers, dropout 0.5'."""
    label = '1 layer' if num_layers == 1 else f'{num_layers} layers'
    return label + (f', dropout {dropout:g}' if dropout else '')


def best_run(histories):
    """The key of the run with the lowest validation perplexity (the first, in a tie)."""
    return min(histories, key=lambda key: best_epoch(histories[key])[0])


TABLE_COLUMNS = ('parameters', 'epochs', 'best val ppl', 'best epoch', 'seconds to best',
                 'final val ppl', 'final train ppl', 'tokens/s')


def run_table(histories, params):
    """A text table's lines, a row per run ({label: history}; `params`: {label: count})."""
    width = max(len(label) for label in ['run', *histories]) + 2
    lines = ['run'.ljust(width) + '  '.join(TABLE_COLUMNS)]
    for label, h in histories.items():
        r = result_row(h)
        cells = (f'{params[label]:,}', f"{r['epochs']}", f"{r['best_val_ppl']:.2f}",
                 f"{r['best_epoch']}", f"{r['best_seconds']:.1f}", f"{r['val_ppl']:.2f}",
                 f"{r['train_ppl']:.2f}", f"{r['tokens_per_sec']:,.0f}")
        lines.append(label.ljust(width) +
                     '  '.join(c.rjust(len(name)) for c, name in zip(cells, TABLE_COLUMNS)))
    return lines


# --- the current edition's d2l.Trainer (notebooks/deep-rnn-current-edition) ----------------

def fit(trainer, model, data):
    """`trainer.fit(model, data)`, d2l's own loop, timed; returns a history, as `train` does."""
    model.board.display = False  # drawn once after, by `plot_perplexity` of the history
    start = time.perf_counter()
    trainer.fit(model, data)
    npx.waitall()
    return board_history(model.board, trainer, data, time.perf_counter() - start)


def board_history(board, trainer, data, seconds):
    """A d2l `ProgressBoard` as a history: per epoch e, its training points in [e-1, e) averaged."""
    epochs = range(1, trainer.max_epochs + 1)
    train = [[p.y for p in board.data['train_ppl'] if math.floor(p.x) + 1 == e] for e in epochs]
    val = {round(p.x): p.y for p in board.data['val_ppl']}  # epoch e's at x = e
    ctx = trainer.gpus[0] if trainer.gpus else npx.cpu()
    rate = trainer.max_epochs * data.num_train * data.num_steps / seconds  # validation included
    n = len(epochs)
    return {'train_ppl': [sum(ys) / len(ys) for ys in train], 'val_ppl': [val[e] for e in epochs],
            'tokens_per_sec': [rate] * n, 'seconds': [seconds / n] * n,
            'epochs': trainer.max_epochs, 'ctx': str(ctx), 'unigram_ppl': data.unigram_perplexity()}


def named_arrays(model, prefix=''):
    """A d2l model's weights as NumPy copies by name, or by path for arrays ('rnn.rnns[0].W_xh')."""
    params = model.collect_params()
    if list(params.keys()):
        return {name: p.data().asnumpy().copy() for name, p in params.items()}
    arrays = {}
    for attr in dir(model):  # every array, not only those `get_scratch_params` finds
        value = getattr(model, attr, None)
        values = value if isinstance(value, list) else [value]
        for i, v in enumerate(values):
            name = prefix + attr + (f'[{i}]' if isinstance(value, list) else '')
            if isinstance(v, np.ndarray):
                arrays[name] = v.asnumpy().copy()
            elif isinstance(v, d2l.Module):
                arrays.update(named_arrays(v, name + '.'))
    return arrays


def moved(before, after):
    """(names whose values changed, names left exactly as they were), of `named_arrays`."""
    changed = [name for name in before if (before[name] != after[name]).any()]
    return changed, [name for name in before if name not in changed]


def trained_size(model):
    """Scalars in `model.parameters()`: what d2l's optimizer and clipping get."""
    params = model.parameters()
    arrays = params if isinstance(params, list) else [p.data() for p in params.values()]
    return sum(a.size for a in arrays)
