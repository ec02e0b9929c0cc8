"""One config object for the command line, the notebooks and the tests. Its defaults are the
section's full run (the book's `RNNModel(rnn.LSTM(256, 2))`, `train_ch8`, 500 epochs);
`Config.small()`, the main job's, learns in minutes on a 2-core CPU; `Config.tiny()` in seconds.
"""
import dataclasses
import numbers
import os

CELLS = ('rnn', 'gru', 'lstm')
CHARS = ('book', 'all')
OPTIMIZERS = ('sgd', 'adam')
ACTIVATIONS = ('tanh', 'relu')


class UsageError(ValueError):
    """A bad setting or input: shown to the user as one line that says what to do."""


def setting(default, help, flag=None):
    """A `Config` field with the help (and flag, if not --field-name) the commands' flags get."""
    return dataclasses.field(default=default, metadata={'help': help, 'flag': flag})


@dataclasses.dataclass
class Config:
    # data: the first `max_tokens` characters train, the last `val_tokens` validate
    texts: tuple = setting((), "UTF-8 text files instead of the Time Machine: the first one's "
                               "tail validates, the rest of it and the others train "
                               "('timemachine' names the book)", flag='--text')
    chars: str = setting('book', "book: letters and spaces, lowercase (the section's); all: "
                                 "every character as it is (char-rnn's)")
    batch_size: int = setting(32, 'sequences per minibatch')
    num_steps: int = setting(35, 'time steps per sequence')
    max_tokens: int = setting(10000, 'training characters (-1: all but the held-out tail)')
    val_tokens: int = setting(5000, 'held-out characters at the end of the book (or the '
                                    'first text)')
    use_random_iter: bool = setting(False, 'random sampling instead of sequential '
                                           'partitioning', flag='--random-iter')
    # model: L layers of h hidden units
    cell: str = setting('lstm', 'rnn, gru or lstm')
    num_layers: int = setting(2, 'hidden layers L')
    num_hiddens: int = setting(256, 'hidden units h per layer')
    activation: str = setting('tanh', 'phi for --cell rnn: tanh or relu')
    dropout: float = setting(0.0, 'dropout on each layer\'s output before the next layer '
                                  '(0: none, as the section)')
    output_dropout: float = setting(0.0, 'dropout on the top layer\'s output before the '
                                         'output layer (0: none, as the section)')
    weight_dropout: float = setting(0.0, 'DropConnect on each layer\'s recurrent weights '
                                         'W_hh, one mask per batch (0: none, as the section)')
    # training: the book's SGD with gradient clipping (or Adam after the same clipping)
    optimizer: str = setting('sgd', "sgd (the book's) or adam (for held-out perplexity)")
    lr: float = setting(2.0, 'learning rate (the book\'s SGD: 1 to 2; Adam: about 0.003)')
    clip: float = setting(1.0, 'gradient norm clipping threshold')
    num_epochs: int = setting(500, 'training epochs', flag='--epochs')
    seed: int = setting(0, 'seed for weights and data order')
    # training for held-out perplexity: all off by default, as in the book
    lr_decay: float = setting(1.0, 'divide the learning rate by this after an epoch that did '
                                   'not improve validation perplexity (1: never)')
    patience: int = setting(0, 'stop after this many epochs without a better validation '
                               'perplexity (0: never)')
    keep_best: bool = setting(False, 'end with the weights of the best validation epoch '
                                     '(saved in <save>/<model>/best too)')

    @classmethod
    def small(cls, **changes):
        """The main job's: the section's 2-layer tanh RNN learns in minutes, from scratch too.

        (The 2-layer LSTM sits at the unigram perplexity, about 17.5, for 80 epochs or more.)
        """
        return cls(**{**dict(cell='rnn', lr=1.0, num_epochs=100), **changes})

    @classmethod
    def tiny(cls, **changes):
        """A few seconds of training, for tests and smoke runs."""
        return cls(**{**dict(num_hiddens=32, num_epochs=2, max_tokens=2000,
                             val_tokens=1000, num_steps=10, batch_size=8), **changes})

    def __post_init__(self):
        if isinstance(self.texts, (str, os.PathLike)):  # one text
            self.texts = (self.texts,)
        if isinstance(self.texts, (list, tuple)):  # a list: as the command line and JSON give
            self.texts = tuple(os.fspath(t) if isinstance(t, os.PathLike) else t
                               for t in self.texts)
        self.validate()

    def validate(self):
        """Raise `UsageError` naming the first setting that is out of range."""
        for name in ('batch_size', 'num_steps', 'num_epochs'):
            check_positive_int(name, getattr(self, name))
        for name in ('lr', 'clip'):
            check_positive_number(name, getattr(self, name))
        check_positive_int('val_tokens', self.val_tokens, allow_zero=True)
        if self.max_tokens != -1:
            check_positive_int('max_tokens', self.max_tokens)
        check_model(**{name: getattr(self, name) for name in MODEL_FIELDS})
        check_choice('optimizer', self.optimizer, OPTIMIZERS)
        check_seed(self.seed)
        check_lr_decay(self.lr_decay)
        check_positive_int('patience', self.patience, allow_zero=True)
        check_switch('use_random_iter', self.use_random_iter)
        check_switch('keep_best', self.keep_best)
        check_choice('chars', self.chars, CHARS)
        if not isinstance(self.texts, tuple) or not all(
                isinstance(t, str) and t for t in self.texts):
            raise UsageError(f'texts must be a tuple of file paths (or \'timemachine\'), '
                             f'got {self.texts!r}')

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def as_dict(self):
        return dataclasses.asdict(self)

    @staticmethod
    def flag(name):
        """The command-line flag of field `name`: '--num-hiddens', '--epochs'."""
        field = next(f for f in dataclasses.fields(Config) if f.name == name)
        return field.metadata['flag'] or '--' + name.replace('_', '-')


def check_config(config):
    """Refuse what is not a `Config` (UsageError), where a function takes one whole."""
    if not isinstance(config, Config):
        raise UsageError(f'config must be a Config, such as Config.small() or '
                         f'Config(num_layers=3); got {config!r}')


MODEL_FIELDS = ('num_hiddens', 'num_layers', 'cell', 'activation', 'dropout', 'output_dropout',
                'weight_dropout')  # the settings both models take, as Config names them


def check_model(num_hiddens, num_layers, cell, activation, dropout=0.0, output_dropout=0.0,
                weight_dropout=0.0):
    """Raise `UsageError` naming the first bad model setting: Config's and both models' check."""
    check_positive_int('num_hiddens', num_hiddens)
    check_positive_int('num_layers', num_layers)
    check_choice('cell', cell, CELLS)
    check_choice('activation', activation, ACTIVATIONS)
    if cell != 'rnn' and activation != 'tanh':
        raise UsageError(f"activation={activation!r} applies only to cell='rnn'; "
                         f"GRU and LSTM cells use tanh")
    for name, p in (('dropout', dropout), ('output_dropout', output_dropout),
                    ('weight_dropout', weight_dropout)):
        check_dropout(p, name)


def check_positive_int(name, value, allow_zero=False):
    """Raise `UsageError` unless `value` is an int > 0 (or >= 0)."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        kind = 'a non-negative' if allow_zero else 'a positive'
        raise UsageError(f'{name} must be {kind} integer, got {value!r}')


def is_number(value):
    """A real number, and not a bool (True would pass as 1)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_number(name, value, hint=''):
    """Raise `UsageError` unless `value` is a finite real number > 0 (`hint`: what to give)."""
    if not is_number(value) or not 0 < value < float('inf'):
        raise UsageError(f'{name} must be a positive number{hint}, got {value!r}')


MAX_SEED = 2**32 - 1  # NumPy's generators take no larger seed


def check_seed(seed, name='seed'):
    """Refuse a seed outside [0, 2**32 - 1], which Python's, NumPy's and MXNet's generators take."""
    check_positive_int(name, seed, allow_zero=True)
    if seed > MAX_SEED:
        raise UsageError(f'{name} must be between 0 and 2**32 - 1 ({MAX_SEED}), got {seed}')


def check_lr_decay(factor):
    """Refuse a learning-rate decay factor that is not a finite number >= 1 (UsageError)."""
    if not is_number(factor) or not 1 <= factor < float('inf'):
        raise UsageError(f'lr_decay must be a number >= 1 (1: no decay), got {factor!r}')


def check_dropout(p, name='dropout'):
    """Refuse a dropout probability outside [0, 1) (UsageError)."""
    if not is_number(p) or not 0 <= p < 1:
        raise UsageError(f'{name} must be a number in [0, 1), got {p!r}')


def check_switch(name, value):
    """Refuse anything but True or False: 'bogus' or 0 would pass as a truth value and choose."""
    if not isinstance(value, bool):
        raise UsageError(f'{name} must be True or False, got {value!r}')


def check_choice(name, value, choices):
    if value not in choices:
        raise UsageError(f'{name} must be one of {", ".join(choices)}; got {value!r}')
