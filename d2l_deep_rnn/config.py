"""One small config object shared by the command line, the notebooks and the tests.

The defaults are the section's full configuration (the book's `RNNModel(rnn.LSTM(256, 2))`
trained with `train_ch8` for 500 epochs); `Config.small()` is the main job's default, which
still learns on a 2-core CPU in a few minutes, and `Config.tiny()` runs in seconds.
"""
import dataclasses
import numbers

CELLS = ('rnn', 'gru', 'lstm')
ACTIVATIONS = ('tanh', 'relu')


class UsageError(ValueError):
    """A bad setting or input: shown to the user as one line that says what to do."""


@dataclasses.dataclass
class Config:
    # data: the first `max_tokens` characters train, the last `val_tokens` validate
    batch_size: int = 32
    num_steps: int = 35
    max_tokens: int = 10000
    val_tokens: int = 5000
    use_random_iter: bool = False
    # model: L layers of h hidden units
    cell: str = 'lstm'
    num_layers: int = 2
    num_hiddens: int = 256
    activation: str = 'tanh'
    # training: the book's SGD with gradient clipping
    lr: float = 2.0
    clip: float = 1.0
    num_epochs: int = 500
    seed: int = 0

    @classmethod
    def small(cls, **changes):
        """The main job's default: the section's equations as written (a 2-layer tanh RNN),
        which learns within a few minutes on a 2-core CPU, from scratch too. (The 2-layer
        LSTM sits at the unigram perplexity, about 17.5, for its first 80 epochs or more.)"""
        return cls(**{**dict(cell='rnn', lr=1.0, num_epochs=100), **changes})

    @classmethod
    def tiny(cls, **changes):
        """A few seconds of training, for tests and smoke runs."""
        return cls(**{**dict(num_hiddens=32, num_epochs=2, max_tokens=2000,
                             val_tokens=1000, num_steps=10, batch_size=8), **changes})

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Raise `UsageError` naming the first setting that is out of range."""
        for name in ('batch_size', 'num_steps', 'num_layers', 'num_hiddens', 'num_epochs'):
            check_positive_int(name, getattr(self, name))
        for name in ('lr', 'clip'):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not value > 0 or value == float('inf')):
                raise UsageError(f'{name} must be a positive number, got {value!r}')
        check_positive_int('val_tokens', self.val_tokens, allow_zero=True)
        if self.max_tokens != -1:
            check_positive_int('max_tokens', self.max_tokens)
        check_choice('cell', self.cell, CELLS)
        check_choice('activation', self.activation, ACTIVATIONS)
        check_positive_int('seed', self.seed, allow_zero=True)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def as_dict(self):
        return dataclasses.asdict(self)


def check_positive_int(name, value, allow_zero=False):
    """Raise `UsageError` unless `value` is an int > 0 (or >= 0)."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        kind = 'a non-negative' if allow_zero else 'a positive'
        raise UsageError(f'{name} must be {kind} integer, got {value!r}')


def check_choice(name, value, choices):
    if value not in choices:
        raise UsageError(f'{name} must be one of {", ".join(choices)}; got {value!r}')
