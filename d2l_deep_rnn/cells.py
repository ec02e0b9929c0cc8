"""The three cells by the section's names: their gates in one table (in the section's order,
and in the order MXNet's fused kernel stacks them), and what a deep RNN of them holds: its
parameters, its largest array, and whether MXNet and this machine can hold it."""
import os

from .config import UsageError

# gate letters g (each gate has W_xg, W_hg, b_g): the candidate is 'h' in the RNN and GRU
# (the hidden state's own equation) and 'c' in the LSTM (the candidate memory C_tilde)
GATES = {'rnn': 'h', 'gru': 'rzh', 'lstm': 'ifoc'}  # as DeepRNNScratch computes them
FUSED_GATE_ORDER = {'rnn': 'h', 'gru': 'rzh', 'lstm': 'ifco'}  # as the fused kernel stacks them
MAX_ARRAY_SIZE = 2 ** 31 - 1  # MXNet 1.9.1's wheels index an array's elements with int32
BYTES_PER_PARAM = 3 * 4  # float32 weights, gradients and the update's (or packing's) copy
FIX = 'num_hiddens or num_layers (--num-hiddens, --num-layers)'  # in Python and commands


def num_params(vocab_size, num_hiddens, num_layers, cell):
    """The section's parameters: G gates of (W_xg, W_hg, b_g) per layer, then W_hq, b_q."""
    g, h, V = len(GATES[cell]), num_hiddens, vocab_size
    return g * (V * h + h * h + h) + (num_layers - 1) * g * (2 * h * h + h) + h * V + V


def largest_array(vocab_size, num_hiddens, num_layers, cell, fused):
    """Elements of the largest array: fused, all weights packed; scratch, W_x* stacked or W_hq."""
    g, h, V = len(GATES[cell]), num_hiddens, vocab_size
    if fused:
        return g * (V * h + h * h + 2 * h) + (num_layers - 1) * g * (2 * h * h + 2 * h)
    return max(g * h * max(V, h), h * V)


def available_memory():
    """Bytes of memory this process could still get (Linux MemAvailable, else all RAM)."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')


def check_model_size(vocab_size, num_hiddens, num_layers, cell, fused):
    """Refuse, before allocating, a model with an array over MXNet's limit or too big for memory."""
    settings = f'num_hiddens={num_hiddens}, num_layers={num_layers} ({cell})'
    largest = largest_array(vocab_size, num_hiddens, num_layers, cell, fused)
    if largest >= MAX_ARRAY_SIZE:  # MXNet checks size < 2^31 - 1
        what = "the fused layer's packed weights" if fused else 'its largest weight array'
        raise UsageError(f'{settings} needs {largest:,} values in {what}, over MXNet\'s limit '
                         f'of 2^31 - 1 per array; use a smaller {FIX}')
    need = BYTES_PER_PARAM * num_params(vocab_size, num_hiddens, num_layers, cell)
    free = available_memory()
    if need > free:
        raise UsageError(f'{settings} has {need // BYTES_PER_PARAM:,} parameters: their '
                         f'weights, gradients and update need {need / 2 ** 30:,.1f} GiB, more '
                         f'than the {free / 2 ** 30:,.1f} GiB of memory free here; use a '
                         f'smaller {FIX}')
