"""`python -m d2l_deep_rnn sweep`: the exercise answered with data. Trains every combination of
cell, depth and dropout at one hidden size, budget and seed (with `--patience N`, each until its
validation perplexity has not improved for N epochs) and writes `sweep.csv`, `sweep.md` and
`sweep.png`; a sweep started again skips the runs already done (docs/sweep.md).
"""
import argparse
import csv
import io
import json
import os

from ..cells import check_model_size
from ..config import CELLS, Config, UsageError, check_choice, check_positive_int
from ..data import load_data_config
from ..factory import build_model
from ..files import atomic_write_bytes
from ..history import result_row
from ..metrics import count_params
from ..plots import plot_sweep
from ..training import callbacks_for, train_config
from .common import add_config_flags, config_from_args, one_line_errors, parse_ctx, \
    prepare_out_dir

HELP = 'train every cell and depth; a table and a plot of what depth buys'
FORMATTER = argparse.RawDescriptionHelpFormatter

COLUMNS = ('cell', 'layers', 'dropout', 'parameters', 'epochs', 'train_ppl', 'val_ppl',
           'best_val_ppl', 'best_epoch', 'best_seconds', 'tokens_per_sec', 'seconds')
SETTINGS = ('texts', 'chars', 'num_hiddens', 'output_dropout', 'weight_dropout', 'num_epochs',
            'optimizer', 'lr', 'clip', 'batch_size', 'num_steps', 'max_tokens', 'val_tokens',
            'seed', 'lr_decay', 'patience')
# what a sweep recorded before these settings existed had them at these values
OLDER_SWEEP_DEFAULTS = {'optimizer': 'sgd', 'output_dropout': 0.0, 'weight_dropout': 0.0,
                        'texts': [], 'chars': 'book'}


def run_one(config, scratch, data, ctx, verbose):
    """Train the sweep's model of `config` (its cell, depth and dropout); returns its row."""
    cell, num_layers, dropout = config.cell, config.num_layers, config.dropout
    train_iter, val_iter, vocab = data
    net = build_model(config, len(vocab), ctx, 'scratch' if scratch else 'gluon')
    net.label = f'{cell} x{num_layers}' + (f' p={dropout:g}' if dropout else '')
    history = train_config(net, train_iter, vocab, config, ctx, val_iter=val_iter,
                           callbacks=callbacks_for(config, verbose=verbose))
    return {'cell': cell, 'layers': num_layers, 'dropout': dropout,
            'parameters': count_params(net), **result_row(history)}


def run_name(cell, num_layers, dropout):
    """'lstm-2' or, with dropout, 'lstm-2-dropout0.3'."""
    return f'{cell}-{num_layers}' + (f'-dropout{dropout:g}' if dropout else '')


def sweep(cells, depths, config, scratch, out, ctx, data_dir=None, verbose=True,
          dropouts=(0.0,)):
    """Every (cell, dropout, depth) run, skipping those already in `out`/runs; the rows."""
    configs = [config.replace(cell=c, num_layers=L, dropout=p)  # (Config checks each)
               for c in cells for p in dropouts for L in depths]
    runs = os.path.join(out, 'runs')
    prepare_out_dir(runs)
    settings = {**{k: getattr(config, k) for k in SETTINGS}, 'texts': list(config.texts),
                'scratch': scratch}  # as JSON reads them back
    data = load_data_config(config, data_dir)
    for c in configs:  # refuse an impossible size before the first run, not after hours
        check_model_size(len(data[2]), c.num_hiddens, c.num_layers, c.cell, not scratch)
    rows = []
    for run_config in configs:
        name = run_name(run_config.cell, run_config.num_layers, run_config.dropout)
        path = os.path.join(runs, name + '.json')
        if os.path.isfile(path):
            saved = read_run(path)
            before = {**OLDER_SWEEP_DEFAULTS, **saved['settings']}
            if before != settings:
                differ = next(k for k in settings if before.get(k) != settings[k])
                raise UsageError(f'{out} holds a sweep with {differ} '
                                 f'{before.get(differ)!r}, this one '
                                 f'{settings[differ]!r}; use another --out')
            print(f'{name}: done before, skipping ({path})', flush=True)
            rows.append(saved['row'])
            continue
        row = run_one(run_config, scratch, data, ctx, verbose)
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
               + (f'up to {config.num_epochs} epochs, patience {config.patience}'
                  if config.patience else f'{config.num_epochs} epochs') + f', on {ctx}')


def markdown_table(rows):
    lines = ['| cell | layers | dropout | parameters | epochs | train ppl | val ppl | '
             'best val ppl | best epoch | seconds to best | tokens/s | seconds |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        lines.append(f"| {r['cell']} | {r['layers']} | {r['dropout']:g} | "
                     f"{r['parameters']:,} | {r['epochs']} | {r['train_ppl']:.2f} | "
                     f"{r['val_ppl']:.2f} | {r['best_val_ppl']:.2f} | {r['best_epoch']} | "
                     f"{r['best_seconds']:.0f} | {r['tokens_per_sec']:,.0f} | "
                     f"{r['seconds']:.0f} |")
    return '\n'.join(lines) + '\n'


def parse_list(text, name, convert=str):
    items = [item.strip() for item in text.split(',') if item.strip()]
    if not items:
        raise UsageError(f'{name} needs at least one value')
    try:
        return [convert(item) for item in items]
    except ValueError:
        raise UsageError(f'{name} must be a comma-separated list, got {text!r}') from None


def add_arguments(parser):
    parser.add_argument('--cells', default=','.join(CELLS), help='comma-separated cells')
    parser.add_argument('--layers', default='1,2,3,4', help='comma-separated depths')
    parser.add_argument('--dropouts', default='0',
                        help='comma-separated dropout probabilities between layers')
    parser.add_argument('--scratch', action='store_true',
                        help='train DeepRNNScratch instead of the fused DeepRNN')
    add_config_flags(parser, Config.small(num_epochs=50), SETTINGS)
    parser.add_argument('--out', default=os.path.join('out', 'sweep'))
    parser.add_argument('--ctx', default='auto')
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--quiet', action='store_true')


@one_line_errors
def run(args):
    cells = parse_list(args.cells, '--cells')
    for cell in cells:
        check_choice('--cells', cell, CELLS)
    depths = parse_list(args.layers, '--layers', int)
    for depth in depths:
        check_positive_int('--layers', depth)
    dropouts = parse_list(args.dropouts, '--dropouts', float)
    config = config_from_args(args, Config.small())
    rows = sweep(cells, depths, config, args.scratch, args.out, parse_ctx(args.ctx),
                 args.data_dir, verbose=not args.quiet, dropouts=dropouts)
    print(markdown_table(rows), end='')
    print(f'wrote {args.out}/sweep.csv, sweep.md and sweep.png')
    return 0

