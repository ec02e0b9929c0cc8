"""`python -m d2l_deep_rnn bench`: training tokens/s of every way we can train the section's
model, in one process and one run, as ratios against a loop written the way the book's
`train_ch8` is.

Rows: (a) the book-style loop (an `nn.Block` RNNModel, both fused biases trained, the loss
read after every batch, clipping with a host sync per batch); (b) `DeepRNN` imperative and
(c) hybridized in our `train_epoch`; (d) `DeepRNNScratch` step by step and (e) its fast
layer-by-layer schedule; (f) PyTorch's `nn.LSTM`/`GRU`/`RNN` in the same loop, when `torch`
is importable; (g) and (h) rows (c) and (e) with `train(..., diagnostics=True)`'s per-layer
instruments, whose cost is the ratio g/c and h/e. Each row: one warm-up epoch, then `repeats` timed epochs over the same batches.
"""
import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import mxnet as mx
from d2l import mxnet as d2l
from mxnet import autograd, gluon, init, np, npx
from mxnet.gluon import nn

from .cli import ArgumentParser, parse_ctx
from .config import Config, UsageError
from .data import atomic_write_bytes, load_data_splits
from .gluon_model import FUSED_LAYERS, GATES, DeepRNN, check_model_size
from .scratch_model import DeepRNNScratch
from .diagnostics import Diagnostics
from .training import set_seed, train_epoch

def flops_per_token(cell, num_layers, num_hiddens, vocab_size):
    """Floating-point operations to train on one token: the forward pass's multiply-adds
    (inputs and hidden products of every gate, then the output layer), x2 for multiply and add,
    x3 for forward plus backward (gradients of inputs and of weights)."""
    g, h = GATES[cell], num_hiddens
    macs = g * h * (vocab_size + h) + (num_layers - 1) * g * h * (2 * h) + h * vocab_size
    return 3 * 2 * macs


def matmul_peak(ctx, size=1024, repeats=10):
    """GFLOP/s of a (size x size) by (size x size) float32 product through oneDNN
    (`npx.fully_connected`, what the fused layers use) and through `np.dot` (OpenBLAS)."""
    a = np.random.normal(0, 1, (size, size), ctx=ctx)
    b = np.random.normal(0, 1, (size, size), ctx=ctx)
    result = {}
    for name, product in (('onednn', lambda: npx.fully_connected(a, b, no_bias=True,
                                                                  num_hidden=size)),
                          ('openblas', lambda: np.dot(a, b))):
        product().wait_to_read()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            product().wait_to_read()
            times.append(time.perf_counter() - start)
        result[name] = 2 * size ** 3 / min(times) / 1e9
    return result


class BookRNNModel(nn.Block):
    """The book's `RNNModel` (d2l 0.17): a plain Block around the fused layer, both biases
    trained, one-hot inputs, the dense layer applied to the reshaped outputs."""

    def __init__(self, rnn_layer, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.rnn, self.vocab_size = rnn_layer, vocab_size
        self.dense = nn.Dense(vocab_size)

    def forward(self, inputs, state):
        X = npx.one_hot(inputs.T, self.vocab_size)
        Y, state = self.rnn(X, state)
        return self.dense(Y.reshape(-1, Y.shape[-1])), state

    def begin_state(self, *args, **kwargs):
        return self.rnn.begin_state(*args, **kwargs)


def book_train_epoch(net, train_iter, loss, trainer, ctx, clip, use_random_iter):
    """The book's `train_epoch_ch8`, host syncs included; returns (perplexity, tokens)."""
    state, total, tokens = None, 0.0, 0
    for X, Y in train_iter:
        if state is None or use_random_iter:
            state = net.begin_state(batch_size=X.shape[0], ctx=ctx)
        else:
            state = [s.detach() for s in state]
        y = Y.T.reshape(-1)
        X, y = X.as_in_ctx(ctx), y.as_in_ctx(ctx)
        with autograd.record():
            y_hat, state = net(X, state)
            l = loss(y_hat, y).mean()
        l.backward()
        d2l.grad_clipping(net, clip)  # the book's own: every parameter's .grad, on the host
        trainer.step(batch_size=1)
        total += float(l) * y.size  # a host sync per batch, as the book's Accumulator
        tokens += y.size
    return math.exp(total / tokens), tokens


def diagnosed_epoch(net, batches, loss, trainer, ctx, clip, use_random_iter):
    """`train_epoch` with the instruments of `train(..., diagnostics=True)`, the end of
    epoch saturation replay included."""
    monitor = Diagnostics(net, net.collect_params().values(), trainer.learning_rate, clip)
    result = train_epoch(net, batches, loss, trainer, ctx, clip, use_random_iter,
                         monitor=monitor)
    monitor.end_epoch()
    return result


def mxnet_row(make_net, epoch_fn, hybridize, batches, config, ctx, repeats):
    """Tokens/s of `repeats` epochs (after one warm-up) and the final training perplexity."""
    set_seed(config.seed)
    net = make_net()
    net.initialize(init.Normal(0.01), ctx=ctx)
    if hybridize:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': config.lr})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    rates, ppl = [], None
    for epoch in range(repeats + 1):
        start = time.perf_counter()
        ppl, tokens = epoch_fn(net, batches, loss, trainer, ctx, config.clip, False)
        if epoch > 0:  # the first epoch warms up (allocation, oneDNN primitive creation)
            rates.append(tokens / (time.perf_counter() - start))
    return rates, ppl


def torch_row(batches, config, vocab_size, repeats):
    """PyTorch's fused layer in the same loop (SGD, global-norm clipping, detached state)."""
    import torch
    torch.manual_seed(config.seed)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    layer = {'rnn': torch.nn.RNN, 'gru': torch.nn.GRU, 'lstm': torch.nn.LSTM}[config.cell]
    rnn = layer(vocab_size, config.num_hiddens, config.num_layers)
    dense = torch.nn.Linear(config.num_hiddens, vocab_size)
    params = list(rnn.parameters()) + list(dense.parameters())
    for p in params:
        torch.nn.init.normal_(p, 0, 0.01) if p.dim() > 1 else torch.nn.init.zeros_(p)
    optimizer = torch.optim.SGD(params, lr=config.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    data = [(torch.from_numpy(X.asnumpy()).long(), torch.from_numpy(Y.asnumpy()).long())
            for X, Y in batches]
    rates, ppl = [], None
    for epoch in range(repeats + 1):
        start, state, total, tokens = time.perf_counter(), None, 0.0, 0
        for X, Y in data:
            if state is not None:
                state = tuple(s.detach() for s in state) if isinstance(state, tuple) \
                    else state.detach()
            inputs = torch.nn.functional.one_hot(X.T, vocab_size).float()
            outputs, state = rnn(inputs, state)
            l = loss_fn(dense(outputs.reshape(-1, config.num_hiddens)), Y.T.reshape(-1))
            optimizer.zero_grad()
            l.backward()
            torch.nn.utils.clip_grad_norm_(params, config.clip)
            optimizer.step()
            total, tokens = total + l.detach() * Y.numel(), tokens + Y.numel()
        ppl = math.exp(float(total) / tokens)
        if epoch > 0:
            rates.append(tokens / (time.perf_counter() - start))
    return rates, ppl, torch.__version__


def run(config, ctx, repeats, data_dir=None, with_torch=True):
    """All rows; returns the result dict (also what --json writes)."""
    train_iter, _, vocab = load_data_splits(config.batch_size, config.num_steps,
                                            max_tokens=config.max_tokens,
                                            data_dir=data_dir)
    train_iter.random_offset = False
    batches = list(train_iter)  # the same batches for every row and epoch
    for fused in (True, False):  # before row (a) builds a fused layer of its own
        check_model_size(len(vocab), config.num_hiddens, config.num_layers, config.cell, fused)
    V, args = len(vocab), (config.num_hiddens, config.num_layers, config.cell, config.activation)
    book_layer = lambda: FUSED_LAYERS[config.cell](  # noqa: E731
        config.num_hiddens, config.num_layers,
        **({'activation': config.activation} if config.cell == 'rnn' else {}))
    rows = [
        ('a', 'book-style loop (RNNModel, host sync per batch)',
         lambda: BookRNNModel(book_layer(), V), book_train_epoch, False),
        ('b', 'DeepRNN imperative', lambda: DeepRNN(V, *args), train_epoch, False),
        ('c', 'DeepRNN hybridized (train default)', lambda: DeepRNN(V, *args), train_epoch,
         True),
        ('d', 'DeepRNNScratch step by step', lambda: DeepRNNScratch(V, *args, fast=False),
         train_epoch, False),
        ('e', 'DeepRNNScratch fast (train default)',
         lambda: DeepRNNScratch(V, *args, fast=True), train_epoch, True),
    ]
    diagnosed = [
        ('g', '(c) with diagnostics=True', lambda: DeepRNN(V, *args), diagnosed_epoch, True),
        ('h', '(e) with diagnostics=True', lambda: DeepRNNScratch(V, *args, fast=True),
         diagnosed_epoch, True),
    ]
    results = mxnet_rows(rows, batches, config, ctx, repeats)
    if with_torch and torch_available():
        rates, ppl, version = torch_row(batches, config, V, repeats)
        results.append(row_result('f', f'PyTorch {version} nn.{config.cell.upper()} '
                                       'same loop', rates, ppl))
        print(f'  f) {results[-1]["name"]}: {results[-1]["tokens_per_sec"]:,.0f} tokens/s')
    results += mxnet_rows(diagnosed, batches, config, ctx, repeats)
    peak = matmul_peak(ctx)
    flops = flops_per_token(config.cell, config.num_layers, config.num_hiddens, V)
    reference = results[0]['tokens_per_sec']
    for r in results:
        r['ratio'] = r['tokens_per_sec'] / reference
        r['gflops'] = r['tokens_per_sec'] * flops / 1e9
    return {'config': config.as_dict(), 'ctx': str(ctx), 'repeats': repeats,
            'tokens_per_epoch': sum(X.size for X, _ in batches),
            'flops_per_token': flops, 'matmul_peak_gflops': peak,
            'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
            'machine': f'{platform.processor() or platform.machine()}, '
                       f'{len(os.sched_getaffinity(0))} cores', 'rows': results}


def mxnet_rows(rows, batches, config, ctx, repeats):
    results = []
    for key, name, make_net, epoch_fn, hybridize in rows:
        rates, ppl = mxnet_row(make_net, epoch_fn, hybridize, batches, config, ctx, repeats)
        results.append(row_result(key, name, rates, ppl))
        print(f'  {key}) {name}: {results[-1]["tokens_per_sec"]:,.0f} tokens/s', flush=True)
    return results


def torch_available():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def row_result(key, name, rates, ppl):
    return {'row': key, 'name': name, 'tokens_per_sec': statistics.median(rates),
            'min': min(rates), 'max': max(rates), 'train_ppl': ppl}


def format_table(result):
    peak = result['matmul_peak_gflops']
    lines = [f"{'':3}{'training loop':<48}{'tokens/s':>10}{'spread':>17}{'vs (a)':>8}"
             f"{'GFLOP/s':>9}{'ppl':>7}"]
    for r in result['rows']:
        spread = f"{r['min']:,.0f}-{r['max']:,.0f}"
        lines.append(f"{r['row']}) {r['name']:<48}{r['tokens_per_sec']:>10,.0f}{spread:>17}"
                     f"{r['ratio']:>7.2f}x{r['gflops']:>9.1f}{r['train_ppl']:>7.2f}")
    lines.append(f"median of {result['repeats']} epochs of {result['tokens_per_epoch']:,} "
                 f"tokens each after a warm-up; {result['flops_per_token'] / 1e6:.2f} MFLOP "
                 f"per token; matrix-product peak {peak['onednn']:.0f} GFLOP/s (oneDNN), "
                 f"{peak['openblas']:.0f} (OpenBLAS np.dot); {result['ctx']}, "
                 f"{result['machine']}, OMP_NUM_THREADS={result['omp_num_threads']}")
    rate = {r['row']: r['tokens_per_sec'] for r in result['rows']}
    if {'c', 'e', 'g', 'h'} <= set(rate):
        lines.append(f"diagnostics keep {rate['g'] / rate['c']:.0%} of the tokens/s of (c) "
                     f"and {rate['h'] / rate['e']:.0%} of (e)")
    return '\n'.join(lines)


def main(argv):
    defaults = Config()
    parser = ArgumentParser(prog='python -m d2l_deep_rnn bench', description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--cell', default=defaults.cell)
    parser.add_argument('--num-layers', type=int, default=defaults.num_layers)
    parser.add_argument('--num-hiddens', type=int, default=defaults.num_hiddens)
    parser.add_argument('--batch-size', type=int, default=defaults.batch_size)
    parser.add_argument('--num-steps', type=int, default=defaults.num_steps)
    parser.add_argument('--repeats', type=int, default=5, help='timed epochs per row')
    parser.add_argument('--quick', action='store_true',
                        help='a tiny model and 2,000 characters: runs in seconds (for CI)')
    parser.add_argument('--no-torch', action='store_true', help='skip the PyTorch row')
    parser.add_argument('--ctx', default='auto')
    parser.add_argument('--json', default='bench.json', help='where to write the results')
    parser.add_argument('--data-dir', default=None)
    args = parser.parse_args(argv)
    try:
        config = Config(cell=args.cell, num_layers=args.num_layers,
                        num_hiddens=args.num_hiddens, batch_size=args.batch_size,
                        num_steps=args.num_steps)
        repeats = args.repeats
        if args.quick:
            config = config.replace(num_hiddens=16, batch_size=8, num_steps=10, max_tokens=2000)
            repeats = min(repeats, 2)
        if repeats < 1:
            raise UsageError(f'--repeats must be a positive integer, got {repeats}')
        ctx = parse_ctx(args.ctx)
        print(f'Benchmarking {config.num_layers}-layer {config.cell}, {config.num_hiddens} '
              f'hiddens, batch {config.batch_size} x {config.num_steps} on {ctx}', flush=True)
        result = run(config, ctx, repeats, args.data_dir, with_torch=not args.no_torch)
        atomic_write_bytes(args.json, json.dumps(result, indent=1).encode())
    except UsageError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except OSError as e:
        print(f'error: cannot write {args.json} ({e.strerror}); choose another --json',
              file=sys.stderr)
        return 2
    print(format_table(result))
    print(f'wrote {args.json}')
    return 0
