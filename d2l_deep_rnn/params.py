"""Gluon parameters as both models use them: frozen (kept at their value by every loop), set
(initialized) or not, and on which device."""


def net_ctx(net, every=False):
    """The context holding `net`'s parameters (`every`: the list of all of them)."""
    ctxs = next(iter(net.collect_params().values())).list_ctx()
    return ctxs if every else ctxs[0]


def freeze(param):
    """Keep `param` at its value under any SGD loop, with the `.grad` the book's clipping reads."""
    param.lr_mult = 0.0  # grad_req='null' would leave `.grad` None


def is_frozen(param):
    """True for a parameter that `freeze` fixed: our clipping and diagnostics skip it."""
    return param.lr_mult == 0


def is_initialized(param):
    """True once `param` holds its arrays, on any contexts (Gluon 1.9.1 has no public test)."""
    return param._data is not None  # param.data() fails if no copy is on cpu(0): [gpu(0), gpu(1)]
