"""One way to make the models: from a `Config`, seeded, initialized as the book does, the
scratch model given the Gluon model's weights so that both start alike."""
import random

import mxnet as mx
import numpy as onp
from mxnet import init

from .cells import check_model_size
from .config import check_config, check_seed
from .convert import copy_params
from .gluon_model import DeepRNN
from .params import is_initialized
from .scratch_model import DeepRNNScratch

MODELS = {'gluon': DeepRNN, 'scratch': DeepRNNScratch}  # the commands' --model names


def set_seed(seed):
    """Seed every generator a run draws from: Python's (data order), NumPy's and MXNet's."""
    check_seed(seed)  # one line, not NumPy's ValueError, for a seed out of its range
    random.seed(seed)
    onp.random.seed(seed)
    mx.random.seed(seed)


def ensure_initialized(net, ctx):
    """Initialize as the book does (N(0, 0.01^2), zero biases) unless already set; move to `ctx`."""
    params = net.collect_params()
    if not all(is_initialized(p) for p in params.values()):
        net.initialize(init.Normal(0.01), ctx=ctx, force_reinit=True)
        return
    params.reset_ctx(ctx)


def new_model(name, vocab_size, config, **options):
    """`DeepRNN` ('gluon') or `DeepRNNScratch` ('scratch') as `config` sets it, not initialized."""
    return MODELS[name](vocab_size, config.num_hiddens, config.num_layers, config.cell,
                        config.activation, dropout=config.dropout,
                        output_dropout=config.output_dropout,
                        weight_dropout=config.weight_dropout, **options)


def build_models(config, vocab_size, ctx, names=('scratch', 'gluon')):
    """{name: model} for `names` from `config.seed`: the scratch model with the Gluon's weights."""
    check_config(config)
    for name in sorted(names):
        check_model_size(vocab_size, config.num_hiddens, config.num_layers, config.cell,
                         fused=name == 'gluon')
    set_seed(config.seed)
    # both built and initialized whatever `names` asks, so the seed draws alike
    models = {name: new_model(name, vocab_size, config) for name in ('gluon', 'scratch')}
    ensure_initialized(models['gluon'], ctx)
    ensure_initialized(models['scratch'], ctx)
    copy_params(models['gluon'], models['scratch'])
    return {name: models[name] for name in names}


def build_model(config, vocab_size, ctx, name='gluon'):
    """One model of `build_models`: the same weights for the same seed."""
    return build_models(config, vocab_size, ctx, (name,))[name]
