"""The fast schedule of `DeepRNNScratch`: the section's equations, computed layer by layer.

The same numbers as `forward_steps` (up to float32 rounding), with one input product per layer
and one H_{t-1} W_h per step for all gates; written with `F` (mx.nd, or mx.sym in a graph).
Why these operators: docs/performance.md.
"""
import mxnet as mx
from mxnet.gluon import nn

from . import dropout as dropouts
from .cells import GATES


def stacked(F, weights, l, gates):
    """Layer l's gates as `fully_connected` takes them: W_x*^T (G*h, in), W_h*^T (G*h, h), b."""
    w = lambda name: weights[f'layer{l}_{name}']  # noqa: E731
    return [F.np.concatenate([w(f'W_x{g}').T for g in gates]),
            F.np.concatenate([w(f'W_h{g}').T for g in gates]),
            F.np.concatenate([w(f'b_{g}') for g in gates])]


def split(F, x, num, axis, squeeze_axis=False):
    """x cut into `num` equal parts along `axis` by MXNet's older `split` (copies whole rows)."""
    parts = F.split(x.as_nd_ndarray(), num_outputs=num, axis=axis, squeeze_axis=squeeze_axis)
    return [parts.as_np_ndarray()] if num == 1 else [parts[k].as_np_ndarray() for k in range(num)]


def cut_gates(F, x, num, h):
    """x (n, num*h), gates side by side, cut into its `num` gates, (n, h) each."""
    return split(F, x.reshape(-1, num, h), num, axis=1, squeeze_axis=True)


def rnn_update(F, XW, HW, h, H, activation):
    """H_t = phi(X_t W_xh + b_h + H_{t-1} W_hh); each update returns (state, what can saturate)."""
    Z = XW + HW
    H = F.np.tanh(Z) if activation == 'tanh' else F.npx.relu(Z)
    return (H,), (H,)


def gru_update(F, XW, HW, h, H, activation):
    """The fused kernel's GRU step; XW and HW hold r, z, h side by side, HW's h with b_hh."""
    (XW_r, XW_z, XW_h), (HW_r, HW_z, HW_h) = cut_gates(F, XW, 3, h), cut_gates(F, HW, 3, h)
    R, Z = F.npx.sigmoid(XW_r + HW_r), F.npx.sigmoid(XW_z + HW_z)
    H_tilde = F.np.tanh(XW_h + R * HW_h)
    return (Z * H + (1 - Z) * H_tilde,), (R, Z)


def lstm_update(F, XW, HW, h, H, C, activation):
    """The LSTM step; XW + HW holds the i, f, o, c gates side by side."""
    I, F_t, O, C_tilde = cut_gates(F, XW + HW, 4, h)
    I, F_t, O = F.npx.sigmoid(I), F.npx.sigmoid(F_t), F.npx.sigmoid(O)
    C = F_t * C + I * F.np.tanh(C_tilde)
    return (O * F.np.tanh(C), C), (I, F_t, O)


UPDATES = {'rnn': rnn_update, 'gru': gru_update, 'lstm': lstm_update}


def layer_by_layer(F, inputs, state, weights, num_steps, cell, activation, vocab_size,
                   num_hiddens, num_layers, dropout=0.0, trace=None, output_dropout=0.0,
                   weight_dropout=0.0):
    """`forward_steps` layer by layer from `weights` by section name: logits (T*n, V), new state."""
    gates, h = GATES[cell], num_hiddens
    G = len(gates)
    H = F.npx.one_hot(inputs.T.reshape(-1), vocab_size)  # (T*n, V): all steps, time-major
    final = []
    for l in range(1, num_layers + 1):
        W_xT, W_hT, b = stacked(F, weights, l, gates)
        if weight_dropout:  # (G*h, h): every gate's W_h*, one mask for all steps
            W_hT = dropouts.recurrent_weights(F, W_hT, weight_dropout)
        XW = F.npx.fully_connected(H, W_xT, b, num_hidden=G * h)  # (T*n, G*h): all steps
        b_hh = None
        if cell == 'gru':  # b_hh inside the reset gate's product: on HW's candidate block
            zero = F.np.zeros_like(weights[f'layer{l}_b_hh'])
            b_hh = F.np.concatenate([zero, zero, weights[f'layer{l}_b_hh']])
        layer_state = tuple(s[l - 1] for s in state)  # (n, h) each
        outputs, watched = [], []
        for XW_t in split(F, XW, num_steps, axis=0):  # (n, G*h) each
            HW = F.npx.fully_connected(layer_state[0], W_hT, b_hh, no_bias=b_hh is None,
                                       num_hidden=G * h)
            layer_state, saturating = UPDATES[cell](F, XW_t, HW, h, *layer_state,
                                                    activation=activation)
            outputs.append(layer_state[0])
            watched.append(saturating)
        if trace is not None:  # per layer, per step: H_t (RNN) or the sigmoid gates
            trace.append(watched)
        H = F.np.concatenate(outputs)  # (T*n, h): this layer's output at every step
        if dropout and l < num_layers:
            H = dropouts.between_layers(F, H, dropout)
        final.append(layer_state)
    if output_dropout:
        H = dropouts.before_output(F, H, output_dropout)
    Y = F.npx.fully_connected(H, weights['W_hq'].T, weights['b_q'], num_hidden=vocab_size)
    return Y, [F.np.stack([s[k] for s in final]) for k in range(len(state))]


class LayerByLayer(nn.HybridBlock):
    """`layer_by_layer` as one graph per `num_steps` (fixed loops); weights: a list by `names`."""

    def __init__(self, names, num_steps, settings):
        super().__init__()
        self.names, self.num_steps, self.settings = names, num_steps, settings

    def hybrid_forward(self, F, inputs, state, weights):
        return layer_by_layer(F, inputs, state, dict(zip(self.names, weights)),
                              self.num_steps, **self.settings)


class FastSchedule:
    """A model's fast schedule: imperative, or (`hybrid`) one compiled graph per sequence length."""

    def __init__(self, **settings):
        self.settings, self.graphs, self.hybrid = settings, {}, False

    def __call__(self, inputs, state, weights):
        """The logits and the new state, from `weights` by the section's names."""
        num_steps = inputs.shape[1]
        if not self.hybrid:
            return layer_by_layer(mx.nd, inputs, state, weights, num_steps, **self.settings)
        if num_steps not in self.graphs:
            self.graphs[num_steps] = LayerByLayer(list(weights), num_steps, self.settings)
            self.graphs[num_steps].hybridize(static_alloc=True)
        graph = self.graphs[num_steps]
        return graph(inputs, state, [weights[name] for name in graph.names])
