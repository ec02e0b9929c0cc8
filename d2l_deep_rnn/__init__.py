"""d2l-deep-rnn: the "Deep Recurrent Neural Networks" section of Dive into Deep Learning
(MXNet edition), runnable: a fused Gluon deep RNN, the same model from scratch, and the
book's training loop for both."""
import os
import warnings

import d2l_deep_rnn_import_hook  # noqa: E402  (imports no MXNet)

d2l_deep_rnn_import_hook.install()  # before MXNet loads: what 1.9.1 needs on today's Pythons

from . import threads  # noqa: E402  (imports no MXNet)

# MXNet reads its thread settings when it is first imported: see `threads`.
MXNET_CAME_FIRST = threads.mxnet_loaded()
if not MXNET_CAME_FIRST:
    threads.set_environment()
if os.environ.get('MXNET_USE_MKLDNN_RNN') == '0':
    warnings.warn('MXNET_USE_MKLDNN_RNN=0 selects MXNet 1.9.1\'s native CPU RNN kernel, whose '
                  'gradients are wrong below the top layer when num_layers >= 2 '
                  '(apache/mxnet#17898); unset it', RuntimeWarning)

try:
    from mxnet import npx  # noqa: E402
except OSError as error:  # libmxnet.so, or a library it needs, did not load
    d2l_deep_rnn_import_hook.refuse(error)

npx.set_np()
if MXNET_CAME_FIRST:
    threads.warn_if_too_late()

from .config import Config, UsageError  # noqa: E402
from .data import load_data_time_machine, load_data_splits, load_data_text  # noqa: E402
from .texts import TextError  # noqa: E402
from .gluon_model import DeepRNN  # noqa: E402
from .scratch_model import DeepRNNScratch  # noqa: E402
from .convert import copy_params  # noqa: E402
from .training import train  # noqa: E402
from .generate import predict  # noqa: E402

__all__ = ['Config', 'UsageError', 'TextError', 'load_data_time_machine', 'load_data_splits',
           'load_data_text', 'DeepRNN',
           'DeepRNNScratch', 'copy_params', 'train', 'predict',
           'StackedRNNScratch', 'StackedRNN', 'DeepRNNLM', 'TimeMachine']

CURRENT_EDITION = ('StackedRNNScratch', 'StackedRNN', 'DeepRNNLM', 'TimeMachine')


def __getattr__(name):
    """The current edition's classes load d2l (0.6 s) on first use, not with every command."""
    if name in CURRENT_EDITION:
        from . import current_edition
        return getattr(current_edition, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
