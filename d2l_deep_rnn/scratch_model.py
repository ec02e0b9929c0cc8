"""The deep RNN from scratch: the section's equations, layer by layer and step by step.

    H_t^(l) = phi(H_t^(l-1) W_xh^(l) + H_{t-1}^(l) W_hh^(l) + b_h^(l)),  H_t^(0) = X_t (one-hot)
    O_t     = H_t^(L) W_hq + b_q

GRU and LSTM layers replace the H_t^(l) line by their gated update, one (W_x*, W_h*, b_*) per
gate. `forward_steps` computes in this order; `fast_scratch`'s faster schedule is the default.
"""
import mxnet as mx
from mxnet import init, np, npx
from mxnet.gluon import nn

from .config import check_model, check_positive_int, check_switch
from . import dropout as dropouts
from .fast_scratch import FastSchedule
from .cells import GATES, check_model_size
from .params import freeze

WEIGHT_INIT = init.Normal(0.01)  # the book's scratch models: N(0, 0.01^2) weights, zero biases


class ScratchLayer(nn.HybridBlock):
    """One hidden layer for one time step: (H_t^(l-1), state_{t-1}^(l)) -> state_t^(l)."""

    gates = ''  # `cells.GATES`: each gate g has W_xg (num_inputs, h), W_hg (h, h), b_g (h,)

    def __init__(self, num_inputs, num_hiddens, **kwargs):
        super().__init__(**kwargs)
        self.num_hiddens = num_hiddens
        with self.name_scope():
            for g in self.gates:
                self.add_param(f'W_x{g}', (num_inputs, num_hiddens), WEIGHT_INIT)
                self.add_param(f'W_h{g}', (num_hiddens, num_hiddens), WEIGHT_INIT)
                self.add_param(f'b_{g}', (num_hiddens,), 'zeros')

    def add_param(self, name, shape, initializer):
        setattr(self, name, self.params.get(name, shape=shape, init=initializer))

    def with_dropped_weights(self, ctx, p):
        """This layer's step, (H_t^(l-1), state) -> state, with W_h* dropped once for the batch."""
        weights = {name: w.data(ctx) for name, w in self._reg_params.items()}
        for name in weights:
            if name.startswith('W_h'):
                weights[name] = dropouts.recurrent_weights(mx, weights[name], p)
        return lambda X, *state: self.hybrid_forward(mx.nd, X, *state, **weights)


class RNNLayerScratch(ScratchLayer):
    """H_t^(l) = phi(H_t^(l-1) W_xh^(l) + H_{t-1}^(l) W_hh^(l) + b_h^(l))."""

    gates = GATES['rnn']

    def __init__(self, num_inputs, num_hiddens, activation='tanh', **kwargs):
        super().__init__(num_inputs, num_hiddens, **kwargs)
        self.activation = activation

    def hybrid_forward(self, F, X, H, W_xh, W_hh, b_h):
        phi = F.np.tanh if self.activation == 'tanh' else F.npx.relu
        H = phi(F.np.dot(X, W_xh) + F.np.dot(H, W_hh) + b_h)
        return (H,)


class GRULayerScratch(ScratchLayer):
    """The fused kernel's GRU: the reset gate scales (H_{t-1} W_hh + b_hh) (docs/differences.md)."""

    gates = GATES['gru']

    def __init__(self, num_inputs, num_hiddens, **kwargs):
        super().__init__(num_inputs, num_hiddens, **kwargs)
        with self.name_scope():
            self.add_param('b_hh', (num_hiddens,), 'zeros')
        freeze(self.b_hh)  # the fused layer's candidate `h2h_bias`: frozen as in `DeepRNN`

    def hybrid_forward(self, F, X, H, W_xr, W_hr, b_r, W_xz, W_hz, b_z, W_xh, W_hh, b_h, b_hh):
        dot, sigmoid = F.np.dot, F.npx.sigmoid
        R = sigmoid(dot(X, W_xr) + dot(H, W_hr) + b_r)  # reset gate
        Z = sigmoid(dot(X, W_xz) + dot(H, W_hz) + b_z)  # update gate
        H_tilde = F.np.tanh(dot(X, W_xh) + b_h + R * (dot(H, W_hh) + b_hh))  # candidate
        H = Z * H + (1 - Z) * H_tilde
        return (H,)


class LSTMLayerScratch(ScratchLayer):
    """Long short-term memory: input, forget and output gates, candidate memory C_tilde."""

    gates = GATES['lstm']

    def hybrid_forward(self, F, X, H, C, W_xi, W_hi, b_i, W_xf, W_hf, b_f,
                       W_xo, W_ho, b_o, W_xc, W_hc, b_c):
        dot, sigmoid = F.np.dot, F.npx.sigmoid
        I_t = sigmoid(dot(X, W_xi) + dot(H, W_hi) + b_i)  # input gate
        F_t = sigmoid(dot(X, W_xf) + dot(H, W_hf) + b_f)  # forget gate
        O_t = sigmoid(dot(X, W_xo) + dot(H, W_ho) + b_o)  # output gate
        C_tilde = F.np.tanh(dot(X, W_xc) + dot(H, W_hc) + b_c)  # candidate memory
        C = F_t * C + I_t * C_tilde
        H = O_t * F.np.tanh(C)
        return (H, C)


SCRATCH_LAYERS = {'rnn': RNNLayerScratch, 'gru': GRULayerScratch, 'lstm': LSTMLayerScratch}


class DeepRNNScratch(nn.Block):
    """L scratch layers and an output layer, called as `DeepRNN`: `Y, state = net(X, state)`."""

    def __init__(self, vocab_size, num_hiddens, num_layers, cell='lstm', activation='tanh',
                 dropout=0.0, fast=True, output_dropout=0.0, weight_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int('vocab_size', vocab_size)
        check_model(num_hiddens, num_layers, cell, activation, dropout, output_dropout,
                    weight_dropout)
        check_model_size(vocab_size, num_hiddens, num_layers, cell, fused=False)
        check_switch('fast', fast)
        self.vocab_size, self.num_hiddens, self.num_layers = vocab_size, num_hiddens, num_layers
        self.cell, self.activation, self.dropout = cell, activation, dropout
        self.output_dropout, self.weight_dropout = output_dropout, weight_dropout
        self.fast, self._schedule = fast, FastSchedule(**self.settings())
        extra = {'activation': activation} if cell == 'rnn' else {}
        with self.name_scope():
            self.layers = nn.HybridSequential()  # a registered container: every layer trains
            for l in range(1, num_layers + 1):
                num_inputs = vocab_size if l == 1 else num_hiddens  # W_xh^(1): d x h, else h x h
                self.layers.add(SCRATCH_LAYERS[cell](num_inputs, num_hiddens,
                                                     prefix=f'layer{l}_', **extra))
            self.W_hq = self.params.get('W_hq', shape=(num_hiddens, vocab_size), init=WEIGHT_INIT)
            self.b_q = self.params.get('b_q', shape=(vocab_size,), init='zeros')

    def forward(self, inputs, state=None):
        """Y (T*n, V) by `forward_layers` (`fast`) or `forward_steps`; no state: zeros."""
        if state is None:
            state = self.begin_state(inputs.shape[0], ctx=inputs.ctx)
        # cut from its earlier graph unless given attach_grad(): the book's loop drops
        # s.detach(), and our np.stack node would outlive backward (docs/differences.md)
        state = [s if s.grad is not None else s.detach() for s in state]
        return (self.forward_layers if self.fast else self.forward_steps)(inputs, state)

    def forward_steps(self, inputs, state):
        """The section's equations, step by step and layer by layer."""
        X = npx.one_hot(inputs.T, self.vocab_size)  # (num_steps, batch_size, vocab_size)
        # state[k] is (L, batch_size, h); layer l's own state is (state[0][l-1], ...)
        layer_states = [tuple(s[l] for s in state) for l in range(self.num_layers)]
        W_hq, b_q = self.W_hq.data(inputs.ctx), self.b_q.data(inputs.ctx)
        if self.weight_dropout:  # one draw of each W_h* for all of this batch's steps
            layers = [layer.with_dropped_weights(inputs.ctx, self.weight_dropout)
                      for layer in self.layers]
        else:
            layers = list(self.layers)
        outputs = []
        for X_t in X:  # time step t: X_t is (batch_size, vocab_size)
            H = X_t  # H_t^(0)
            for l, layer in enumerate(layers):  # layer l+1 gets H_t^(l) from below
                layer_states[l] = layer(H, *layer_states[l])
                H = layer_states[l][0]  # H_t^(l+1), passed up and on to step t+1
                if self.dropout and l < self.num_layers - 1:  # dropped on its way up only
                    H = dropouts.between_layers(mx, H, self.dropout)
            if self.output_dropout:  # H_t^(L) on its way to the output layer
                H = dropouts.before_output(mx, H, self.output_dropout)
            outputs.append(np.dot(H, W_hq) + b_q)  # O_t: (batch_size, vocab_size)
        new_state = [np.stack([s[k] for s in layer_states]) for k in range(len(state))]
        return np.concatenate(outputs, axis=0), new_state

    def forward_layers(self, inputs, state):
        """The same equations layer by layer (`fast_scratch`): hybridized, a graph per length."""
        weights = {name: p.data(inputs.ctx) for name, p in self.section_params().items()}
        return self._schedule(inputs, state, weights)

    def section_params(self):
        """Every parameter by the section's name: 'layer1_W_xh', ..., 'W_hq', 'b_q'."""
        params = {f'layer{l}_{name}': p for l, layer in enumerate(self.layers, start=1)
                  for name, p in layer._reg_params.items()}
        params.update(W_hq=self.W_hq, b_q=self.b_q)
        return params

    def settings(self):
        return dict(cell=self.cell, activation=self.activation, vocab_size=self.vocab_size,
                    num_hiddens=self.num_hiddens, num_layers=self.num_layers,
                    dropout=self.dropout, output_dropout=self.output_dropout,
                    weight_dropout=self.weight_dropout)

    def hybridize(self, active=True, **kwargs):
        """Gluon's, and compiled graphs for `forward_layers`; `compiled` tells `train` it is set."""
        self._schedule.hybrid = self.compiled = active
        super().hybridize(active, **kwargs)

    def begin_state(self, batch_size, ctx=None):
        """Zero states: [H] or [H, C] for the LSTM, each (num_layers, batch_size, num_hiddens)."""
        shape = (self.num_layers, batch_size, self.num_hiddens)
        kwargs = {'ctx': ctx} if ctx is not None else {}
        return [np.zeros(shape, **kwargs) for _ in range(2 if self.cell == 'lstm' else 1)]
