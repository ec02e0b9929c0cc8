"""`python -m d2l_deep_rnn bench`: training tokens/s of every way we can train the section's
model, each in a fresh process of its own, as ratios against a loop written the way the
book's `train_ch8` is.

Rows: (a) the book-style loop (an `nn.Block` RNNModel, both fused biases trained, the loss
read after every batch, clipping with a host sync per batch); `train` with (b) `DeepRNN`
imperative and (c) hybridized, (d) `DeepRNNScratch` step by step and (e) its fast
layer-by-layer schedule; (f) PyTorch's `nn.LSTM`/`GRU`/`RNN` in the same loop, when `torch`
is importable (a script that imports neither mxnet nor this package); (g) and (h) rows (c)
and (e) with the per-layer instruments (`train(..., callbacks=[Diagnostics()])`), whose
cost is the ratio g/c and h/e; (i) row (c) in a process that imported `d2l` (hence mxnet)
before this package, as the notebooks do: too late for the package's environment settings
to reach MXNet, so this row measures what the package does about it; (j) row (c)'s forward,
loss and backward alone, without clipping or update: the most any step around the model
could reach.

Every row's process gets the environment this command was started with, trains on the same
batches from the same seed (one warm-up epoch, then `--repeats` timed ones), and the rows
take turns for `--rounds` rounds (a b c ... a b c ...); each row reports the median and
spread of all its timed epochs.
"""
import argparse
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import mxnet as mx
import numpy as onp
from d2l import mxnet as d2l
from mxnet import autograd, gluon, init, np, npx
from mxnet.base import _LIB
from mxnet.gluon import nn

from ..callbacks import OnEpoch
from ..config import Config, UsageError, check_positive_int
from ..data import load_data_splits
from ..factory import build_model, set_seed
from ..files import atomic_write_bytes
from ..cells import GATES, check_model_size
from ..gluon_model import FUSED_LAYERS, DeepRNN
from ..machine import describe_host
from ..scratch_model import DeepRNNScratch
from ..threads import thread_cap
from ..diagnostics import Diagnostics
from ..training import train_config
from .common import add_config_flags, config_from_args, parse_ctx
from .torch_peer import (OMP_VARIABLES, load_batches, process_facts, timed_epochs,
                         write_batches, write_result)

HELP = "time every way to train the section's model, each in its own process"
FORMATTER = argparse.RawDescriptionHelpFormatter
HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(os.path.dirname(HERE))  # the folder holding d2l_deep_rnn/
TORCH_PEER = os.path.join(HERE, 'torch_peer.py')
TORCH_ROW, NOTEBOOK_ROW, BOUND_ROW = 'f', 'i', 'j'
CONFIG_FIELDS = ('cell', 'num_layers', 'num_hiddens', 'batch_size', 'num_steps')


def flops_per_token(cell, num_layers, num_hiddens, vocab_size):
    """Floating-point operations to train on one token: the forward pass's multiply-adds
    (inputs and hidden products of every gate, then the output layer), x2 for multiply and add,
    x3 for forward plus backward (gradients of inputs and of weights)."""
    g, h = len(GATES[cell]), num_hiddens
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


# What a row's process runs: (config, vocab_size, batches, ctx, epochs) -> the seconds and
# training perplexity of each epoch, the first a warm-up.

def book_row(config, vocab_size, batches, ctx, epochs):
    """The book-style loop as `train_ch8` sets it up: Normal(0.01) weights, Gluon's SGD."""
    set_seed(config.seed)
    layer = FUSED_LAYERS[config.cell](
        config.num_hiddens, config.num_layers,
        **({'activation': config.activation} if config.cell == 'rnn' else {}))
    net = BookRNNModel(layer, vocab_size)
    net.initialize(init.Normal(0.01), ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': config.lr})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    return timed_epochs(lambda: book_train_epoch(net, batches, loss, trainer, ctx,
                                                 config.clip, False)[0], epochs)


def train_row(make_net, config, vocab_size, batches, ctx, epochs, hybridize=True,
              diagnostics=False):
    """`train` as a learner calls it; each epoch timed from one `on_epoch` call to the next,
    so what `train` does around `train_epoch` (the diagnostics' replay) counts too."""
    net = make_net(vocab_size, config.num_hiddens, config.num_layers, config.cell,
                   config.activation)
    stamps = [time.perf_counter()]
    callbacks = [Diagnostics()] if diagnostics else []
    callbacks.append(OnEpoch(lambda _: stamps.append(time.perf_counter())))
    history = train_config(net, batches, None, config.replace(num_epochs=epochs), ctx,
                           hybridize=hybridize, callbacks=callbacks)
    return [end - start for start, end in zip(stamps, stamps[1:])], history['train_ppl']


def forward_backward_row(config, vocab_size, batches, ctx, epochs):
    """(c) without its step: `DeepRNN` hybridized, forward, loss and backward on every batch,
    no clipping and no update, the state carried as `train` carries it. Nothing around the
    model can make (c) faster than this row: it bounds what a better step could gain."""
    net = build_model(config, vocab_size, ctx)
    net.hybridize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()

    def epoch():
        state, total = None, 0.0
        for X, Y in batches:
            state = net.begin_state(X.shape[0], ctx) if state is None else \
                [s.detach() for s in state]
            X, Y = X.as_in_ctx(ctx), Y.as_in_ctx(ctx)  # on the model's device, as in `train`
            with autograd.record():
                y_hat, state = net(X, state)
                l = loss(y_hat, Y.T.reshape(-1)).sum() / Y.size
            l.backward()
            total = total + l
        return math.exp(float(total) / len(batches))  # the weights never change
    return timed_epochs(epoch, epochs)


ROWS = {  # key: (name, what its process runs; the PyTorch row runs torch_peer.py)
    'a': ('book-style loop (RNNModel, host sync per batch)', book_row),
    'b': ('DeepRNN imperative', functools.partial(train_row, DeepRNN, hybridize=False)),
    'c': ('DeepRNN hybridized (train default)', functools.partial(train_row, DeepRNN)),
    'd': ('DeepRNNScratch step by step',
          functools.partial(train_row, functools.partial(DeepRNNScratch, fast=False),
                            hybridize=False)),
    'e': ('DeepRNNScratch fast (train default)', functools.partial(train_row, DeepRNNScratch)),
    TORCH_ROW: ('PyTorch, same loop', None),
    'g': ('(c) with the Diagnostics callback',
          functools.partial(train_row, DeepRNN, diagnostics=True)),
    'h': ('(e) with the Diagnostics callback',
          functools.partial(train_row, DeepRNNScratch, diagnostics=True)),
    NOTEBOOK_ROW: ('(c) with d2l imported first (notebook order)',
                   functools.partial(train_row, DeepRNN)),
    BOUND_ROW: ('(c) forward + backward alone, no step (its bound)', forward_backward_row),
}

# A package row's process. The notebook row imports d2l (hence mxnet) before the package,
# so it runs as a notebook that did `from d2l import mxnet as d2l` first.
CHILD_CODE = '''\
import sys
sys.path.insert(0, {root!r})
{prelude}mxnet_first = 'mxnet' in sys.modules
from d2l_deep_rnn.commands.bench import child_main
sys.exit(child_main(sys.argv[1:], mxnet_first))
'''


def child_main(argv, mxnet_first):
    """A package row's own process: train on the parent's batches, write times and facts."""
    key, batches_path, result_path = argv
    settings, X, Y = load_batches(batches_path)
    batches = [(np.array(x), np.array(y)) for x, y in zip(X, Y)]
    seconds, ppl = ROWS[key][1](Config(**settings['config']), settings['vocab_size'], batches,
                                parse_ctx(settings['ctx']), settings['epochs'])
    write_result(result_path, {**process_facts(), 'seconds': seconds, 'train_ppl': ppl,
                               'mxnet_before_package': mxnet_first,
                               'mxnet_omp_threads': thread_cap(_LIB)})  # per operator
    return 0


# The parent: the batches, each row's process in turn, the table.

class RowFailed(Exception):
    """A row's process crashed or did not finish: one line naming the row."""


def user_environment():
    """The environment this command was started with (Linux's /proc/self/environ): importing
    the package has set OpenMP variables in os.environ since, and the rows get the user's."""
    try:
        with open('/proc/self/environ', 'rb') as f:
            entries = f.read().split(b'\0')
    except OSError:
        return dict(os.environ)
    return dict(os.fsdecode(e).split('=', 1) for e in entries if b'=' in e)


def child_command(key, batches_path, result_path):
    """The command line of a row's fresh process, run by this same Python."""
    if key == TORCH_ROW:
        return [sys.executable, TORCH_PEER, batches_path, result_path]
    prelude = 'from d2l import mxnet as d2l\n' if key == NOTEBOOK_ROW else ''
    code = CHILD_CODE.format(root=PACKAGE_ROOT, prelude=prelude)
    return [sys.executable, '-c', code, key, batches_path, result_path]


def run_child(key, batches_path, result_path, env, timeout):
    """Run row `key`'s process and return what it wrote; RowFailed if it crashed or hung."""
    label = f'row {key}) {ROWS[key][0]}'
    try:
        done = subprocess.run(child_command(key, batches_path, result_path), env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors='replace', timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RowFailed(f'{label} did not finish within {timeout:g} s and was stopped; '
                        f'give a larger --timeout for a model this size') from None
    if done.returncode != 0:
        status = f'exit status {done.returncode}' if done.returncode > 0 else \
            f'killed by signal {-done.returncode}'
        last = (done.stderr.strip().splitlines() or ['no message'])[-1]
        raise RowFailed(f'{label} failed in its own process ({status}): {last}')
    try:
        with open(result_path) as f:
            return json.load(f)
    except (OSError, ValueError):
        raise RowFailed(f'{label} ended without writing its result') from None


def run_rounds(batches_path, rounds, skipped, tokens, env, timeout):
    """Every row's process in turn, `rounds` times (a b c ... a b c ...), so that slow
    drifts of a shared machine fall on every row alike; returns what each one reported."""
    folder, start, processes = os.path.dirname(batches_path), time.perf_counter(), []
    for number in range(1, rounds + 1):
        for key in ROWS:
            if key in skipped:
                continue
            started = time.perf_counter() - start
            result = run_child(key, batches_path, os.path.join(folder, f'{key}{number}.json'),
                               env, timeout)
            if 'skipped' in result:
                skipped[key] = result['skipped']
                print(f'  {key}) skipped: {result["skipped"]}', flush=True)
                continue
            processes.append({'row': key, 'round': number, 'started': round(started, 2),
                              **result})
            rate = statistics.median(timed_rates(result, tokens))
            print(f'  round {number} {key}) {rate:,.0f} tokens/s (process {result["pid"]})',
                  flush=True)
    return processes


def run_rows(config, ctx_text, repeats, rounds=2, data_dir=None, with_torch=True,
             timeout=1800):
    """All rows, each in its own processes; returns the result dict (also what --json writes)."""
    ctx = parse_ctx(ctx_text)
    if isinstance(ctx, list):
        raise UsageError(f'--ctx {ctx_text}: the bench times loops on one device; name one')
    train_iter, _, vocab = load_data_splits(config.batch_size, config.num_steps,
                                            max_tokens=config.max_tokens,
                                            data_dir=data_dir)
    for fused in (True, False):  # before any row builds a model
        check_model_size(len(vocab), config.num_hiddens, config.num_layers, config.cell, fused)
    train_iter.random_offset = False
    batches = list(train_iter)  # the same batches for every row and epoch
    tokens = sum(X.size for X, _ in batches)
    settings = {'config': config.as_dict(), 'ctx': ctx_text, 'vocab_size': len(vocab),
                'epochs': repeats + 1}
    skipped = {} if with_torch else {TORCH_ROW: 'left out by --no-torch'}
    env = user_environment()
    with tempfile.TemporaryDirectory(prefix='d2l-deep-rnn-bench-') as folder:
        batches_path = os.path.join(folder, 'batches.npz')
        write_batches(batches_path, settings, onp.stack([X.asnumpy() for X, _ in batches]),
                      onp.stack([Y.asnumpy() for _, Y in batches]))
        processes = run_rounds(batches_path, rounds, skipped, tokens, env, timeout)
    flops = flops_per_token(config.cell, config.num_layers, config.num_hiddens, len(vocab))
    return {'config': config.as_dict(), 'ctx': str(ctx), 'repeats': repeats, 'rounds': rounds,
            'tokens_per_epoch': tokens, 'vocab_size': len(vocab), 'flops_per_token': flops,
            'matmul_peak_gflops': matmul_peak(ctx), 'pid': os.getpid(),
            'environment': {name: env.get(name) for name in OMP_VARIABLES},
            'machine': describe_host(),
            'python': platform.python_version(), 'mxnet': mx.__version__,
            'rows': row_results(processes, config, tokens, flops), 'skipped': skipped}


def row_results(processes, config, tokens, flops):
    """One result per row that ran, with its ratios to (a) and to PyTorch's row."""
    rows = [row_result(key, config, [p for p in processes if p['row'] == key], tokens, flops)
            for key in ROWS if any(p['row'] == key for p in processes)]
    rate = {r['row']: r['tokens_per_sec'] for r in rows}
    for r in rows:
        r['ratio'] = r['tokens_per_sec'] / rate['a']
        r['vs_torch'] = r['tokens_per_sec'] / rate[TORCH_ROW] if TORCH_ROW in rate else None
    return rows


def timed_rates(process, tokens):
    """Tokens/s of a row process's epochs after the first, which warms up (allocation,
    oneDNN primitives, the graph of a hybridized model)."""
    return [tokens / s for s in process['seconds'][1:]]


def row_result(key, config, processes, tokens, flops):
    """Median and spread of every timed epoch of every round (each process's first epoch
    warms up), the last perplexity, the threads, and the processes' own reports."""
    rates = [rate for p in processes for rate in timed_rates(p, tokens)]
    median, last = statistics.median(rates), processes[-1]
    return {'row': key, 'name': display_name(key, config.cell, last), 'tokens_per_sec': median,
            'min': min(rates), 'max': max(rates), 'rates': rates, 'gflops': median * flops / 1e9,
            'train_ppl': last['train_ppl'][-1],
            'threads': last.get('mxnet_omp_threads', last.get('torch_threads')),
            'processes': processes}


def display_name(key, cell, process):
    """The table's name of a row: PyTorch's with the version and layer its process ran."""
    if key == TORCH_ROW:
        return f"PyTorch {process['torch_version']} nn.{cell.upper()} (CPU), same loop"
    return ROWS[key][0]


def format_table(result):
    """The rows, then how they were measured."""
    with_torch = any(r['vs_torch'] for r in result['rows'])
    lines = [f"{'':3}{'training loop':<48}{'tokens/s':>10}{'spread':>17}{'vs (a)':>8}"
             + (f"{'vs PyTorch':>11}" if with_torch else '')
             + f"{'GFLOP/s':>9}{'ppl':>7}{'threads':>8}"]
    rows = {r['row']: r for r in result['rows']}
    for key in ROWS:
        if key in result['skipped']:
            lines.append(f"{key}) skipped: {result['skipped'][key]}")
        elif key in rows:
            r = rows[key]
            spread = f"{r['min']:,.0f}-{r['max']:,.0f}"
            lines.append(f"{key}) {r['name']:<48}{r['tokens_per_sec']:>10,.0f}{spread:>17}"
                         f"{r['ratio']:>7.2f}x"
                         + (f"{r['vs_torch']:>10.2f}x" if with_torch else '')
                         + f"{r['gflops']:>9.1f}{r['train_ppl']:>7.2f}{r['threads'] or '?':>8}")
    return '\n'.join(lines + footer(result, rows))


def footer(result, rows):
    """How the table was measured, and the ratios that answer a question of their own."""
    peak, env = result['matmul_peak_gflops'], result['environment']
    lines = [f"every row a fresh process, {result['rounds']} in turn (rounds); each: a warm-up "
             f"epoch, then {result['repeats']} timed of {result['tokens_per_epoch']:,} tokens; "
             f"median and spread of them all; {result['flops_per_token'] / 1e6:.2f} MFLOP/token",
             "threads: per MXNet operator in the row's process (PyTorch: get_num_threads()); "
             "environment given to every row: "
             + ', '.join(f'{k}={v if v is not None else "(unset)"}' for k, v in env.items()),
             f"matrix-product peak {peak['onednn']:.0f} GFLOP/s (oneDNN), "
             f"{peak['openblas']:.0f} (OpenBLAS np.dot), in the bench's own process; "
             f"{result['ctx']}, {result['machine']}"]
    rate = {key: r['tokens_per_sec'] for key, r in rows.items()}
    if {'c', 'e', 'g', 'h'} <= set(rate):
        lines.append(f"diagnostics keep {rate['g'] / rate['c']:.0%} of the tokens/s of (c) "
                     f"and {rate['h'] / rate['e']:.0%} of (e)")
    if {'c', NOTEBOOK_ROW} <= set(rate):
        lines.append(f"with d2l imported first, `train` keeps {rate[NOTEBOOK_ROW] / rate['c']:.0%}"
                     f" of the tokens/s of (c)")
    if {'c', BOUND_ROW} <= set(rate):
        lines.append(f"(c) runs at {rate['c'] / rate[BOUND_ROW]:.0%} of its forward + backward "
                     f"alone (j): the step around the model costs the rest")
    return lines


def add_arguments(parser):
    add_config_flags(parser, Config(), CONFIG_FIELDS)
    parser.add_argument('--repeats', type=int, default=5, help='timed epochs per process')
    parser.add_argument('--rounds', type=int, default=2,
                        help='times every row runs, in turn (a b c ... a b c ...)')
    parser.add_argument('--quick', action='store_true',
                        help='a tiny model and 2,000 characters: a minute or two, mostly '
                             'starting processes (for CI)')
    parser.add_argument('--no-torch', action='store_true', help='skip the PyTorch row')
    parser.add_argument('--ctx', default='auto')
    parser.add_argument('--timeout', type=float, default=1800,
                        help="seconds a row's process may take before it is stopped")
    parser.add_argument('--json', default='bench.json', help='where to write the results')
    parser.add_argument('--data-dir', default=None)


def run(args):
    """The bench from parsed flags; exit status 2 for bad input, 1 if a row failed."""
    try:
        config = config_from_args(args)
        repeats = args.repeats
        if args.quick:
            config = config.replace(num_hiddens=16, batch_size=8, num_steps=10, max_tokens=2000)
            repeats = min(repeats, 2)
        check_positive_int('--repeats', repeats)
        check_positive_int('--rounds', args.rounds)
        if not 0 < args.timeout < math.inf:
            raise UsageError(f'--timeout must be a positive number of seconds, '
                             f'got {args.timeout:g}')
        print(f'Benchmarking {config.num_layers}-layer {config.cell}, {config.num_hiddens} '
              f'hiddens, batch {config.batch_size} x {config.num_steps}, every row in a '
              f'process of its own', flush=True)
        result = run_rows(config, args.ctx, repeats, args.rounds, args.data_dir,
                          with_torch=not args.no_torch, timeout=args.timeout)
    except (UsageError, RowFailed) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    try:
        atomic_write_bytes(args.json, json.dumps(result, indent=1).encode())
    except OSError as e:
        print(f'error: cannot write {args.json} ({e.strerror}); choose another --json',
              file=sys.stderr)
        return 2
    print(format_table(result))
    print(f'wrote {args.json}')
    return 0

