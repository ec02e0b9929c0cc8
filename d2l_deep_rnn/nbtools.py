"""Helpers for the notebooks (no command imports them): the small-run switch, figures shown as
PNG (the same with the inline backend for people and with Agg in tests), and a perplexity
plot that redraws during training."""
import io

from .callbacks import Callback
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
