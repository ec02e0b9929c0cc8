"""Helpers for the notebooks (no command imports them): the small-run switch, figures shown as
PNG (the same with the inline backend for people and with Agg in tests), and a perplexity
plot that redraws during training; for the current edition's notebook, a timed `d2l.Trainer`
fit read back as a history, and which weights a fit moved."""
import io
import math
import time

from d2l import mxnet as d2l
from mxnet import np, npx

from .callbacks import Callback
from .config import check_positive_int
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
    """Display `fig` in the notebook as a PNG, whatever matplotlib's backend; with `handle`
    (what an earlier call returned), replace that output in place. Returns the handle."""
    from IPython.display import Image, display
    image = Image(data=figure_png(fig), format='png')
    if handle is None:
        return display(image, display_id=True)
    handle.update(image)
    return handle


class LivePlot:
    """Perplexity curves that redraw while `train` runs, in one notebook output.

    `train(..., callbacks=[Progress(), live.curve('label')])` adds a run; the figure
    (`plot_perplexity` of every run added so far) is redrawn after every
    `num_epochs // updates` epochs and after the last one, not after every epoch.
    """

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


# --- the current edition's d2l.Trainer (notebooks/deep-rnn-current-edition) ----------------

def fit(trainer, model, data):
    """`trainer.fit(model, data)`, d2l's own loop, timed. The progress board records every
    point as usual but is not drawn during training (`plot_perplexity` of the history draws
    it once). Returns the run's history, as `train` returns one."""
    model.board.display = False
    start = time.perf_counter()
    trainer.fit(model, data)
    npx.waitall()
    return board_history(model.board, trainer, data, time.perf_counter() - start)


def board_history(board, trainer, data, seconds):
    """A d2l `ProgressBoard`'s points as a history: per epoch, the mean of its training points
    (x in [e-1, e)) and its validation point (x = e); tokens/s over the whole fit, validation
    included."""
    epochs = range(1, trainer.max_epochs + 1)
    train = [[p.y for p in board.data['train_ppl'] if math.floor(p.x) + 1 == e] for e in epochs]
    val = {round(p.x): p.y for p in board.data['val_ppl']}
    ctx = trainer.gpus[0] if trainer.gpus else npx.cpu()
    rate = trainer.max_epochs * data.num_train * data.num_steps / seconds
    return {'train_ppl': [sum(ys) / len(ys) for ys in train], 'val_ppl': [val[e] for e in epochs],
            'tokens_per_sec': [rate] * len(epochs), 'seconds': [seconds / len(epochs)] * len(epochs),
            'epochs': trainer.max_epochs, 'ctx': str(ctx), 'unigram_ppl': data.unigram_perplexity()}


def named_arrays(model, prefix=''):
    """Every weight of a d2l model by name, as NumPy copies: Gluon parameters by their names;
    plain arrays by attribute path ('rnn.rnns[0].W_xh'), lists included, whether or not d2l's
    `get_scratch_params` finds them."""
    params = model.collect_params()
    if list(params.keys()):
        return {name: p.data().asnumpy().copy() for name, p in params.items()}
    arrays = {}
    for attr in dir(model):
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
    """Scalars in what d2l's optimizer and clipping get: `model.parameters()`, plain arrays
    or Gluon parameters."""
    params = model.parameters()
    arrays = params if isinstance(params, list) else [p.data() for p in params.values()]
    return sum(a.size for a in arrays)
