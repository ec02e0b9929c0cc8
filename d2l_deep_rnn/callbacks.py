"""`train`'s extras as callbacks (Keras and Lightning style): the base class, `CallbackList`,
`Run`, and the extras that need nothing but the history (checkpoints: `checkpoint`; per-layer
figures: `diagnostics`). How `train` calls them and in which order: docs/package.md."""
import dataclasses
import sys

from .config import UsageError, check_lr_decay, check_positive_int


@dataclasses.dataclass
class Run:
    """The run a callback serves (`self.run`), as `train` hands it before the first epoch."""
    net: object
    trainer: object
    vocab: object
    num_epochs: int
    clip: float
    optimizer: str
    is_main_process: bool = True  # it prints and writes: rank 0 (always, in one process)


class Callback:
    """Something `train` calls at the start, around each epoch and each step, and at the end."""

    needs_validation = False  # True: it follows the validation perplexity (needs val_iter)
    uses_the_optimizer = False  # True: it saves or sets the optimizer (not on dist_async)

    def bind(self, run):
        """Before anything else: the run this callback serves (`self.run`)."""
        self.run = run

    def resumed_history(self):
        """The history of an earlier run to continue (a checkpoint's), or None."""
        return None

    def on_train_begin(self, history):
        """Before the first epoch of this call (a resumed history holds earlier ones)."""

    def on_epoch_begin(self, history):
        """Before each epoch; `history['epochs']` is the last finished one."""

    def on_batch_begin(self, X):
        """Before each step: X, the batch's rows on the first device (batch_size, num_steps)."""

    def on_after_backward(self):
        """After each backward pass and the devices' sum, before clipping and the update."""

    def on_epoch_end(self, history):
        """After each epoch, its perplexities in `history`; True asks `train` to stop."""
        return False

    def on_train_end(self, history):
        """After the last epoch (not after an error), before `train` returns `history`."""


class CallbackList(Callback):
    """Several callbacks called as one, in the list's order (Keras's): one line in the loop."""

    def __init__(self, callbacks=()):
        self.callbacks = list(callbacks)

    def bind(self, run):
        for callback in self.callbacks:
            callback.bind(run)

    def resumed_history(self):
        """The first history a callback resumes (a checkpoint's), or None."""
        return next(filter(None, (c.resumed_history() for c in self.callbacks)), None)

    def on_train_begin(self, history):
        for callback in self.callbacks:
            callback.on_train_begin(history)

    def on_epoch_begin(self, history):
        for callback in self.callbacks:
            callback.on_epoch_begin(history)

    def on_batch_begin(self, X):
        for callback in self.callbacks:
            callback.on_batch_begin(X)

    def on_after_backward(self):
        for callback in self.callbacks:
            callback.on_after_backward()

    def on_epoch_end(self, history):
        """True if any callback asks to stop; every one is called all the same."""
        return any([callback.on_epoch_end(history) for callback in self.callbacks])

    def on_train_end(self, history):
        for callback in self.callbacks:
            callback.on_train_end(history)


class DecayOnPlateau(Callback):
    """Divide the learning rate by `factor` after each epoch without a better validation ppl."""

    needs_validation = uses_the_optimizer = True

    def __init__(self, factor):
        check_lr_decay(factor)
        self.factor = factor

    def on_train_begin(self, history):
        history.setdefault('lr', [])  # each epoch's rate: a resumed run goes on alike

    def on_epoch_begin(self, history):
        rate = self.run.trainer.learning_rate
        if history['lr']:  # the rate after the last epoch's verdict: was it the best so far?
            improved = history['best_epoch'] == history['epochs']
            rate = history['lr'][-1] / (1 if improved else self.factor)
        self.run.trainer.set_learning_rate(rate)
        history['lr'].append(rate)


class EarlyStopping(Callback):
    """Stop after `patience` epochs in a row without a better validation perplexity."""

    needs_validation = True

    def __init__(self, patience):
        check_positive_int('patience', patience)
        self.patience = patience

    def on_epoch_end(self, history):
        return history['epochs'] - history['best_epoch'] >= self.patience


class Progress(Callback):
    """A progress line every `every` epochs, after the first and the last, by the main process."""

    def __init__(self, every=None):
        if every is not None:
            check_positive_int('every', every)
        self.every, self.shown = every, None

    def on_epoch_end(self, history):
        epoch, last = history['epochs'], self.run.num_epochs
        if epoch % (self.every or max(1, last // 20)) == 0 or epoch in (1, last):
            self.show(history)
        return False

    def on_train_end(self, history):
        if self.shown is not None and self.shown != history['epochs']:
            self.show(history)

    def show(self, history):
        if self.run.is_main_process:
            print(progress_line(history, self.run.num_epochs), file=sys.stdout, flush=True)
        self.shown = history['epochs']


def progress_line(history, num_epochs):
    """'DeepRNN  epoch  10/100  train ppl 8.42  val ppl 9.10 (unigram 17.2)  35,120 tokens/s'"""
    epoch = history['epochs']
    line = (f"{history['model']:<15} epoch {epoch:>{len(str(num_epochs))}}/{num_epochs}"
            f"  train ppl {history['train_ppl'][-1]:6.2f}")
    if history['val_ppl']:
        line += f"  val ppl {history['val_ppl'][-1]:6.2f}"
        if 'unigram_ppl' in history:
            line += f" (unigram {history['unigram_ppl']:.1f})"
    rate, elapsed = history['tokens_per_sec'][-1], sum(history['seconds'])
    return line + f'  {rate:9,.0f} tokens/s  {elapsed:6.1f} s'


class OnEpoch(Callback):
    """The caller's `on_epoch(history)` after each epoch (the notebooks' live plot)."""

    def __init__(self, on_epoch):
        if not callable(on_epoch):
            raise UsageError(f'OnEpoch takes a function of the history, such as '
                             f'OnEpoch(lambda history: print(history["epochs"])); '
                             f'got {on_epoch!r}')
        self.on_epoch = on_epoch

    def on_epoch_end(self, history):
        self.on_epoch(history)
        return False
