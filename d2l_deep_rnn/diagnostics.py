"""Per-layer instruments: why a deeper RNN trains differently. `Diagnostics()` (`--diagnostics`)
records per epoch each layer's gradient norm, update ratio and saturation, and how often clipping
fired; what each figure is and how it is measured: docs/diagnostics.md."""
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


def layer_of(net):
    """{Parameter name: 0-based layer} for either model: 'l0_*', 'layer1_*' -> 0; output: L."""
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
    """The per-layer figures, summed on the device after each backward pass, read once an epoch."""

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
            layers = [f'layer {l}' for l in range(1, self.net.num_layers + 1)] + ['output']
            history.update(grad_norm=[], clip_fraction=[], update_ratio=[], saturation=[],
                           diag_layers=layers)

    def on_epoch_begin(self, history):
        self.start_epoch()

    def on_batch_begin(self, X):
        if self.sample is None:  # the epoch's first batch, replayed for the saturation
            self.sample = X

    def on_after_backward(self):
        """Per layer ||g_l|| before clipping, and ||lr min(1, clip / ||g||) g_l|| / ||w_l||."""
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
        for key, value in self.end_epoch().items():
            history[key].append(value)
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
    """Per hidden layer, the saturated fraction on `inputs` (batch_size, num_steps), from zero."""
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


def summarize(history):
    """The run in a few numbers per layer: means over the epochs, the last epoch's saturation."""
    epochs = len(history['grad_norm'])

    def mean(rows):  # per layer
        return [sum(column) / epochs for column in zip(*rows)]
    return {'layers': history['diag_layers'],
            'grad_norm': mean(history['grad_norm']),
            'update_ratio': mean(history['update_ratio']),
            'clip_fraction': sum(history['clip_fraction']) / epochs,
            'saturation': history['saturation'][-1]}


def diagnostics_table(summaries):
    """The lines of a table per run ({label: `summarize`'s figures}) and layer, then clipping's."""
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
