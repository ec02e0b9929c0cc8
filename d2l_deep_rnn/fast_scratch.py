"""The fast schedule of `DeepRNNScratch`: the section's equations, computed layer by layer.

Same parameters and the same numbers as `DeepRNNScratch.forward_steps` (up to float32
rounding). Each layer runs over all time steps before the next layer starts, so the input
products of all steps are one product, and each step needs one product H_{t-1} W_h for all
gates side by side. Weights come in by the section's names ('layer1_W_xi', ..., 'W_hq',
'b_q'), as `DeepRNNScratch.section_params` gives them. Written once with `F` (mx.nd
imperatively, mx.sym inside the graph that `train` runs).

Operators chosen by measurement (MXNet 1.9.1 CPU wheel, the section's 2-layer LSTM, batch
32 x 35 steps, 256 hiddens; one thread, per call unless said):
- steps and gates are cut with MXNet's older `split`, which copies whole rows (the gates:
  rows of the (n, G, h) view). `np.split` copies element by element, with integer divisions
  and a search for each: cutting a layer's XW into its 35 steps took 13 ms, three times the
  layer's 35 step products; a 4-gate cut, forward and backward, 1.0 ms (slices 0.35 ms,
  the older split 0.23 ms);
- activations are `npx.sigmoid` and `np.tanh` (32 and 71 us on 32 x 256), which run on one
  thread; oneDNN's `npx.activation` computes in 12-14 us but opens OpenMP parallel regions
  (one forward, two backward). With two threads a region costs 5-15 us when the idle
  thread spins (OMP_WAIT_POLICY=ACTIVE) and 70-110 us when it has to be woken (this
  package's short spin); `split` opens one per part, `np.split` one in all, but costs more;
- the first layer multiplies one-hot rows, as the section does: `npx.embedding` (the same
  rows of W_x) is no faster and its backward costs 15 ms more per batch;
- products are `npx.fully_connected` (oneDNN), twice as fast as `np.dot` (OpenBLAS) forward
  and backward for these shapes; it takes each weight transposed: the gates' W^T stacked by
  rows (2.7 ms for the three 256 x 1024 weights; stacking columns and transposing, 5.3 ms).
"""
import mxnet as mx
from mxnet.gluon import nn

from . import dropout as dropouts
from .cells import GATES


def stacked(F, weights, l, gates):
    """Layer l's W_x* and W_h* transposed and stacked by rows, (G*h, inputs) and (G*h, h),
    as `fully_connected` takes them, and its b_* side by side, (G*h,)."""
    w = lambda name: weights[f'layer{l}_{name}']  # noqa: E731
    return [F.np.concatenate([w(f'W_x{g}').T for g in gates]),
            F.np.concatenate([w(f'W_h{g}').T for g in gates]),
            F.np.concatenate([w(f'b_{g}') for g in gates])]


def split(F, x, num, axis, squeeze_axis=False):
    """x cut into `num` equal parts along `axis` by MXNet's older `split`, which copies whole
    rows (`np.split` copies element by element, with integer divisions and a search)."""
    parts = F.split(x.as_nd_ndarray(), num_outputs=num, axis=axis, squeeze_axis=squeeze_axis)
    return [parts.as_np_ndarray()] if num == 1 else [parts[k].as_np_ndarray() for k in range(num)]


def cut_steps(F, XW, num_steps):
    """XW (T*n, G*h) cut into its T steps, (n, G*h) each."""
    return split(F, XW, num_steps, axis=0)


def cut_gates(F, x, num, h):
    """x (n, num*h), gates side by side, cut into its `num` gates, (n, h) each."""
    return split(F, x.reshape(-1, num, h), num, axis=1, squeeze_axis=True)


def rnn_update(F, XW, HW, h, H, activation):
    """H_t = phi(X_t W_xh + b_h + H_{t-1} W_hh). Each update returns (new state, what
    can saturate: here H_t itself)."""
    Z = XW + HW
    H = F.np.tanh(Z) if activation == 'tanh' else F.npx.relu(Z)
    return (H,), (H,)


def gru_update(F, XW, HW, h, H, activation):
    """The GRU step as the fused kernel computes it; XW and HW hold the r, z, h gates side
    by side, HW's candidate block with b_hh added."""
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
    """`DeepRNNScratch.forward_steps` computed layer by layer from `weights`, a dict by the
    section's names; returns the logits (T*n, vocab_size) and the new state. With
    `dropout`, each layer's output is dropped on its way up (`dropout.between_layers`);
    with `output_dropout`, the top layer's on its way to the output layer; with
    `weight_dropout`, each layer's W_h* once for all steps (`dropout.recurrent_weights`).
    With a list `trace`, appends per layer the list over steps of what can saturate
    (H_t for RNN layers, the sigmoid gates for GRU and LSTM layers)."""
    gates, h = GATES[cell], num_hiddens
    G = len(gates)
    H = F.npx.one_hot(inputs.T.reshape(-1), vocab_size)  # (T*n, V): all steps, time-major
    final = []
    for l in range(1, num_layers + 1):
        W_xT, W_hT, b = stacked(F, weights, l, gates)
        if weight_dropout:  # (G*h, h): every gate's W_h*, one mask for all steps
            W_hT = dropouts.recurrent_weights(F, W_hT, weight_dropout)
        XW = F.npx.fully_connected(H, W_xT, b, num_hidden=G * h)  # (T*n, G*h): all steps
        if cell == 'gru':  # b_hh inside the reset gate's product: on HW's candidate block
            zero = F.np.zeros_like(weights[f'layer{l}_b_hh'])
            b_hh = F.np.concatenate([zero, zero, weights[f'layer{l}_b_hh']])
        layer_state = tuple(s[l - 1] for s in state)  # (n, h) each
        outputs, watched = [], []
        for XW_t in cut_steps(F, XW, num_steps):  # (n, G*h)
            if cell == 'gru':
                HW = F.npx.fully_connected(layer_state[0], W_hT, b_hh, num_hidden=G * h)
            else:
                HW = F.npx.fully_connected(layer_state[0], W_hT, no_bias=True,
                                           num_hidden=G * h)
            layer_state, saturating = UPDATES[cell](F, XW_t, HW, h, *layer_state,
                                                    activation=activation)
            outputs.append(layer_state[0])
            watched.append(saturating)
        if trace is not None:
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
    """`layer_by_layer` for a fixed number of steps as one graph (graphs have fixed loop
    lengths). It has no parameters of its own: the weights come in as inputs, a list in the
    order of `names` (a graph takes lists, not dicts)."""

    def __init__(self, names, num_steps, settings):
        super().__init__()
        self.names, self.num_steps, self.settings = names, num_steps, settings

    def hybrid_forward(self, F, inputs, state, weights):
        return layer_by_layer(F, inputs, state, dict(zip(self.names, weights)),
                              self.num_steps, **self.settings)


class FastSchedule:
    """One model's fast schedule: imperative, or (`hybrid = True`) one compiled graph per
    sequence length."""

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
