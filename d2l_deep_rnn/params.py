"""Gluon parameters as both models use them: frozen (kept at their value by every loop), set
(initialized) or not, and on which device."""


def net_ctx(net, every=False):
    """The context holding `net`'s parameters (`every`: the list of all of them)."""
    ctxs = next(iter(net.collect_params().values())).list_ctx()
    return ctxs if every else ctxs[0]


def freeze(param):
    """Keep `param` at its value under any SGD loop: a learning-rate multiplier of 0, but
    still a gradient array, so loops written the book's way (which read every parameter's
    `.grad` to clip) run unchanged. (`grad_req='null'` would leave `.grad` None.)"""
    param.lr_mult = 0.0


def is_frozen(param):
    """True for a parameter that `freeze` fixed: our clipping and diagnostics skip it."""
    return param.lr_mult == 0


def is_initialized(param):
    """True once `param` holds its arrays, on whichever contexts. (Gluon 1.9.1 has no public
    test; `param.data()` also fails for an initialized parameter with several copies, none
    on the default context cpu(0), as on [gpu(0), gpu(1)].)"""
    return param._data is not None
