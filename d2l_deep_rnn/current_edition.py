"""The section as the current edition (d2l 1.0.3) teaches it, working, under the book's names and
signatures: `StackedRNNScratch` (every layer trained), `StackedRNN` (rnn, gru and lstm cells),
`DeepRNNLM` (our models for `d2l.Trainer.fit`) and `TimeMachine` (our checked corpus, offline).
"""
from d2l import mxnet as d2l
from mxnet import init

from .config import UsageError, check_model, check_positive_int, check_positive_number
from .data import find_corpus, unigram_perplexity
from .generate import predict
from .cells import check_model_size
from .gluon_model import DROPPING_LAYERS, DeepRNN
from .params import is_frozen, is_initialized
from .scratch_model import DeepRNNScratch


def check_sizes(**sizes):
    """Each size a positive int, else a line naming it (not in `__init__`: d2l saves its locals)."""
    for name, value in sizes.items():
        check_positive_int(name, value)


class StackedRNNScratch(d2l.Module):
    """`num_layers` of the edition's `d2l.RNNScratch`, in a list as in the book, all trained."""

    def __init__(self, num_inputs, num_hiddens, num_layers, sigma=0.01):
        super().__init__()
        check_sizes(num_inputs=num_inputs, num_hiddens=num_hiddens, num_layers=num_layers)
        check_model_size(num_inputs, num_hiddens, num_layers, 'rnn', fused=False)
        check_positive_number('sigma', sigma, " (the weights' deviation: the book's 0.01)")
        self.save_hyperparameters()
        self.rnns = [d2l.RNNScratch(num_inputs if i == 0 else num_hiddens, num_hiddens, sigma)
                     for i in range(num_layers)]
        for i, layer in enumerate(self.rnns):  # Gluon's children too: no container warning
            self.register_child(layer, f'layer{i + 1}')

    def forward(self, inputs, Hs=None):
        """(num_steps, batch, num_inputs) -> top layer's (num_steps, batch, h), an H per layer."""
        outputs, Hs = inputs, list(Hs) if Hs is not None else [None] * self.num_layers
        for i, layer in enumerate(self.rnns):  # H_t^(i+1) from H_t^(i) and H_{t-1}^(i+1)
            outputs, Hs[i] = layer(outputs, None if Hs[i] is None else (Hs[i],))
            outputs = d2l.stack(outputs, 0)  # the list of steps -> (num_steps, batch, h)
        return outputs, Hs

    def get_scratch_params(self):
        """Every layer's W_xh, W_hh, b_h, for the optimizer and clipping (d2l's own skips lists)."""
        return [param for layer in self.rnns for param in layer.get_scratch_params()]


class StackedRNN(d2l.RNN):
    """The concise deep RNN as a `d2l.RNN`: fused rnn (tanh), gru or lstm; dropout on a CPU too."""

    def __init__(self, num_hiddens, num_layers, cell='gru', dropout=0):
        d2l.Module.__init__(self)
        check_model(num_hiddens, num_layers, cell, 'tanh', dropout, 0.0, 0.0)
        check_model_size(num_hiddens, num_hiddens, num_layers, cell, fused=True)  # inputs: >= 1
        self.save_hyperparameters()
        extra = {'activation': 'tanh'} if cell == 'rnn' else {}  # rnn.RNN's default is relu
        self.rnn = DROPPING_LAYERS[cell](num_hiddens, num_layers, dropout=dropout, **extra)

    def forward(self, inputs, state=None):
        """`state`: H (num_layers, batch, h), or the LSTM's (H, C) that `d2l.RNN` can't unpack."""
        if state is None:
            state = self.rnn.begin_state(inputs.shape[1], ctx=inputs.ctx)
        elif not isinstance(state, (list, tuple)):
            state = [state]  # d2l.RNN's single H
        outputs, state = self.rnn(inputs, list(state))
        return outputs, state[0] if len(state) == 1 else tuple(state)


class DeepRNNLM(d2l.RNNLMScratch):
    """Our `DeepRNN` or `DeepRNNScratch` for `d2l.Trainer(...).fit(DeepRNNLM(net, lr=2), data)`."""

    def __init__(self, net, lr=0.01):
        if not isinstance(net, (DeepRNN, DeepRNNScratch)):
            raise UsageError(f'DeepRNNLM takes a DeepRNN or a DeepRNNScratch, got '
                             f'{type(net).__name__}; for d2l\'s own rnn blocks use d2l.RNNLM')
        check_positive_number('lr', lr, " (the section's 2)")
        d2l.Classifier.__init__(self)
        vocab_size = net.vocab_size  # noqa: F841  (save_hyperparameters keeps it, for d2l)
        self.save_hyperparameters()
        self.init_params()

    def init_params(self):
        """Draw the weights as the book does (N(0, 0.01^2), zero biases) unless they are set."""
        if not all(is_initialized(p) for p in self.net.collect_params().values()):
            self.net.initialize(init.Normal(0.01), force_reinit=True)

    def forward(self, X, state=None):
        """Logits (batch, num_steps, vocab), batch-major as d2l's loss flattens them; X: tokens."""
        Y, _ = self.net(X, state)  # (num_steps * batch_size, vocab_size), time-major; None: zeros
        return Y.reshape(X.shape[1], X.shape[0], -1).swapaxes(0, 1)

    def parameters(self):
        """The section's parameters by name, without our frozen biases: the same in both models."""
        return {name: p for name, p in self.collect_params().items() if not is_frozen(p)}

    def predict(self, prefix, num_preds, vocab, device=None):
        """`prefix` and `num_preds` greedy characters (the package's `predict`)."""
        return predict(prefix, num_preds, self.net, vocab, device)


class TimeMachine(d2l.TimeMachine):
    """d2l's windows from our checked corpus: `data_dir`, else $D2L_DEEP_RNN_DATA, else cache."""

    def __init__(self, batch_size, num_steps, num_train=10000, num_val=5000, data_dir=None):
        check_sizes(batch_size=batch_size, num_steps=num_steps, num_train=num_train,
                    num_val=num_val)
        self.data_dir = data_dir
        super().__init__(batch_size, num_steps, num_train, num_val)

    def build(self, raw_text, vocab=None):
        """d2l's tokens and vocabulary, checked against the sizes asked before windows are made."""
        corpus, vocab = super().build(raw_text, vocab)
        windows = len(corpus) - self.num_steps
        if self.num_train + self.num_val > windows:
            raise UsageError(f'num_train + num_val = {self.num_train + self.num_val} exceeds '
                             f'the {max(windows, 0)} windows of {self.num_steps} steps in the '
                             f'corpus; lower them or num_steps')
        if self.batch_size > self.num_train:
            raise UsageError(f'batch_size {self.batch_size} is more than num_train '
                             f'{self.num_train}: not one whole batch to train on; lower '
                             f'batch_size or raise num_train')
        return corpus, vocab

    def unigram_perplexity(self):
        """Validation perplexity of the training characters' frequencies: a no-context plateau."""
        train = self.X[:self.num_train].asnumpy().astype(int).ravel().tolist()
        val = self.Y[self.num_train:self.num_train + self.num_val].asnumpy().astype(int)
        return unigram_perplexity(train, val.ravel().tolist(), len(self.vocab))

    def _download(self):
        with open(find_corpus(self.data_dir), encoding='utf-8') as f:
            return f.read()
