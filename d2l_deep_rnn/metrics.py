"""What a run is measured by: perplexity, sums of squares (norms), trained parameters (the
run's own figures, such as tokens per second: `history`)."""
import math

import mxnet as mx

from .params import is_frozen


def perplexity(mean_loss):
    """exp(mean cross-entropy); inf (not an OverflowError) when the loss is huge."""
    return math.exp(mean_loss) if mean_loss < 700 else math.inf


def sum_squares(arrays):
    """(P,) each array's sum of squares: one fused operator, 7x faster than a square, sum each."""
    arrays = [a.as_nd_ndarray() for a in arrays]
    return mx.nd.multi_sum_sq(*arrays, num_arrays=len(arrays)).as_np_ndarray()


def count_params(net):
    """Trainable scalars of `net`, frozen ones (DeepRNN's h2h_bias) left out; works before init."""
    return sum(math.prod(p.shape) for p in net.collect_params().values()
               if not is_frozen(p))
