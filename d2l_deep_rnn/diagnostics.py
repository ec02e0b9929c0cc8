"""Per-layer instruments: why a deeper RNN trains differently.

`train(..., callbacks=[Diagnostics()])` (`--diagnostics`) records, per epoch, for each
hidden layer l = 1..L (and the output layer, where it applies):

- `grad_norm`: the norm of layer l's gradient before clipping, averaged over the steps;
- `clip_fraction`: the fraction of steps on which clipping fired (one number per epoch);
- `update_ratio`: ||lr * clipped gradient|| / ||weights|| of layer l (the SGD step's size
  relative to the weights it changes), averaged over the steps;
- `saturation`: the fraction of entries of H_t^(l) with |value| > 0.95 (tanh RNN; exactly
  0 for a ReLU RNN: dead units), or of the sigmoid gates within 0.05 of 0 or 1 (GRU: r, z;
  LSTM: i, f, o), on the epoch's first batch replayed from a zero state with the weights
  the epoch ends with (like the validation perplexity, it describes the model after it).

Layers are found by name: 'layer{l}_*' in `DeepRNNScratch`, 'l{l-1}_*' in `DeepRNN`, so
copied weights give the same figures. The fused kernel returns only the top layer's states,
so saturation replays the batch layer by layer (`fast_scratch.layer_by_layer`, the scratch
model's equations) with the model's weights by the section's names. Frozen parameters (h2h_bias,
b_hh) have no gradient and are left out of every figure.
"""
import re

import mxnet as mx
from mxnet import np

from .callbacks import Callback
from .config import UsageError
from .convert import fused_params, scratch_view
from .fast_scratch import layer_by_layer
from .gluon_model import DeepRNN
from .params import is_frozen
from .metrics import sum_squares

KEYS = ('grad_norm', 'clip_fraction', 'update_ratio', 'saturation', 'diag_layers')
TANH_LIMIT, GATE_MARGIN = 0.95, 0.05


def layer_names(num_layers):
    """['layer 1', ..., 'layer L', 'output']: the rows of `grad_norm` and `update_ratio`."""
    return [f'layer {l}' for l in range(1, num_layers + 1)] + ['output']


def layer_of(net):
    """{Parameter name: 0-based layer (num_layers for the output layer)} for either model:
    'l0_i2h_weight' or 'layer1_W_xh' -> 0, 'dense_weight' or 'W_hq' -> num_layers."""
    named = fused_params(net) if isinstance(net, DeepRNN) else net.section_params()
    owner = {}
    for short, param in named.items():
        match = re.match(r'l(\d+)_|layer(\d+)_', short)
        if match is None:  # the output layer
            owner[param.name] = net.num_layers
        else:
            owner[param.name] = int(match[1]) if match[1] else int(match[2]) - 1
    return owner


def check_optimizer(optimizer):
    """Refuse an optimizer other than SGD: the figures measure the SGD step (UsageError)."""
    if optimizer != 'sgd':
        raise UsageError("diagnostics measure the SGD step's size (lr * clipped gradient); "
                         "use them with optimizer='sgd' (--optimizer sgd)")


class Diagnostics(Callback):
    """`train`'s callback for the per-layer figures: after each backward pass, before the
    clipping, it measures the gradients and the step the clipping and the update will take,
    accumulates them on the device and, at the end of each epoch, adds them to the history,
    read once. It measures the SGD step's size."""

    def bind(self, run):
        check_optimizer(run.optimizer)
        super().bind(run)
        self.watch(run.net, run.clip, run.trainer)

    def watch(self, net, clip, trainer):
        """Measure `net`'s trained parameters, clipped at `clip`, stepped by `trainer`."""
        self.net, self.clip, self.trainer = net, clip, trainer
        params = net.collect_params().values()
        self.params = [p for p in params if not is_frozen(p)]  # as the clipping sees them
        owner = layer_of(net)
        # M[i, l] = 1 if parameter i belongs to layer l: per-layer sums are one product
        onehot = [[float(owner[p.name] == l) for l in range(net.num_layers + 1)]
                  for p in self.params]
        self.M = np.array(onehot)
        self.start_epoch()

    def start_epoch(self):
        self.grad_norm = self.update_ratio = self.clipped = 0
        self.steps, self.sample = 0, None

    def on_train_begin(self, history):
        if 'grad_norm' not in history:  # (a resumed history has them already)
            new_diagnostics(history, self.net.num_layers)

    def on_epoch_begin(self, history):
        self.start_epoch()

    def on_batch_begin(self, X):
        if self.sample is None:  # the epoch's first batch, replayed for the saturation
            self.sample = X

    def on_after_backward(self):
        """Each layer's gradient norm (summed over devices, before clipping), whether the
        clipping fires, and the size of the step at the trainer's rate (after any decay):
        ||lr min(1, clip / ||g||) g_l|| / ||w_l||."""
        ctx = self.params[0].list_ctx()[0]
        if self.M.ctx != ctx:  # moved once, to the device the step is measured on
            self.M = self.M.as_in_ctx(ctx)
        sums = sum_squares([p.grad(ctx) for p in self.params])
        norm = np.sqrt(sums.sum())
        scale = np.minimum(1.0, self.clip / (norm + 1e-12))
        g = np.sqrt(np.dot(sums, self.M))  # (L+1,): each layer's gradient norm
        w = np.sqrt(np.dot(sum_squares([p.data(ctx) for p in self.params]), self.M))
        self.grad_norm = self.grad_norm + g
        self.update_ratio = self.update_ratio + self.trainer.learning_rate * scale * g / w
        self.clipped = self.clipped + (norm > self.clip)
        self.steps += 1

    def on_epoch_end(self, history):
        append_epoch(history, self.end_epoch())
        return False

    def end_epoch(self):
        """This epoch's figures as Python lists (one entry per layer)."""
        n = self.steps
        return {'grad_norm': (self.grad_norm / n).tolist(),
                'clip_fraction': float(self.clipped) / n,
                'update_ratio': (self.update_ratio / n).tolist(),
                'saturation': saturation(self.net, self.sample) if self.sample is not None
                else [None] * self.net.num_layers}


def section_weights(net, ctx):
    """Either model's weights by the section's names ('layer1_W_xh', ..., 'b_q'), on `ctx`."""
    if isinstance(net, DeepRNN):
        return {name: w.as_in_ctx(ctx) for name, w in scratch_view(net).items()}
    return {name: p.data(ctx) for name, p in net.section_params().items()}


def saturation(net, inputs):
    """Per hidden layer, the fraction of saturated entries on `inputs` (batch_size,
    num_steps), replayed from a zero state (see the module docstring)."""
    ctx = inputs.ctx
    trace = []
    settings = dict(cell=net.cell, activation=net.activation, vocab_size=net.vocab_size,
                    num_hiddens=net.num_hiddens, num_layers=net.num_layers)
    state = net.begin_state(batch_size=inputs.shape[0], ctx=ctx)
    layer_by_layer(mx.nd, inputs, state, section_weights(net, ctx), inputs.shape[1],
                   trace=trace, **settings)
    return [saturated_fraction(np.stack([a for step in steps for a in step]), net.cell,
                               net.activation) for steps in trace]


def saturated_fraction(values, cell, activation):
    """The fraction of `values` (H_t or gate activations) that sit at their limits."""
    if cell != 'rnn':
        hit = (values < GATE_MARGIN) | (values > 1 - GATE_MARGIN)
    elif activation == 'tanh':
        hit = np.abs(values) > TANH_LIMIT
    else:
        hit = values == 0
    return float(hit.mean())


def new_diagnostics(history, num_layers):
    """Add the empty per-epoch lists to a training history."""
    history.update(grad_norm=[], clip_fraction=[], update_ratio=[], saturation=[],
                   diag_layers=layer_names(num_layers))


def append_epoch(history, figures):
    for key, value in figures.items():
        history[key].append(value)


def summarize(history):
    """The run in a few numbers per layer: mean gradient norm and update ratio over all
    epochs, the overall clipping fraction, and the last epoch's saturation."""
    epochs = len(history['grad_norm'])
    mean = lambda rows: [sum(r[l] for r in rows) / epochs for l in range(len(rows[0]))]  # noqa: E731,E501
    return {'layers': history['diag_layers'],
            'grad_norm': mean(history['grad_norm']),
            'update_ratio': mean(history['update_ratio']),
            'clip_fraction': sum(history['clip_fraction']) / epochs,
            'saturation': history['saturation'][-1]}


def diagnostics_table(summaries):
    """Per run ({label: `summarize`'s figures}) and layer: the mean gradient norm and update
    ratio, the last epoch's saturation, then how often clipping fired. Returns the lines."""
    width = max(8, *map(len, summaries))
    lines = [f"{'model':<{width}} {'layer':<8} {'grad norm':>10} {'update/weight':>13} "
             f"{'saturated':>9}"]
    for name, d in summaries.items():
        for l, layer in enumerate(d['layers']):
            sat = d['saturation'][l] if l < len(d['saturation']) else None
            lines.append(f"{name:<{width}} {layer:<8} {d['grad_norm'][l]:10.4f} "
                         f"{d['update_ratio'][l]:13.2e}" + ('' if sat is None else f' {sat:9.1%}'))
        lines.append(f"{name:<{width}} clipping fired on {d['clip_fraction']:.0%} of the steps")
    return lines
