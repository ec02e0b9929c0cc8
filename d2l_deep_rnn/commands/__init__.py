"""The command line, `python -m d2l_deep_rnn [COMMAND] [flags]`: one module per command, each
with `HELP` (a line), `add_arguments(parser)` and `run(args)` (the exit status). Without a
command it is `train`, the main job."""
import sys

from . import generate, launch, sweep, train
from .common import ArgumentParser

COMMANDS = {'train': train, 'generate': generate, 'sweep': sweep, 'launch': launch}


def build_parser():
    """The top-level parser, a subcommand per command module."""
    parser = ArgumentParser(prog='python -m d2l_deep_rnn',
                            description='Deep RNNs of Dive into Deep Learning, runnable. Without '
                                        'a COMMAND: train (the main job); COMMAND --help for '
                                        'its flags.')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, module in COMMANDS.items():
        sub = commands.add_parser(name, help=module.HELP, description=module.__doc__,
                                  formatter_class=module.FORMATTER)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv=None):
    """Parse `argv` (default: the command line) and run its command; the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS and argv[0] not in ('-h', '--help'):
        argv = ['train', *argv]  # the bare command line is the main job
    argv, after_dashes = launch.split_argv(argv) if argv[0] == 'launch' else (argv, None)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        hint = '; training flags go after --' if args.command == 'launch' else ''
        parser.exit(2, f'{parser.prog} {args.command}: error: unrecognized arguments: '
                       f'{" ".join(unknown)}{hint} (see --help)\n')
    if after_dashes is not None:  # launch: its training flags, parsed as each worker will
        args.train_argv = after_dashes
        args.train_args = parser.parse_args(['train', *after_dashes])
    return args.run(args)
