"""`python -m d2l_deep_rnn`: the main job.

Trains the from-scratch and the Gluon deep RNN with the same hyperparameters, the same
initial weights (copied) and the same data order, then writes `perplexity.png`,
`summary.json` and prints a table with a sample of each model's text.
"""
import argparse
import json
import os
import sys

import mxnet as mx

from .config import Config, UsageError, check_positive_int
from . import checkpoint
from .convert import copy_params
from .data import SHA1, atomic_write_bytes, load_data_splits
from .generate import predict
from .gluon_model import DeepRNN, check_model_size
from .diagnostics import summarize as summarize_diagnostics
from .plots import plot_diagnostics, plot_perplexity
from .report import tokens_per_sec
from .scratch_model import DeepRNNScratch
from .training import KVSTORES, ensure_initialized, set_seed, train

PREFIX = 'time traveller'
FLAGS = {  # flag: (Config field, type, help)
    '--epochs': ('num_epochs', int, 'training epochs'),
    '--cell': ('cell', str, 'rnn, gru or lstm'),
    '--num-layers': ('num_layers', int, 'hidden layers L'),
    '--num-hiddens': ('num_hiddens', int, 'hidden units h per layer'),
    '--batch-size': ('batch_size', int, 'sequences per minibatch'),
    '--num-steps': ('num_steps', int, 'time steps per sequence'),
    '--lr': ('lr', float, 'SGD learning rate'),
    '--clip': ('clip', float, 'gradient norm clipping threshold'),
    '--max-tokens': ('max_tokens', int, 'training characters (-1: all but the held-out tail)'),
    '--val-tokens': ('val_tokens', int, 'held-out characters at the end of the book'),
    '--activation': ('activation', str, "phi for --cell rnn: tanh or relu"),
    '--seed': ('seed', int, 'seed for weights and data order'),
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (exit status 2), without the usage block."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message} (see --help)\n')


def build_parser():
    defaults = Config.small()
    parser = ArgumentParser(
        prog='python -m d2l_deep_rnn',
        description='Train a deep RNN from scratch and with Gluon on The Time Machine, '
                    'side by side. The defaults take a few minutes on a 2-core CPU; '
                    '--epochs 500 gives the book\'s full run.',
        epilog='Other commands: sweep (every cell and depth; sweep --help), generate (text '
               'from a checkpoint; generate --help), bench (training speed; bench --help).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for flag, (field, kind, text) in FLAGS.items():
        parser.add_argument(flag, dest=field, type=kind, default=getattr(defaults, field),
                            help=text)
    parser.add_argument('--random-iter', dest='use_random_iter', action='store_true',
                        help='random sampling instead of sequential partitioning')
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
    return parser


def parse_ctx(text):
    """'auto', 'cpu', 'gpu', 'cpu:0', 'gpu:1' -> an MXNet context, checked to exist;
    a comma-separated list ('cpu:0,cpu:1', 'gpu:0,gpu:1') -> a list, for data parallelism."""
    if ',' in text:
        ctxs = [parse_ctx(part.strip()) for part in text.split(',')]
        if len(set(map(str, ctxs))) < len(ctxs):
            raise UsageError(f'--ctx {text} names a device twice; list each once')
        return ctxs
    if text == 'auto':
        return mx.gpu(0) if mx.context.num_gpus() > 0 else mx.cpu()
    kind, _, index = text.partition(':')
    if kind not in ('cpu', 'gpu') or (index and not index.isdigit()):
        raise UsageError(f"--ctx must be auto, cpu, gpu, cpu:N or gpu:N; got {text!r}")
    index = int(index or 0)
    if kind == 'gpu' and index >= mx.context.num_gpus():
        raise UsageError(f'--ctx {text}: MXNet sees {mx.context.num_gpus()} GPU(s); install a '
                         f'CUDA build (for example mxnet-cu112) or use --ctx cpu')
    return mx.gpu(index) if kind == 'gpu' else mx.cpu(index)


def prepare_out_dir(path, flag='--out'):
    """Create the output folder and prove it is writable before hours of training."""
    try:
        os.makedirs(path, exist_ok=True)
        atomic_write_bytes(os.path.join(path, '.write-test'), b'')
        os.remove(os.path.join(path, '.write-test'))
    except OSError as e:
        raise UsageError(f'cannot write to the output folder {path} ({e.strerror}); '
                         f'choose another with {flag}') from None


def build_models(config, vocab_size, ctx, names=('scratch', 'gluon')):
    """The Gluon model initialized from the seed, and the scratch model with its weights."""
    for name in sorted(names):  # the asked-for models' limits (both are built, for the seed)
        check_model_size(vocab_size, config.num_hiddens, config.num_layers, config.cell,
                         fused=name == 'gluon')
    set_seed(config.seed)
    args = (vocab_size, config.num_hiddens, config.num_layers, config.cell, config.activation)
    gluon_net, scratch_net = DeepRNN(*args), DeepRNNScratch(*args)
    ensure_initialized(gluon_net, ctx)
    ensure_initialized(scratch_net, ctx)
    copy_params(gluon_net, scratch_net)
    models = {'scratch': scratch_net, 'gluon': gluon_net}
    return {name: models[name] for name in names}


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


def run(config, ctx, out, data_dir=None, verbose=True, save=None, save_every=10,
        resume=False, models=('scratch', 'gluon'), kvstore='device', diagnostics=False):
    """The main job; returns the summary it wrote to `out`/summary.json. With `save`, each
    model checkpoints into save/<name>; `resume` continues from there. Under a distributed
    `kvstore` only the worker of rank 0 writes files (the others return the summary)."""
    prepare_out_dir(out)
    if save:
        prepare_out_dir(save, '--save')
    train_iter, val_iter, vocab = load_data_splits(
        config.batch_size, config.num_steps, config.use_random_iter, config.max_tokens,
        config.val_tokens, data_dir)
    models = build_models(config, len(vocab), ctx, models)
    results, lead = {}, True
    for name, net in models.items():
        history = train(net, train_iter, vocab, config.lr, config.num_epochs, ctx,
                        clip=config.clip, use_random_iter=config.use_random_iter,
                        val_iter=val_iter, seed=config.seed, verbose=verbose, label=name,
                        save_dir=os.path.join(save, name) if save else None,
                        save_every=save_every, resume=resume, kvstore=kvstore,
                        diagnostics=diagnostics)
        lead = history.get('worker', [0])[0] == 0
        first = ctx[0] if isinstance(ctx, list) else ctx
        results[name] = summarize(history, predict(PREFIX, 50, net, vocab, first))
        results[name]['history'] = history
        if diagnostics:
            results[name]['diagnostics'] = summarize_diagnostics(history)
    summary = {'config': config.as_dict(), 'ctx': str(ctx), 'corpus_sha1': SHA1,
               'train_tokens': len(train_iter.corpus), 'val_tokens': len(val_iter.corpus),
               'vocab_size': len(vocab), 'unigram_ppl': history.get('unigram_ppl'),
               'kvstore': kvstore, 'models': results}
    if not lead:
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


def describe_cell(config):
    """'tanh RNN', 'GRU', 'LSTM'."""
    return f'{config.activation} RNN' if config.cell == 'rnn' else config.cell.upper()


def summarize(history, sample):
    """Final perplexities, tokens/s (the first epoch, a warm-up, left out), seconds, sample."""
    return {'train_ppl': history['train_ppl'][-1],
            'val_ppl': history['val_ppl'][-1] if history['val_ppl'] else None,
            'tokens_per_sec': tokens_per_sec(history), 'seconds': sum(history['seconds']),
            'sample': sample}


def format_table(summary):
    lines = [f"{'model':<8} {'train ppl':>9} {'val ppl':>8} {'tokens/s':>9} {'seconds':>8}"]
    for name, r in summary['models'].items():
        lines.append(f"{name:<8} {r['train_ppl']:9.2f} {r['val_ppl']:8.2f} "
                     f"{r['tokens_per_sec']:9,.0f} {r['seconds']:8.1f}")
    lines.append(f"(unigram perplexity of the validation text: {summary['unigram_ppl']:.2f}; "
                 f"context {summary['ctx']})")
    for name, r in summary['models'].items():
        lines.append(f'{name:<8} {r["sample"]!r}')
    return '\n'.join(lines)


def format_diagnostics(summary):
    """Per model and layer: mean gradient norm and update ratio, last saturation."""
    lines = [f"{'model':<8} {'layer':<8} {'grad norm':>10} {'update/weight':>13} "
             f"{'saturated':>9}"]
    for name, r in summary['models'].items():
        d = r['diagnostics']
        for l, layer in enumerate(d['layers']):
            sat = d['saturation'][l] if l < len(d['saturation']) else None
            lines.append(f"{name:<8} {layer:<8} {d['grad_norm'][l]:10.4f} "
                         f"{d['update_ratio'][l]:13.2e} "
                         f"{'' if sat is None else f'{sat:9.1%}':>9}")
        lines.append(f"{name:<8} clipping fired on {d['clip_fraction']:.0%} of the steps")
    return '\n'.join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['bench']:
        from . import bench
        return bench.main(argv[1:])
    if argv[:1] == ['sweep']:
        from . import sweep
        return sweep.main(argv[1:])
    if argv[:1] == ['generate']:
        return generate_main(argv[1:])
    if argv[:1] == ['launch']:
        from . import launch
        return launch.main(argv[1:])
    args = build_parser().parse_args(argv)
    kvstore = 'device' if args.kvstore == 'auto' else args.kvstore
    code = train_main(args, kvstore)
    if kvstore.startswith('dist'):  # MXNet 1.9.1 aborts at exit after a parameter-server
        sys.stdout.flush()          # job; the launcher stops the servers instead
        sys.stderr.flush()
        os._exit(code)
    return code


def config_from_args(args):
    """The `Config` that parsed main-job flags describe (UsageError if out of range)."""
    return Config(**{field: getattr(args, field) for field, *_ in FLAGS.values()},
                  use_random_iter=args.use_random_iter)


def train_main(args, kvstore):
    """The main job from parsed flags; returns the exit status."""
    try:
        config = config_from_args(args)
        ctx = parse_ctx(args.ctx)
        models = choose_models(args.model, kvstore)
        check_positive_int('--save-every', args.save_every)
        if args.save and args.resume and args.save != args.resume:
            raise UsageError('--resume DIR keeps saving into DIR; give --save the same folder '
                             'or leave it out')
        summary = run(config, ctx, args.out, args.data_dir, verbose=not args.quiet,
                      save=args.resume or args.save, save_every=args.save_every,
                      resume=bool(args.resume), models=models, kvstore=kvstore,
                      diagnostics=args.diagnostics)
    except UsageError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted: nothing was written for the unfinished run', file=sys.stderr)
        return 130
    if summary['models'][models[0]]['history'].get('worker', [0])[0] != 0:
        return 0  # rank 0 reports for the whole job
    print(format_table(summary))
    if args.diagnostics:
        print(format_diagnostics(summary))
    written = ['perplexity.png'] + (['diagnostics.png'] if args.diagnostics else [])
    print(f'wrote {", ".join(os.path.join(args.out, f) for f in written)} and '
          f'{os.path.join(args.out, "summary.json")}')
    return 0


def generate_main(argv):
    """`python -m d2l_deep_rnn generate --from DIR ...`: text from a saved checkpoint."""
    parser = ArgumentParser(prog='python -m d2l_deep_rnn generate',
                            description='Generate text from a checkpoint written by --save.')
    parser.add_argument('--from', dest='folder', required=True, metavar='DIR',
                        help="a checkpoint folder, or the main job's --save folder")
    parser.add_argument('--model', choices=('gluon', 'scratch'), default='gluon',
                        help="which model of the main job's --save folder")
    parser.add_argument('--prefix', default=PREFIX)
    parser.add_argument('--num-chars', type=int, default=200)
    parser.add_argument('--temperature', type=float, default=0.0,
                        help='0: the most likely character each step; > 0: sample')
    parser.add_argument('--seed', type=int, default=None, help='for sampling')
    parser.add_argument('--ctx', default='cpu')
    args = parser.parse_args(argv)
    try:
        check_positive_int('--num-chars', args.num_chars)
        folder = args.folder
        if not os.path.isfile(os.path.join(folder, checkpoint.META)) and \
                os.path.isdir(os.path.join(folder, args.model)):
            folder = os.path.join(folder, args.model)
        net, vocab = checkpoint.load_model(folder, parse_ctx(args.ctx))
        print(predict(args.prefix, args.num_chars, net, vocab, temperature=args.temperature,
                      seed=args.seed))
    except UsageError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0
