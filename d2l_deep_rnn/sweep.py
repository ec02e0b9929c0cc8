"""`python -m d2l_deep_rnn sweep`: the exercise answered with data. Trains every combination of
cell and depth at one hidden size, budget and seed, and writes `sweep.csv`, `sweep.md` and
`sweep.png` (validation perplexity and tokens/s against depth, a line per cell).

Each finished run is saved in `runs/<cell>-<layers>.json` (atomically), so a sweep that was
interrupted and started again skips what is done.
"""
import argparse
import csv
import io
import json
import os
import sys

from matplotlib.figure import Figure

from .cli import ArgumentParser, parse_ctx, prepare_out_dir
from .config import CELLS, Config, UsageError, check_choice, check_positive_int
from .data import atomic_write_bytes, load_data_splits
from .gluon_model import DeepRNN, check_model_size
from .plots import save_figure
from .report import count_params, tokens_per_sec
from .scratch_model import DeepRNNScratch
from .training import ensure_initialized, set_seed, train

COLUMNS = ('cell', 'layers', 'parameters', 'train_ppl', 'val_ppl', 'best_val_ppl',
           'tokens_per_sec', 'seconds')
SETTINGS = ('num_hiddens', 'num_epochs', 'lr', 'clip', 'batch_size', 'num_steps',
            'max_tokens', 'val_tokens', 'seed')


def run_one(cell, num_layers, config, scratch, data, ctx, verbose):
    """Train one model of the sweep; returns its row."""
    train_iter, val_iter, vocab = data
    set_seed(config.seed)
    Model = DeepRNNScratch if scratch else DeepRNN
    net = Model(len(vocab), config.num_hiddens, num_layers, cell)
    ensure_initialized(net, ctx)
    history = train(net, train_iter, vocab, config.lr, config.num_epochs, ctx,
                    clip=config.clip, val_iter=val_iter, seed=config.seed, verbose=verbose,
                    label=f'{cell} x{num_layers}')
    return {'cell': cell, 'layers': num_layers, 'parameters': count_params(net),
            'train_ppl': history['train_ppl'][-1], 'val_ppl': history['val_ppl'][-1],
            'best_val_ppl': min(history['val_ppl']), 'tokens_per_sec': tokens_per_sec(history),
            'seconds': sum(history['seconds'])}


def sweep(cells, depths, config, scratch, out, ctx, data_dir=None, verbose=True):
    """Every (cell, depth) run, skipping those already in `out`/runs; returns the rows."""
    runs = os.path.join(out, 'runs')
    prepare_out_dir(runs)
    settings = {**{k: getattr(config, k) for k in SETTINGS}, 'scratch': scratch}
    data = load_data_splits(config.batch_size, config.num_steps, max_tokens=config.max_tokens,
                            val_tokens=config.val_tokens, data_dir=data_dir)
    for cell in cells:  # refuse an impossible size before the first run, not after hours
        for num_layers in depths:
            check_model_size(len(data[2]), config.num_hiddens, num_layers, cell, not scratch)
    rows = []
    for cell in cells:
        for num_layers in depths:
            path = os.path.join(runs, f'{cell}-{num_layers}.json')
            if os.path.isfile(path):
                saved = read_run(path)
                if saved['settings'] != settings:
                    differ = next(k for k in settings if saved['settings'].get(k) != settings[k])
                    raise UsageError(f'{out} holds a sweep with {differ} '
                                     f'{saved["settings"].get(differ)!r}, this one '
                                     f'{settings[differ]!r}; use another --out')
                print(f'{cell} x{num_layers}: done before, skipping ({path})', flush=True)
                rows.append(saved['row'])
                continue
            row = run_one(cell, num_layers, config, scratch, data, ctx, verbose)
            atomic_write_bytes(path, json.dumps({'settings': settings, 'row': row}).encode())
            rows.append(row)
    write_outputs(rows, config, scratch, out, ctx)
    return rows


def read_run(path):
    try:
        with open(path, encoding='utf-8') as f:
            saved = json.load(f)
    except (ValueError, OSError):
        saved = None
    if not isinstance(saved, dict) or not {'settings', 'row'} <= saved.keys():
        raise UsageError(f'{path} is damaged; delete it and run the sweep again')
    return saved


def write_outputs(rows, config, scratch, out, ctx):
    """sweep.csv, sweep.md and sweep.png, each written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(os.path.join(out, 'sweep.csv'), buffer.getvalue().encode())
    atomic_write_bytes(os.path.join(out, 'sweep.md'), markdown_table(rows).encode())
    plot_sweep(rows, os.path.join(out, 'sweep.png'),
               f"{'scratch' if scratch else 'Gluon'} models, {config.num_hiddens} hiddens, "
               f'{config.num_epochs} epochs, on {ctx}')


def markdown_table(rows):
    lines = ['| cell | layers | parameters | train ppl | val ppl | best val ppl | tokens/s '
             '| seconds |', '|---|---:|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        lines.append(f"| {r['cell']} | {r['layers']} | {r['parameters']:,} | "
                     f"{r['train_ppl']:.2f} | {r['val_ppl']:.2f} | {r['best_val_ppl']:.2f} | "
                     f"{r['tokens_per_sec']:,.0f} | {r['seconds']:.1f} |")
    return '\n'.join(lines) + '\n'


def plot_sweep(rows, path, title):
    """Validation perplexity (final and best) and tokens/s against depth, a line per cell."""
    fig = Figure(figsize=(10, 4), dpi=120)
    ppl_ax, speed_ax = fig.subplots(1, 2)
    for i, cell in enumerate(dict.fromkeys(r['cell'] for r in rows)):
        mine = sorted((r for r in rows if r['cell'] == cell), key=lambda r: r['layers'])
        depths = [r['layers'] for r in mine]
        ppl_ax.plot(depths, [r['val_ppl'] for r in mine], 'o-', color=f'C{i}',
                    label=f'{cell} final')
        ppl_ax.plot(depths, [r['best_val_ppl'] for r in mine], 'o--', color=f'C{i}',
                    alpha=0.6, label=f'{cell} best')
        speed_ax.plot(depths, [r['tokens_per_sec'] for r in mine], 'o-', color=f'C{i}',
                      label=cell)
    ppl_ax.set(xlabel='layers', ylabel='validation perplexity', title='Validation perplexity')
    speed_ax.set(xlabel='layers', ylabel='tokens/s', title='Training speed')
    for ax in (ppl_ax, speed_ax):
        ax.set_xticks(sorted({r['layers'] for r in rows}))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def parse_list(text, name, convert=str):
    items = [item.strip() for item in text.split(',') if item.strip()]
    if not items:
        raise UsageError(f'{name} needs at least one value')
    try:
        return [convert(item) for item in items]
    except ValueError:
        raise UsageError(f'{name} must be a comma-separated list, got {text!r}') from None


def main(argv):
    defaults = Config.small(num_epochs=50)
    parser = ArgumentParser(prog='python -m d2l_deep_rnn sweep', description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--cells', default=','.join(CELLS))
    parser.add_argument('--layers', default='1,2,3,4')
    parser.add_argument('--scratch', action='store_true',
                        help='train DeepRNNScratch instead of the fused DeepRNN')
    for flag, field, kind in (('--num-hiddens', 'num_hiddens', int), ('--epochs', 'num_epochs',
                              int), ('--lr', 'lr', float), ('--clip', 'clip', float),
                              ('--batch-size', 'batch_size', int), ('--num-steps', 'num_steps',
                              int), ('--max-tokens', 'max_tokens', int), ('--val-tokens',
                              'val_tokens', int), ('--seed', 'seed', int)):
        parser.add_argument(flag, dest=field, type=kind, default=getattr(defaults, field))
    parser.add_argument('--out', default=os.path.join('out', 'sweep'))
    parser.add_argument('--ctx', default='auto')
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--quiet', action='store_true')
    args = parser.parse_args(argv)
    try:
        cells = parse_list(args.cells, '--cells')
        for cell in cells:
            check_choice('--cells', cell, CELLS)
        depths = parse_list(args.layers, '--layers', int)
        for depth in depths:
            check_positive_int('--layers', depth)
        config = Config(**{f: getattr(args, f) for f in SETTINGS})
        ctx = parse_ctx(args.ctx)
        rows = sweep(cells, depths, config, args.scratch, args.out, ctx, args.data_dir,
                     verbose=not args.quiet)
    except UsageError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(markdown_table(rows), end='')
    print(f'wrote {args.out}/sweep.csv, sweep.md and sweep.png')
    return 0
