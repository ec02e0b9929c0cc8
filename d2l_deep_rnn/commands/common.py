"""What every command shares: the parser that fails in one line, flags generated from
`Config`'s fields, `--ctx`, the output folder check, the one-line ending of a
`UsageError` (exit status 2), and SIGTERM handled as Ctrl-C, both reliably."""
import argparse
import contextlib
import dataclasses
import functools
import os
import signal
import sys
import threading

import mxnet as mx

from ..config import Config, UsageError
from ..files import new_temporary
from ..machine import default_ctx


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (exit status 2), without the usage block."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message} (see --help)\n')


def add_config_flags(parser, defaults, names=None):
    """A flag per `Config` field (in `names`, or all), defaults from `defaults`; `Config` checks
    the values, so errors name the setting."""
    for field in dataclasses.fields(Config):
        if names is not None and field.name not in names:
            continue
        flag, text = Config.flag(field.name), field.metadata['help']
        if field.type is bool:
            parser.add_argument(flag, dest=field.name, action='store_true', help=text)
        elif field.type is tuple:  # --text FILE [FILE ...]
            parser.add_argument(flag, dest=field.name, nargs='+', metavar='FILE',
                                default=getattr(defaults, field.name), help=text)
        else:
            parser.add_argument(flag, dest=field.name, type=field.type,
                                default=getattr(defaults, field.name), help=text)


def config_from_args(args, defaults=None):
    """The `Config` the parsed flags describe (the rest from `defaults`); UsageError if bad."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
              if hasattr(args, f.name)}
    return (defaults or Config()).replace(**values)


def parse_ctx(text):
    """'auto', 'cpu', 'gpu:1', ... -> a context that exists; 'cpu:0,cpu:1' -> a list of them."""
    if ',' in text:
        ctxs = [parse_ctx(part.strip()) for part in text.split(',')]
        if len(set(map(str, ctxs))) < len(ctxs):
            raise UsageError(f'--ctx {text} names a device twice; list each once')
        return ctxs
    if text == 'auto':
        return default_ctx()
    kind, _, index = text.partition(':')
    if kind not in ('cpu', 'gpu') or (index and not index.isdigit()):
        raise UsageError(f"--ctx must be auto, cpu, gpu, cpu:N or gpu:N; got {text!r}")
    index = int(index or 0)
    if kind == 'gpu' and index >= mx.context.num_gpus():
        fix = ('check the GPU with nvidia-smi' if mx.runtime.Features().is_enabled('CUDA') else
               "this MXNet is the CPU build: CUDA=117 ./setup.sh installs the CUDA build "
               "(docs/gpu.md)")
        raise UsageError(f'--ctx {text}: MXNet sees {mx.context.num_gpus()} GPU(s); {fix}, '
                         f'or use --ctx cpu')
    return mx.gpu(index) if kind == 'gpu' else mx.cpu(index)


def prepare_out_dir(path, flag='--out'):
    """Create the output folder and prove it writable before hours of training; runs may do it
    at once, so each probe file has a name of its own (a fixed one, deleted by another, failed)."""
    try:
        os.makedirs(path, exist_ok=True)
        os.remove(new_temporary(os.path.join(path, '.write-test')))
    except OSError as e:
        raise UsageError(f'cannot write to the output folder {path} ({e.strerror}); '
                         f'choose another with {flag}') from None


def one_line_errors(run):
    """Decorate a command's `run(args)`: a `UsageError` ends it with one line, exit 2."""
    @functools.wraps(run)
    def wrapper(*args, **kwargs):
        try:
            return run(*args, **kwargs)
        except UsageError as e:
            print(f'error: {e}', file=sys.stderr)
            return 2
    return wrapper


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, as Ctrl-C raises KeyboardInterrupt."""
    signum = signal.SIGTERM


def in_finalizer(frame):
    """Whether `frame` runs in a `__del__`, which drops exceptions (MXNet frees arrays in one)."""
    while frame is not None:
        if frame.f_code.co_name == '__del__':
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def signals_as_ctrl_c():
    """Within the block, Ctrl-C and SIGTERM (`Terminated`) end the command in one line, temporary
    files dropped, the last checkpoint kept; one a finalizer would swallow is resent 10 ms later."""
    def stop(signum, frame):
        if in_finalizer(frame):
            threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()
            return
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    # a signal the process was started ignoring (a background job's Ctrl-C) stays ignored
    caught = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) != signal.SIG_IGN]
    previous = {sig: signal.signal(sig, stop) for sig in caught}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def interrupted(e):
    """(signal name, exit status 128 + its number) of a KeyboardInterrupt or `Terminated`."""
    signum = getattr(e, 'signum', signal.SIGINT)
    return signal.Signals(signum).name, 128 + signum
