"""`train`'s extras as callbacks (Keras and Lightning style): one base class whose hooks do
nothing, and `Run`, what `train` hands every callback before the first epoch.

`train` calls each hook on every callback, in the list's order. A callback learns what it
needs from `train` (the `Run`, the history `train` keeps), never from another callback: a
stop request is `on_epoch_end`'s return value, and `train` itself records the epoch it
stopped on (`stopped_early`). The one order that matters is of weights, not keys: a callback
that puts other weights back at the end (`KeepBest`) comes after the checkpoint, whose last
save holds the last epoch's weights (`training.callbacks_for` orders them so).
"""
import dataclasses


@dataclasses.dataclass
class Run:
    """The training run a callback serves: the model, its Gluon `Trainer`, the vocabulary
    (saved with checkpoints), the epochs asked for, the clipping threshold, the optimizer's
    name, and `lead`: whether this process prints and writes (rank 0 of a parameter-server
    job; always, alone)."""
    net: object
    trainer: object
    vocab: object
    num_epochs: int
    clip: float
    optimizer: str
    lead: bool = True


class Callback:
    """Something `train` calls at the start, before and after each epoch and each step, and
    at the end."""

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
