"""The deep RNN from scratch: the section's equations, layer by layer and step by step.

For each time step t and each layer l = 1..L (H_t^(0) is the one-hot input X_t):

    H_t^(l) = phi(H_t^(l-1) W_xh^(l) + H_{t-1}^(l) W_hh^(l) + b_h^(l))
    O_t     = H_t^(L) W_hq + b_q

GRU and LSTM layers replace the H_t^(l) line by their gated update, with one
(W_x*, W_h*, b_*) set per gate. Each layer is a Gluon child block, so every
parameter is registered, initialized, updated and saved (the book's d2l 1.0.3
`StackedRNNScratch` keeps its layers in a plain list and so trains only its output layer).

`DeepRNNScratch.forward_steps` computes the equations in exactly this order; the end of the
file holds a faster schedule of the same computation (`layer_by_layer`), used by default.
"""
import mxnet as mx
from mxnet import init, np, npx
from mxnet.gluon import nn

from .gluon_model import check_model_args, check_model_size, freeze

WEIGHT_INIT = init.Normal(0.01)  # the book's scratch models: N(0, 0.01^2) weights, zero biases


class ScratchLayer(nn.HybridBlock):
    """One hidden layer for one time step: (H_t^(l-1), state_{t-1}^(l)) -> state_t^(l)."""

    gates = ()  # gate letters g: each gate has W_xg (num_inputs, h), W_hg (h, h), b_g (h,)

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


class RNNLayerScratch(ScratchLayer):
    """H_t^(l) = phi(H_t^(l-1) W_xh^(l) + H_{t-1}^(l) W_hh^(l) + b_h^(l))."""

    gates = ('h',)

    def __init__(self, num_inputs, num_hiddens, activation='tanh', **kwargs):
        super().__init__(num_inputs, num_hiddens, **kwargs)
        self.activation = activation

    def hybrid_forward(self, F, X, H, W_xh, W_hh, b_h):
        phi = F.np.tanh if self.activation == 'tanh' else F.npx.relu
        H = phi(F.np.dot(X, W_xh) + F.np.dot(H, W_hh) + b_h)
        return (H,)


class GRULayerScratch(ScratchLayer):
    """The gated recurrent unit as MXNet's fused kernel computes it.

    One difference from the book's scratch GRU: the reset gate multiplies
    (H_{t-1} W_hh + b_hh), not H_{t-1} before the product. We compute what the fused
    kernel computes, so that both agree. b_hh is the fused layer's `h2h_bias` for the
    candidate; like that one in `DeepRNN`, it stays frozen (zero unless copied in).
    """

    gates = ('r', 'z', 'h')

    def __init__(self, num_inputs, num_hiddens, **kwargs):
        super().__init__(num_inputs, num_hiddens, **kwargs)
        with self.name_scope():
            self.add_param('b_hh', (num_hiddens,), 'zeros')
        freeze(self.b_hh)

    def hybrid_forward(self, F, X, H, W_xr, W_hr, b_r, W_xz, W_hz, b_z, W_xh, W_hh, b_h, b_hh):
        dot, sigmoid = F.np.dot, F.npx.sigmoid
        R = sigmoid(dot(X, W_xr) + dot(H, W_hr) + b_r)  # reset gate
        Z = sigmoid(dot(X, W_xz) + dot(H, W_hz) + b_z)  # update gate
        H_tilde = F.np.tanh(dot(X, W_xh) + b_h + R * (dot(H, W_hh) + b_hh))  # candidate
        H = Z * H + (1 - Z) * H_tilde
        return (H,)


class LSTMLayerScratch(ScratchLayer):
    """Long short-term memory: input, forget and output gates, candidate memory C_tilde."""

    gates = ('i', 'f', 'o', 'c')

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
    """L hidden layers from scratch and an output layer; same call and state format as
    `DeepRNN`: `Y, state = net(X, state)`, Y of shape (num_steps * batch_size, vocab_size).

    `fast=False` runs `forward_steps`, the equations in the text's order: for each time step,
    each layer. `fast=True` (the default) runs `forward_layers`, which computes the same
    numbers layer by layer with fewer, larger matrix products (hybridized, about 1.5 times
    the speed on a 2-core CPU: see `python -m d2l_deep_rnn bench`).
    """

    def __init__(self, vocab_size, num_hiddens, num_layers, cell='lstm', activation='tanh',
                 fast=True, **kwargs):
        super().__init__(**kwargs)
        check_model_args(vocab_size, num_hiddens, num_layers, cell, activation)
        check_model_size(vocab_size, num_hiddens, num_layers, cell, fused=False)
        self.fast, self._hybrid, self._graphs = fast, False, GraphCache()
        self.vocab_size, self.num_hiddens, self.num_layers = vocab_size, num_hiddens, num_layers
        self.cell, self.activation = cell, activation
        extra = {'activation': activation} if cell == 'rnn' else {}
        with self.name_scope():
            self.layers = nn.HybridSequential()  # a registered container: every layer trains
            for l in range(1, num_layers + 1):
                num_inputs = vocab_size if l == 1 else num_hiddens  # W_xh^(1): d x h, else h x h
                self.layers.add(SCRATCH_LAYERS[cell](num_inputs, num_hiddens,
                                                     prefix=f'layer{l}_', **extra))
            self.W_hq = self.params.get('W_hq', shape=(num_hiddens, vocab_size), init=WEIGHT_INIT)
            self.b_q = self.params.get('b_q', shape=(vocab_size,), init='zeros')

    def forward(self, inputs, state):
        return (self.forward_layers if self.fast else self.forward_steps)(inputs, state)

    def forward_steps(self, inputs, state):
        """The section's equations, step by step and layer by layer."""
        X = npx.one_hot(inputs.T, self.vocab_size)  # (num_steps, batch_size, vocab_size)
        # state[k] is (L, batch_size, h); layer l's own state is (state[0][l-1], ...)
        layer_states = [tuple(s[l] for s in state) for l in range(self.num_layers)]
        W_hq, b_q = self.W_hq.data(inputs.ctx), self.b_q.data(inputs.ctx)
        outputs = []
        for X_t in X:  # time step t: X_t is (batch_size, vocab_size)
            H = X_t  # H_t^(0)
            for l, layer in enumerate(self.layers):  # layer l+1 gets H_t^(l) from below
                layer_states[l] = layer(H, *layer_states[l])
                H = layer_states[l][0]  # H_t^(l+1), passed up and on to step t+1
            outputs.append(np.dot(H, W_hq) + b_q)  # O_t: (batch_size, vocab_size)
        new_state = [np.stack([s[k] for s in layer_states]) for k in range(len(state))]
        return np.concatenate(outputs, axis=0), new_state

    def forward_layers(self, inputs, state):
        """The same equations, layer by layer: see `layer_by_layer`. Hybridized (as `train`
        does by default), it runs as one MXNet graph per sequence length."""
        weights = [p.data(inputs.ctx) for p in self.section_params()]
        num_steps = inputs.shape[1]
        if not self._hybrid:
            return layer_by_layer(mx.nd, inputs, state, weights, num_steps, **self.settings())
        if num_steps not in self._graphs:
            self._graphs[num_steps] = LayerByLayer(num_steps=num_steps, **self.settings())
            self._graphs[num_steps].hybridize(static_alloc=True)
        return self._graphs[num_steps](inputs, state, weights)

    def section_params(self):
        """Every parameter in a fixed order: layer by layer, gate by gate, then W_hq and b_q."""
        return [p for layer in self.layers for p in layer._reg_params.values()] + \
            [self.W_hq, self.b_q]

    def settings(self):
        return dict(cell=self.cell, activation=self.activation, vocab_size=self.vocab_size,
                    num_hiddens=self.num_hiddens, num_layers=self.num_layers)

    def hybridize(self, active=True, **kwargs):
        """Hybridize the per-step layers and switch `forward_layers` to compiled graphs."""
        self._hybrid = active
        super().hybridize(active, **kwargs)

    def begin_state(self, batch_size, ctx=None):
        """Zero states: [H] or [H, C] for the LSTM, each (num_layers, batch_size, num_hiddens)."""
        shape = (self.num_layers, batch_size, self.num_hiddens)
        kwargs = {'ctx': ctx} if ctx is not None else {}
        return [np.zeros(shape, **kwargs) for _ in range(2 if self.cell == 'lstm' else 1)]


# The fast schedule. Same parameters, same numbers, fewer and larger matrix products: each
# layer runs over all time steps before the next layer starts, so the input products of all
# steps are one product, and each step needs one product H_{t-1} [W_h* side by side] for all
# gates together. Written once with `F` (mx.nd imperatively, mx.sym inside a graph).

def rnn_update(F, XW, HW, H, activation, b_hh=None):
    """H_t = phi(X_t W_xh + b_h + H_{t-1} W_hh), given XW = X_t W_xh + b_h and HW.
    Each update returns (new state, what saturates: here H_t itself)."""
    H = (F.np.tanh if activation == 'tanh' else F.npx.relu)(XW + HW)
    return (H,), (H,)


def gru_update(F, XW, HW, H, activation, b_hh):
    """The GRU step; XW and HW hold the r, z, h gates' products side by side."""
    XW_r, XW_z, XW_h = F.np.split(XW, 3, axis=1)
    HW_r, HW_z, HW_h = F.np.split(HW, 3, axis=1)
    R, Z = F.npx.sigmoid(XW_r + HW_r), F.npx.sigmoid(XW_z + HW_z)
    H_tilde = F.np.tanh(XW_h + R * (HW_h + b_hh))
    return (Z * H + (1 - Z) * H_tilde,), (R, Z)


def lstm_update(F, XW, HW, H, C, activation, b_hh=None):
    """The LSTM step; XW + HW holds the i, f, o, c gates side by side."""
    I_t, F_t, O_t, C_tilde = F.np.split(XW + HW, 4, axis=1)
    I_t, F_t, O_t = F.npx.sigmoid(I_t), F.npx.sigmoid(F_t), F.npx.sigmoid(O_t)
    C = F_t * C + I_t * F.np.tanh(C_tilde)
    return (O_t * F.np.tanh(C), C), (I_t, F_t, O_t)


UPDATES = {'rnn': rnn_update, 'gru': gru_update, 'lstm': lstm_update}


def layer_by_layer(F, inputs, state, weights, num_steps, cell, activation, vocab_size,
                   num_hiddens, num_layers, trace=None):
    """`DeepRNNScratch.forward_steps` computed layer by layer. `weights` are the model's
    parameters in `section_params` order; returns the logits and the new state.
    With a list `trace`, appends per layer the list over steps of what can saturate
    (H_t for RNN layers, the sigmoid gates for GRU and LSTM layers)."""
    gates = SCRATCH_LAYERS[cell].gates
    G, h, per_layer = len(gates), num_hiddens, 3 * len(gates) + (cell == 'gru')
    H = F.npx.one_hot(inputs.T, vocab_size).reshape(-1, vocab_size)  # (T*n, V): all steps
    states = [F.np.split(s, num_layers, axis=0) for s in state]  # per layer (1, n, h) each
    final = []
    for l in range(num_layers):
        p = weights[l * per_layer:(l + 1) * per_layer]  # W_x g, W_h g, b_g for each gate g
        W_xT = F.np.concatenate([p[3 * k] for k in range(G)], axis=1).T  # (G*h, inputs)
        W_hT = F.np.concatenate([p[3 * k + 1] for k in range(G)], axis=1).T  # (G*h, h)
        b = F.np.concatenate([p[3 * k + 2] for k in range(G)])  # (G*h,)
        XW = F.npx.fully_connected(H, W_xT, b, num_hidden=G * h)  # (T*n, G*h): all steps
        layer_state = tuple(F.np.squeeze(s[l], axis=0) for s in states)  # (n, h) each
        outputs = []
        if trace is not None:
            trace.append([])
        for XW_t in F.np.split(XW, num_steps, axis=0):  # (n, G*h)
            HW = F.npx.fully_connected(layer_state[0], W_hT, no_bias=True, num_hidden=G * h)
            layer_state, watched = UPDATES[cell](F, XW_t, HW, *layer_state,
                                                 activation=activation,
                                                 b_hh=p[-1] if cell == 'gru' else None)
            outputs.append(layer_state[0])
            if trace is not None:
                trace[l].append(watched)
        H = F.np.concatenate(outputs, axis=0)  # (T*n, h): this layer's output at every step
        final.append(layer_state)
    W_hq, b_q = weights[-2], weights[-1]
    Y = F.npx.fully_connected(H, W_hq.T, b_q, num_hidden=vocab_size)  # O_t for all t
    return Y, [F.np.stack([s[k] for s in final]) for k in range(len(state))]


class GraphCache:
    """Compiled `LayerByLayer` graphs by sequence length. Not a dict attribute: Gluon would
    take it for a forgotten container of child blocks (these hold no parameters)."""

    def __init__(self):
        self.graphs = {}

    def __contains__(self, num_steps):
        return num_steps in self.graphs

    def __getitem__(self, num_steps):
        return self.graphs[num_steps]

    def __setitem__(self, num_steps, graph):
        self.graphs[num_steps] = graph


class LayerByLayer(nn.HybridBlock):
    """`layer_by_layer` for a fixed number of steps as one graph (graphs have fixed loop
    lengths). It has no parameters of its own: the model's weights come in as inputs."""

    def __init__(self, num_steps, **settings):
        super().__init__()
        self.num_steps, self.settings = num_steps, settings

    def hybrid_forward(self, F, inputs, state, weights):
        return layer_by_layer(F, inputs, state, weights, self.num_steps, **self.settings)
