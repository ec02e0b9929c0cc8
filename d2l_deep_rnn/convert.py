"""Copy weights between `DeepRNN` (MXNet's fused layout) and `DeepRNNScratch` (the section's).

Per layer l the fused kernel keeps `l{l}_i2h_weight` (G*h, inputs), `l{l}_h2h_weight` (G*h, h),
gates stacked in `FUSED_GATE_ORDER`, transposed (W_xh = i2h_weight[gate].T), and two biases,
added, `l{l}_i2h_bias` + `l{l}_h2h_bias`, except in the GRU candidate's R * (H W_hh + b_hh).
"""
from mxnet import np

from .config import UsageError
from .cells import FUSED_GATE_ORDER
from .gluon_model import DeepRNN
from .params import is_initialized
from .scratch_model import DeepRNNScratch


def copy_params(src, dst):
    """Copy a `DeepRNN`'s weights to a `DeepRNNScratch` of the same shape, or back: same outputs."""
    if isinstance(src, DeepRNN) and isinstance(dst, DeepRNNScratch):
        view, params = scratch_view, DeepRNNScratch.section_params
    elif isinstance(src, DeepRNNScratch) and isinstance(dst, DeepRNN):
        view, params = fused_view, fused_params
    else:
        raise UsageError('copy_params copies DeepRNN -> DeepRNNScratch or back, got '
                         f'{type(src).__name__} -> {type(dst).__name__}')
    check_same_shape(src, dst)
    for role, net in (('src', src), ('dst', dst)):
        if not all(is_initialized(p) for p in net.collect_params().values()):
            raise UsageError(f'copy_params: {role}, a {type(net).__name__}, has no weights '
                             f'yet; call {role}.initialize() first')
    arrays = view(src)
    for name, param in params(dst).items():
        param.set_data(arrays[name].as_in_ctx(param.list_ctx()[0]))


def check_same_shape(a, b):
    for setting in ('cell', 'vocab_size', 'num_hiddens', 'num_layers', 'activation'):
        if getattr(a, setting, None) != getattr(b, setting, None):
            raise UsageError(f'cannot copy parameters: {setting} differs '
                             f'({getattr(a, setting, None)!r} vs {getattr(b, setting, None)!r})')


def fused_params(net):
    """The parameters of a `DeepRNN` by short name: 'l0_i2h_weight', ..., 'dense_weight'."""
    names = [f'l{i}_{kind}' for i in range(net.num_layers)
             for kind in ('i2h_weight', 'h2h_weight', 'i2h_bias', 'h2h_bias')]
    params = {name: getattr(net.rnn, name) for name in names}
    params.update(dense_weight=net.dense.weight, dense_bias=net.dense.bias)
    return params


def scratch_view(net, grad=False):
    """A `DeepRNN`'s weights (or gradients) by section name; b_g is i2h_bias[g] + h2h_bias[g]."""
    get = (lambda p: p.list_grad()[0]) if grad else (lambda p: p.list_data()[0])  # any copy
    h, fused = net.num_hiddens, fused_params(net)
    out = {}
    for i in range(net.num_layers):
        rows = lambda name, k: get(fused[f'l{i}_{name}'])[k * h:(k + 1) * h]  # noqa: E731
        prefix = f'layer{i + 1}_'
        for k, g in enumerate(FUSED_GATE_ORDER[net.cell]):
            out[prefix + f'W_x{g}'] = rows('i2h_weight', k).T
            out[prefix + f'W_h{g}'] = rows('h2h_weight', k).T
            if grad:  # h2h_bias and b_hh are frozen: b_g's gradient is i2h_bias's
                out[prefix + f'b_{g}'] = rows('i2h_bias', k)
            elif net.cell == 'gru' and g == 'h':  # the bias inside the reset gate stays apart
                out[prefix + 'b_h'] = rows('i2h_bias', k)
                out[prefix + 'b_hh'] = rows('h2h_bias', k)
            else:
                out[prefix + f'b_{g}'] = rows('i2h_bias', k) + rows('h2h_bias', k)
    out['W_hq'] = get(fused['dense_weight']).T
    out['b_q'] = get(fused['dense_bias'])
    return out


def fused_view(net):
    """A `DeepRNNScratch`'s weights by `fused_params` name; h2h_bias is 0 but for the GRU's b_hh."""
    scratch = {name: p.list_data()[0] for name, p in net.section_params().items()}
    out = {}
    gates = FUSED_GATE_ORDER[net.cell]
    for i in range(net.num_layers):
        layer = lambda name: scratch[f'layer{i + 1}_{name}']  # noqa: E731
        out[f'l{i}_i2h_weight'] = np.concatenate([layer(f'W_x{g}').T for g in gates])
        out[f'l{i}_h2h_weight'] = np.concatenate([layer(f'W_h{g}').T for g in gates])
        out[f'l{i}_i2h_bias'] = np.concatenate([layer(f'b_{g}') for g in gates])
        h2h_bias = np.zeros_like(out[f'l{i}_i2h_bias'])
        if net.cell == 'gru':
            h2h_bias[2 * net.num_hiddens:] = layer('b_hh')
        out[f'l{i}_h2h_bias'] = h2h_bias
    out['dense_weight'] = scratch['W_hq'].T
    out['dense_bias'] = scratch['b_q']
    return out
