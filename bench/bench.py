"""The bench, a tool of this repository: `python bench/bench.py [flags]` times training
tokens/s of every way we can train the section's model, each in a fresh process of its
own, as ratios against the book's own loop.

Rows: (a) the book's loop itself, d2l 0.17.6's `train_ch8` on its `RNNModel` (both fused
biases trained, the loss read after every batch, clipping with a host sync per batch);
`train` with (b) `DeepRNN` imperative and (c) hybridized, (d) `DeepRNNScratch` step by step
and (e) its fast layer-by-layer schedule; (f) PyTorch's `nn.LSTM`/`GRU`/`RNN` in the same
loop, when `torch` is importable (torch_peer.py, which imports neither mxnet nor the
package); (g) and (h) rows (c) and (e) with the per-layer instruments
(`train(..., callbacks=[Diagnostics()])`), whose cost is the ratio g/c and h/e; (i) row (c)
in a process that imported `d2l` (hence mxnet) before the package, as the notebooks do: too
late for the package's environment settings to reach MXNet, so this row measures what the
package does about it; (j) row (c)'s forward, loss and backward alone, without clipping or
update: the most any step around the model could reach.

Every row's process (row.py, or torch_peer.py) gets the environment this tool was started
with, trains on the same batches from the same seed (one warm-up epoch, then `--repeats`
timed ones), and the rows take turns for `--rounds` rounds (a b c ... a b c ...); each row
reports the median and spread of all its timed epochs. The tool imports the package; the
package never imports the tool.
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import checkout  # noqa: F401  (first: this checkout's d2l_deep_rnn on sys.path)
import d2l_deep_rnn  # noqa: F401  (before MXNet loads: its thread settings)
import mxnet as mx
import numpy as onp
from mxnet import np, npx

from d2l_deep_rnn.cells import GATES, check_model_size
from d2l_deep_rnn.commands.common import ArgumentParser, add_config_flags, config_from_args, \
    parse_ctx
from d2l_deep_rnn.config import Config, UsageError, check_positive_int
from d2l_deep_rnn.data import cache_dir, load_data_splits
from d2l_deep_rnn.files import atomic_write_bytes
from d2l_deep_rnn.machine import describe_host

from book_d2l import REQUIREMENT, BookUnavailable, fetch
from harness import OMP_VARIABLES, write_batches
from rows import BOOK_ROW, BOUND_ROW, NOTEBOOK_ROW, ROWS, TORCH_ROW

HERE = os.path.dirname(os.path.abspath(__file__))
ROW_SCRIPT = os.path.join(HERE, 'row.py')
TORCH_PEER = os.path.join(HERE, 'torch_peer.py')
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


# The batches, each row's process in turn, the table.

class RowFailed(Exception):
    """A row's process crashed or did not finish: one line naming the row."""


def user_environment():
    """The environment this tool was started with (Linux's /proc/self/environ): importing
    the package has set OpenMP variables in os.environ since, and the rows get the user's."""
    try:
        with open('/proc/self/environ', 'rb') as f:
            entries = f.read().split(b'\0')
    except OSError:
        return dict(os.environ)
    return dict(os.fsdecode(e).split('=', 1) for e in entries if b'=' in e)


def child_command(key, batches_path, result_path):
    """The command line of a row's fresh process, a script run by this same Python: the
    notebook row imports d2l before the package, as the notebooks do."""
    if key == TORCH_ROW:
        return [sys.executable, TORCH_PEER, batches_path, result_path]
    first = ['--d2l-first'] if key == NOTEBOOK_ROW else []
    return [sys.executable, ROW_SCRIPT, *first, key, batches_path, result_path]


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
             timeout=1800, book_cache=None):
    """All rows, each in its own processes; returns the result dict (also what --json writes).
    The book's d2l comes from `book_cache` (default: the user cache), downloaded once."""
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
    book = fetch(book_cache or cache_dir())  # row (a)'s; after the checks: none in vain
    settings = {'config': config.as_dict(), 'ctx': ctx_text, 'vocab_size': len(vocab),
                'vocab': vocab.idx_to_token, 'book_d2l': book, 'epochs': repeats + 1}
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
            'machine': describe_host(), 'python': platform.python_version(),
            'mxnet': mx.__version__, 'book_d2l': REQUIREMENT,
            'rows': row_results(processes, config, tokens, flops), 'skipped': skipped}


def row_results(processes, config, tokens, flops):
    """One result per row that ran, with its ratios to (a) and to PyTorch's row."""
    rows = [row_result(key, config, [p for p in processes if p['row'] == key], tokens, flops)
            for key in ROWS if any(p['row'] == key for p in processes)]
    rate = {r['row']: r['tokens_per_sec'] for r in rows}
    for r in rows:
        r['ratio'] = r['tokens_per_sec'] / rate[BOOK_ROW]
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


def build_parser():
    """The tool's flags: the model's size, how long and how often to time, where to write."""
    parser = ArgumentParser(prog='python bench/bench.py', description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
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
    parser.add_argument('--book-d2l-cache', metavar='FOLDER', default=None,
                        help=f"where {REQUIREMENT}'s wheel is kept, downloaded once from the "
                             f"package registry: row (a) runs the book's own loop from it "
                             f"(default: {cache_dir()}, beside the corpus)")
    return parser


def run(args):
    """The bench from parsed flags; exit status 2 for bad input or no book's d2l, 1 if a
    row failed."""
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
                          with_torch=not args.no_torch, timeout=args.timeout,
                          book_cache=args.book_d2l_cache)
    except (UsageError, BookUnavailable, RowFailed) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1 if isinstance(e, RowFailed) else 2
    try:
        atomic_write_bytes(args.json, json.dumps(result, indent=1).encode())
    except OSError as e:
        print(f'error: cannot write {args.json} ({e.strerror}); choose another --json',
              file=sys.stderr)
        return 2
    print(format_table(result))
    print(f'wrote {args.json}')
    return 0


def main(argv=None):
    """Parse `argv` (default: the command line) and run the bench; the exit status."""
    return run(build_parser().parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
