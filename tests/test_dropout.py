"""dropout.between_layers and recurrent_weights: what they do to a layer's output and to its
recurrent weights."""
import mxnet as mx
import pytest
from mxnet import autograd, np

from d2l_deep_rnn.dropout import between_layers, recurrent_weights


@pytest.mark.parametrize('drop', [between_layers, recurrent_weights])
@pytest.mark.parametrize('p', [0.2, 0.5])
def test_training_drops_a_fraction_p_and_scales_the_rest_by_one_over_one_minus_p(p, drop):
    mx.random.seed(0)
    H = np.random.uniform(1, 2, (35, 32, 64))
    with autograd.record():
        dropped = drop(mx, H, p)
    kept = dropped != 0
    assert abs(1 - float(kept.mean()) - p) < 0.02  # 71,680 entries
    assert float(np.abs(np.where(kept, dropped * (1 - p) - H, 0)).max()) < 1e-6
    assert (drop(mx, H, p) == H).all()  # outside training: unchanged
