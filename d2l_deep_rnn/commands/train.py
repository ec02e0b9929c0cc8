"""`python -m d2l_deep_rnn`: the main job. Trains the from-scratch and the Gluon deep RNN with the
same hyperparameters, the same initial weights (copied) and the same data order, then writes
`perplexity.png`, `summary.json` and prints a table with a sample of each model's text."""
import argparse
import contextlib
import json
import os
import sys

from .. import checkpoint
from ..config import Config, UsageError, check_positive_int
from ..data import load_data_config
from ..diagnostics import check_optimizer, diagnostics_table, summarize as summarize_diagnostics
from ..distributed import KVSTORES, end_without_shutdown, join
from ..factory import build_models
from ..files import atomic_write_bytes
from ..generate import default_prefix, predict
from ..machine import as_ctx_list
from ..history import result_row
from ..plots import plot_diagnostics, plot_perplexity
from ..training import callbacks_for, check_callbacks, train_config
from .common import add_config_flags, config_from_args, interrupted, one_line_errors, \
    parse_ctx, prepare_out_dir, signals_as_ctrl_c

HELP = 'train both models side by side (the main job; the default command)'
FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def add_arguments(parser):
    """The main job's flags: a flag per `Config` field, then where and how to run."""
    add_config_flags(parser, Config.small())
    parser.add_argument('--ctx', default='auto',
                        help="auto (a GPU if MXNet sees one), cpu, gpu, e.g. gpu:1, or a list "
                             "such as gpu:0,gpu:1 (data parallel: each batch split across)")
    parser.add_argument('--model', choices=('both', 'scratch', 'gluon'), default=None,
                        help='which models to train (default: both; gluon under a '
                             'distributed --kvstore, which serves one model per run)')
    parser.add_argument('--kvstore', choices=('auto',) + KVSTORES, default='auto',
                        help="how gradients are summed: auto (device), device or local across "
                             "--ctx devices; dist_sync or dist_async across processes started "
                             "by 'python -m d2l_deep_rnn launch'")
    parser.add_argument('--out', default='out', help='folder for the output files')
    parser.add_argument('--data-dir', default=None,
                        help='folder holding timemachine.txt (an error if it does not); '
                             'without it, $D2L_DEEP_RNN_DATA, else the cache or a download')
    parser.add_argument('--quiet', action='store_true', help='no per-epoch progress lines')
    parser.add_argument('--diagnostics', action='store_true',
                        help='record per-layer gradient norms, clipping, update ratios and '
                             'saturation; writes diagnostics.png')
    parser.add_argument('--save', default=None, metavar='DIR',
                        help='write checkpoints of both models into DIR/scratch and DIR/gluon')
    parser.add_argument('--save-every', type=int, default=10, metavar='N',
                        help='epochs between checkpoints (one is always written at the end)')
    parser.add_argument('--resume', default=None, metavar='DIR',
                        help='continue from the checkpoints in DIR (and keep saving there)')
    parser.add_argument('--overwrite', action='store_true',
                        help='let --save DIR replace the checkpoints of an earlier run there')


def choose_models(model, kvstore):
    """--model and --kvstore -> the names of the models to train, in order."""
    if kvstore.startswith('dist'):
        if model == 'both':
            raise UsageError(f'--kvstore {kvstore} trains one model per run; '
                             f'give --model gluon or --model scratch')
        if 'DMLC_ROLE' not in os.environ:
            raise UsageError(f'--kvstore {kvstore} needs a parameter server; start it with '
                             f'python -m d2l_deep_rnn launch --workers N -- <these flags>')
        return (model or 'gluon',)
    return ('scratch', 'gluon') if model in (None, 'both') else (model,)


def train_models(config, ctx, out, data_dir=None, verbose=True, save=None, save_every=10,
        resume=False, models=('scratch', 'gluon'), kvstore='device', diagnostics=False):
    """The main job; returns the summary in `out`/summary.json (written by rank 0 alone of a
    distributed `kvstore`). `save`: checkpoints in save/<name>, which `resume` continues."""
    def extras(name):
        return callbacks_for(config, diagnostics=diagnostics, verbose=verbose,
                             save_dir=os.path.join(save, name) if save else None,
                             save_every=save_every, resume=resume)
    check_callbacks(extras(models[0]), config.val_tokens > 0, kvstore == 'dist_async')  # first
    prepare_out_dir(out)
    if save:
        prepare_out_dir(save, '--save')
    train_iter, val_iter, vocab = load_data_config(config, data_dir)
    if verbose and config.texts:
        print(describe_texts(train_iter.texts, val_iter.texts[0]), flush=True)
    models = build_models(config, len(vocab), ctx, models)
    results, device = {}, join(kvstore, ctx)  # ctx, or this process as a worker of a job
    for name, net in models.items():
        net.label = name  # the run's name in the progress lines and the history
        history = train_config(net, train_iter, vocab, config, device, val_iter=val_iter,
                               callbacks=extras(name))
        sample = predict(default_prefix(vocab), 50, net, vocab, as_ctx_list(ctx)[0])
        results[name] = {**result_row(history), 'sample': sample, 'history': history}
        if diagnostics:
            results[name]['diagnostics'] = summarize_diagnostics(history)
    summary = {'config': config.as_dict(), 'ctx': str(ctx), 'texts': history['texts'],
               'train_tokens': len(train_iter.corpus), 'val_tokens': len(val_iter.corpus),
               'vocab_size': len(vocab), 'unigram_ppl': history.get('unigram_ppl'),
               'kvstore': kvstore, 'models': results}
    if getattr(device, 'rank', 0) != 0:  # rank 0 writes for the whole job
        return summary
    plot_perplexity({f'{n} ({m.cell}, {m.num_layers} layers)': r['history']
                     for (n, m), r in zip(models.items(), results.values())},
                    os.path.join(out, 'perplexity.png'),
                    title=f'{config.num_layers}-layer {describe_cell(config)}, '
                          f'{config.num_hiddens} hiddens, on {ctx}')
    if diagnostics:
        plot_diagnostics({n: r['history'] for n, r in results.items()},
                         os.path.join(out, 'diagnostics.png'),
                         title=f'Per-layer diagnostics: {config.num_layers}-layer '
                               f'{describe_cell(config)}, {config.num_hiddens} hiddens')
    atomic_write_bytes(os.path.join(out, 'summary.json'),
                       json.dumps(summary, indent=1).encode())
    return summary


def check_save_folder(save, resume, overwrite, models):
    """--resume needs this run's checkpoint in DIR; --save replaces one only with --overwrite."""
    found = [os.path.join(save, name) for name in models
             if os.path.isfile(os.path.join(save, name, checkpoint.META))]
    if resume and overwrite:
        raise UsageError('--overwrite replaces the checkpoints that --resume continues; '
                         'give one of them')
    if resume and not found:
        raise UsageError(f'no checkpoint to resume in {save} (no {models[0]}/'
                         f'{checkpoint.META}); train with --save {save} first, or point '
                         f'--resume at the folder that --save wrote')
    if found and not resume and not overwrite:
        raise UsageError(f'{found[0]} already holds a checkpoint; use --resume {save} to '
                         f'continue it, or another --save folder, or remove it (or give '
                         f'--overwrite to replace it)')


def describe_texts(trained, held_out):
    """'training on 10,000 characters of a.txt; validating on the last 5,000 of a.txt'."""
    texts = ', '.join(f"{t['characters']:,} of {t['text']}" for t in trained)
    return (f"training on {texts} (characters); validating on the last "
            f"{held_out['characters']:,} of {held_out['text']}")


def describe_cell(config):
    """'tanh RNN', 'GRU', 'LSTM'."""
    return f'{config.activation} RNN' if config.cell == 'rnn' else config.cell.upper()


def format_table(summary):
    lines = [f"{'model':<8} {'train ppl':>9} {'val ppl':>8} {'best val (epoch)':>17} "
             f"{'tokens/s':>9} {'seconds':>8}"]
    for name, r in summary['models'].items():
        best = f"{r['best_val_ppl']:.2f} ({r['best_epoch']})" if r['best_val_ppl'] else '-'
        lines.append(f"{name:<8} {r['train_ppl']:9.2f} {r['val_ppl']:8.2f} {best:>17} "
                     f"{r['tokens_per_sec']:9,.0f} {r['seconds']:8.1f}")
    lines.append(f"(unigram perplexity of the validation text: {summary['unigram_ppl']:.2f}; "
                 f"context {summary['ctx']})")
    for name, r in summary['models'].items():
        lines.append(f'{name:<8} {r["sample"]!r}')
    return '\n'.join(lines)


def run(args):
    """The main job from parsed flags; the exit status (a job's worker ends here instead)."""
    kvstore = 'device' if args.kvstore == 'auto' else args.kvstore
    code = run_main_job(args, kvstore)
    if kvstore.startswith('dist'):
        end_without_shutdown(code)
    return code


@one_line_errors
def run_main_job(args, kvstore):
    """The main job from parsed flags: train, then the table and the files written."""
    config = config_from_args(args)
    ctx = parse_ctx(args.ctx)
    models = choose_models(args.model, kvstore)
    check_positive_int('--save-every', args.save_every)
    if args.diagnostics:
        check_optimizer(config.optimizer)
    if args.save and args.resume and args.save != args.resume:
        raise UsageError('--resume DIR keeps saving into DIR; give --save the same folder '
                         'or leave it out')
    save = args.resume or args.save
    if save:
        check_save_folder(save, bool(args.resume), args.overwrite, models)
    # SIGTERM as Ctrl-C, but not in a launch worker: the launcher stops those itself
    signals = contextlib.nullcontext() if kvstore.startswith('dist') else signals_as_ctrl_c()
    try:
        with signals:
            summary = train_models(config, ctx, args.out, args.data_dir,
                                   verbose=not args.quiet, save=save,
                                   save_every=args.save_every, resume=bool(args.resume),
                                   models=models, kvstore=kvstore,
                                   diagnostics=args.diagnostics)
    except KeyboardInterrupt as e:
        name, status = interrupted(e)
        kept = f'the checkpoints in {save} are kept (continue with --resume {save})' if save \
            else 'nothing was written for the unfinished run'
        print(f'interrupted ({name}): {kept}', file=sys.stderr)
        return status
    if summary['models'][models[0]]['history'].get('worker', [0])[0] != 0:
        return 0  # rank 0 reports for the whole job
    print(format_table(summary))
    if args.diagnostics:
        print('\n'.join(diagnostics_table(
            {name: r['diagnostics'] for name, r in summary['models'].items()})))
    written = ['perplexity.png'] + (['diagnostics.png'] if args.diagnostics else [])
    print(f'wrote {", ".join(os.path.join(args.out, f) for f in written)} and '
          f'{os.path.join(args.out, "summary.json")}')
    return 0
