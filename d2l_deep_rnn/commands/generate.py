"""`python -m d2l_deep_rnn generate --from DIR`: text from a checkpoint written by --save."""
import argparse
import os
import signal
import sys

from .. import checkpoint
from ..config import check_positive_int, check_seed
from ..generate import PREFIX, default_prefix, generate
from .common import interrupted, one_line_errors, parse_ctx, signals_as_ctrl_c

HELP = 'generate text from a checkpoint written by --save'
FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def add_arguments(parser):
    parser.add_argument('--from', dest='folder', required=True, metavar='DIR',
                        help="a checkpoint folder, or the main job's --save folder")
    parser.add_argument('--model', choices=('gluon', 'scratch'), default='gluon',
                        help="which model of the main job's --save folder")
    parser.add_argument('--prefix', default=None,
                        help=f'the text to continue (default: {PREFIX!r} when the model knows '
                             f'its characters, else a letter it knows)')
    parser.add_argument('--num-chars', type=int, default=200,
                        help='characters after the prefix, written as they are generated '
                             '(Ctrl-C, or closing the pipe, ends it)')
    parser.add_argument('--temperature', type=float, default=0.0,
                        help='0: the most likely character each step; > 0: sample')
    parser.add_argument('--seed', type=int, default=None, help='for sampling')
    parser.add_argument('--ctx', default='cpu')


@one_line_errors
def run(args):
    check_positive_int('--num-chars', args.num_chars)
    if args.seed is not None:
        check_seed(args.seed, '--seed')
    folder = args.folder
    if not os.path.isfile(os.path.join(folder, checkpoint.META)) and \
            os.path.isdir(os.path.join(folder, args.model)):
        folder = os.path.join(folder, args.model)
    net, vocab = checkpoint.load_model(folder, parse_ctx(args.ctx))
    prefix = default_prefix(vocab) if args.prefix is None else args.prefix
    chars = generate(prefix, args.num_chars, net, vocab, temperature=args.temperature,
                     seed=args.seed)
    with signals_as_ctrl_c():
        return stream(chars)


def stream(chars):
    """Write each character as it comes (any length runs in constant memory), then a
    newline; Ctrl-C or SIGTERM ends it with one line, a closed pipe (| head) silently."""
    try:
        for char in chars:
            sys.stdout.write(char)
            sys.stdout.flush()
        print()
        return 0
    except KeyboardInterrupt as e:
        name, status = interrupted(e)
        print(flush=True)  # the text so far, whole, on lines of its own
        print(f'interrupted ({name}): the text above is all that was generated',
              file=sys.stderr)
        return status
    except BrokenPipeError:  # the reader has gone: no more output, no error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
