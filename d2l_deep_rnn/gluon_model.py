"""The concise deep RNN: MXNet's fused `rnn.RNN/GRU/LSTM(num_hiddens, num_layers)` plus a
dense output layer, as the book's `RNNModel` (one-hot inputs, time-major outputs)."""
from mxnet.gluon import nn, rnn

from . import dropout as dropouts
from .cells import check_model_size
from .config import check_model, check_positive_int
from .params import freeze


class FusedWithDropout:
    """A fused layer that, to drop, runs each layer as its own call (oneDNN ignores `dropout`)."""

    def __init__(self, *args, weight_dropout=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self._weight_dropout = weight_dropout

    def _forward_kernel(self, F, inputs, states, sequence_length, **kwargs):
        if not (self._dropout or self._weight_dropout):
            return super()._forward_kernel(F, inputs, states, sequence_length, **kwargs)
        H, finals = inputs, []  # H: (num_steps, batch_size, inputs), time-major
        for l in range(self._num_layers):
            weights = {g: kwargs[f'l{l}_{g}_weight'] for g in ('i2h', 'h2h')}
            if self._weight_dropout:  # (G*h, h): every gate's W_hh, one mask for all steps
                weights['h2h'] = dropouts.recurrent_weights(F, weights['h2h'],
                                                            self._weight_dropout)
            params = F.np._internal.rnn_param_concat(  # the fused kernel's packing, one layer
                *[weights[g].reshape(-1) for g in ('i2h', 'h2h')],
                *[kwargs[f'l{l}_{g}_bias'].reshape(-1) for g in ('i2h', 'h2h')], dim=0)
            out = F.npx.rnn(H, params, *[s[l:l + 1] for s in states], state_size=self._hidden_size,
                            num_layers=1, p=0.0, state_outputs=True, mode=self._mode)
            H, finals = out[0], finals + [out[1:]]  # H: layer l's output at every step
            if self._dropout and l < self._num_layers - 1:
                H = dropouts.between_layers(F, H, self._dropout)
        return H, [F.np.concatenate([f[k] for f in finals], axis=0) for k in range(len(states))]


class RNN(FusedWithDropout, rnn.RNN):
    pass


class GRU(FusedWithDropout, rnn.GRU):
    pass


class LSTM(FusedWithDropout, rnn.LSTM):
    pass


FUSED_LAYERS = {'rnn': rnn.RNN, 'gru': rnn.GRU, 'lstm': rnn.LSTM}  # MXNet's, as the book uses
DROPPING_LAYERS = {'rnn': RNN, 'gru': GRU, 'lstm': LSTM}


class DeepRNN(nn.HybridBlock):
    """`num_layers` fused recurrent layers of `num_hiddens` units, then O_t = H_t^(L) W_hq + b_q.

    `Y, state = net(X, state)`: X tokens (batch_size, num_steps); Y logits (num_steps *
    batch_size, vocab_size), time-major; state [H], or [H, C] for the LSTM, each
    (num_layers, batch_size, num_hiddens).
    """

    def __init__(self, vocab_size, num_hiddens, num_layers, cell='lstm', activation='tanh',
                 dropout=0.0, output_dropout=0.0, weight_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int('vocab_size', vocab_size)
        check_model(num_hiddens, num_layers, cell, activation, dropout, output_dropout,
                    weight_dropout)
        check_model_size(vocab_size, num_hiddens, num_layers, cell, fused=True)
        self.vocab_size, self.num_hiddens, self.num_layers = vocab_size, num_hiddens, num_layers
        self.cell, self.activation, self.dropout = cell, activation, dropout
        self.output_dropout, self.weight_dropout = output_dropout, weight_dropout
        extra = {'activation': activation} if cell == 'rnn' else {}  # rnn.RNN defaults to relu
        with self.name_scope():
            self.rnn = DROPPING_LAYERS[cell](num_hiddens, num_layers, dropout=dropout,
                                             weight_dropout=weight_dropout,
                                             input_size=vocab_size, **extra)
            self.dense = nn.Dense(vocab_size, in_units=num_hiddens)
        for l in range(num_layers):
            freeze(getattr(self.rnn, f'l{l}_h2h_bias'))  # i2h_bias is b_h: docs/differences.md

    def forward(self, inputs, state=None):
        """`Y, state = net(X, state)`; without a state, zeros (as d2l 1.0.3's models start)."""
        if state is None:
            state = self.begin_state(inputs.shape[0], ctx=inputs.ctx)
        return super().forward(inputs, state)

    def hybrid_forward(self, F, inputs, state):
        X = F.npx.one_hot(inputs.T, self.vocab_size)  # (num_steps, batch_size, vocab_size)
        Y, state = self.rnn(X, state)  # Y: (num_steps, batch_size, num_hiddens), layer L only
        if self.output_dropout:
            Y = dropouts.before_output(F, Y, self.output_dropout)
        output = self.dense(Y.reshape(-1, self.num_hiddens))  # (num_steps*batch_size, vocab)
        return output, state

    def hybridize(self, active=True, **kwargs):
        """Gluon's, remembered in `compiled`: `train` hybridizes models unless set to False."""
        self.compiled = active
        super().hybridize(active, **kwargs)

    def begin_state(self, batch_size, ctx=None):
        """Zero states in the rnn layer's own format: [H] or [H, C], (L, batch_size, h) each."""
        kwargs = {'ctx': ctx} if ctx is not None else {}
        return self.rnn.begin_state(batch_size=batch_size, **kwargs)
