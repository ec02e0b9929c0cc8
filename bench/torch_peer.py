"""The bench's PyTorch row, a script run in a process of its own by bench.py:
`python bench/torch_peer.py BATCHES.npz RESULT.json`.

It imports only the standard library, NumPy, harness.py and torch, never mxnet or the
d2l_deep_rnn package (whose import sets OpenMP variables that would handicap torch's own
OpenMP), and trains the bench's model with the bench's loop: the batches and settings the
bench wrote, one-hot inputs, weights N(0, 0.01^2) and zero biases, SGD, clipping of the
global gradient norm, the state carried over and detached.
"""
import math
import sys

from harness import load_batches, process_facts, timed_epochs, write_result


def build(torch, config, vocab_size):
    """The fused layer and output layer, initialized as the book's models are."""
    torch.manual_seed(config['seed'])
    if config['cell'] == 'rnn':
        rnn = torch.nn.RNN(vocab_size, config['num_hiddens'], config['num_layers'],
                           nonlinearity=config['activation'])
    else:
        layer = torch.nn.GRU if config['cell'] == 'gru' else torch.nn.LSTM
        rnn = layer(vocab_size, config['num_hiddens'], config['num_layers'])
    dense = torch.nn.Linear(config['num_hiddens'], vocab_size)
    for p in list(rnn.parameters()) + list(dense.parameters()):
        torch.nn.init.normal_(p, 0, 0.01) if p.dim() > 1 else torch.nn.init.zeros_(p)
    return rnn, dense


def train_epoch(torch, rnn, dense, data, optimizer, config, vocab_size):
    """One pass over `data` as the bench's loops make it; returns the training perplexity."""
    params = list(rnn.parameters()) + list(dense.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    state, total, tokens = None, 0.0, 0
    for X, Y in data:
        if state is not None:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) \
                else state.detach()
        inputs = torch.nn.functional.one_hot(X.T, vocab_size).float()
        outputs, state = rnn(inputs, state)
        l = loss_fn(dense(outputs.reshape(-1, config['num_hiddens'])), Y.T.reshape(-1))
        optimizer.zero_grad()
        l.backward()
        torch.nn.utils.clip_grad_norm_(params, config['clip'])
        optimizer.step()
        total, tokens = total + l.detach() * Y.numel(), tokens + Y.numel()
    return math.exp(float(total) / tokens)


def run(torch, settings, X, Y):
    """Seconds and perplexity of each epoch (the first a warm-up), and torch's facts."""
    config, vocab_size = settings['config'], settings['vocab_size']
    rnn, dense = build(torch, config, vocab_size)
    optimizer = torch.optim.SGD(list(rnn.parameters()) + list(dense.parameters()),
                                lr=config['lr'])
    data = [(torch.from_numpy(x).long(), torch.from_numpy(y).long()) for x, y in zip(X, Y)]
    seconds, ppl = timed_epochs(
        lambda: train_epoch(torch, rnn, dense, data, optimizer, config, vocab_size),
        settings['epochs'])
    return {'seconds': seconds, 'train_ppl': ppl, 'torch_version': torch.__version__,
            'torch_threads': torch.get_num_threads()}


def loaded():
    """Whether mxnet or the package came into this process: they must not."""
    return {'mxnet_loaded': 'mxnet' in sys.modules,
            'package_loaded': 'd2l_deep_rnn' in sys.modules}


def main(batches_path, result_path):
    """Train on the bench's batches and write the epochs and facts; without torch, why not."""
    settings, X, Y = load_batches(batches_path)
    try:
        import torch
    except (ImportError, OSError) as e:  # not a dependency: the row is skipped, with why
        write_result(result_path, {'skipped': f'torch is not importable ({e})', **loaded()})
        return 0
    result = run(torch, settings, X, Y)
    write_result(result_path, {**process_facts(), **result, **loaded()})
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
