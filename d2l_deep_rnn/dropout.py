"""Dropout between layers, where Gluon and cuDNN put it: on layer l's output H_t^(l) before it
enters layer l+1, never on the recurrent connection H_{t-1}^(l) -> H_t^(l), never after
the last layer; each kept entry scaled by 1/(1-p) in training, nothing dropped outside it.
Separately, `output_dropout` drops the top layer's output H_t^(L) before the output layer,
as Zaremba et al. (2014) and MXNet's word language model example do (also never on the
recurrent connection). And `weight_dropout` regularizes the recurrent connection itself
without touching the states: DropConnect (Wan et al., 2013) on each layer's W_hh, drawn once
per batch and shared by all its time steps and rows, as Merity et al.'s (2017) weight-dropped
LSTM does; the kept weights are scaled by 1/(1-p) in training, all are used outside it.

MXNet 1.9.1's CPU kernel for the fused layers (oneDNN) ignores its `dropout` argument
(uxlfoundation/oneDNN#807: oneDNN has no dropout in RNNs), so a fused `rnn.LSTM(h, L,
dropout=0.5)` silently does not regularize on a CPU, while cuDNN drops on a GPU. `DeepRNN`
with dropout therefore runs each layer as its own fused call and drops here, between them,
on every context; `DeepRNNScratch` drops here too.
"""


def between_layers(F, H, p):
    """Layer l's output on its way up to layer l+1: dropped with probability p and scaled
    by 1/(1-p) in training mode (inside `autograd.record()`); unchanged otherwise."""
    return F.npx.dropout(H, p=p)


def before_output(F, H, p):
    """The top layer's output H_t^(L) on its way to O_t = H_t^(L) W_hq + b_q: dropped with
    probability p and scaled by 1/(1-p) in training mode; unchanged otherwise."""
    return F.npx.dropout(H, p=p)


def recurrent_weights(F, W_hh, p):
    """Layer l's recurrent weights for one batch: each entry dropped with probability p and
    the kept ones scaled by 1/(1-p) in training mode (one mask for every step of the
    batch); unchanged otherwise."""
    return F.npx.dropout(W_hh, p=p)
