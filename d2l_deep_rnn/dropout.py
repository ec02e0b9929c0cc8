"""Dropout between layers (where Gluon and cuDNN put it), before the output layer, and on the
recurrent weights (DropConnect); where each goes and why: docs/differences.md. MXNet 1.9.1's CPU
fused kernel (oneDNN) ignores its `dropout`, so `DeepRNN` runs each layer as a call of its own
and drops here, between them."""


def between_layers(F, H, p):
    """Layer l's output going up to l+1: in training, dropped with probability p, kept / (1-p)."""
    return F.npx.dropout(H, p=p)


def before_output(F, H, p):
    """The top layer's output on its way to O_t = H_t^(L) W_hq + b_q: dropped as above."""
    return F.npx.dropout(H, p=p)


def recurrent_weights(F, W_hh, p):
    """Layer l's W_hh for one batch: each entry dropped as above, one mask for all steps."""
    return F.npx.dropout(W_hh, p=p)
