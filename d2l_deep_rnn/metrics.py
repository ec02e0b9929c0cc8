"""What a run is measured by: perplexity, sums of squares (norms), training tokens per second,
trained parameters."""
import math

import mxnet as mx

from .config import UsageError
from .gluon_model import is_frozen


def perplexity(mean_loss):
    """exp(mean cross-entropy); inf (not an OverflowError) when the loss is huge."""
    return math.exp(mean_loss) if mean_loss < 700 else math.inf


def sum_squares(arrays):
    """(P,) each array's sum of squares, on the device: one fused operator for all of them
    (7x faster than a square and a sum each)."""
    arrays = [a.as_nd_ndarray() for a in arrays]
    return mx.nd.multi_sum_sq(*arrays, num_arrays=len(arrays)).as_np_ndarray()


def tokens_per_sec(history):
    """Training tokens per second over the run, leaving out the first epoch when there are
    more (it includes one-time costs: memory allocation, building the hybridized graph)."""
    rates, seconds = history['tokens_per_sec'], history['seconds']
    if not rates:
        raise UsageError('the history has no epochs')
    start = 1 if len(rates) > 1 else 0
    tokens = sum(r * s for r, s in zip(rates[start:], seconds[start:]))
    return tokens / sum(seconds[start:])


def count_params(net):
    """Trainable scalars of `net` (frozen ones, such as DeepRNN's h2h_bias, not counted);
    works before initialization, since both models declare every shape."""
    return sum(math.prod(p.shape) for p in net.collect_params().values()
               if not is_frozen(p))
