"""Checkpoints (parameters, optimizer state, data-order RNG state, vocabulary, history) written
so that a kill at any moment leaves the last good one readable, and the callbacks that write
them (`Checkpoints`, `KeepBest`). The files and their write order: docs/checkpoints.md."""
import errno
import json
import os
import random

import mxnet as mx

from .callbacks import Callback
from .config import Config, UsageError, check_positive_int, check_switch
from .files import TEMP_SUFFIX, atomic_write, atomic_write_bytes, write_error
from .factory import new_model
from .params import net_ctx
from .machine import check_ctx
from .texts import vocab_from_tokens

META = 'meta.json'
MODEL_SETTINGS = ('vocab_size', 'cell', 'num_layers', 'num_hiddens', 'activation')


class CheckpointError(UsageError):
    """A checkpoint is missing, damaged, or from another configuration."""


def describe(net):
    """The settings that fix a model's parameter shapes and meaning."""
    return {'model': type(net).__name__, **{k: getattr(net, k) for k in MODEL_SETTINGS}}


def save_checkpoint(folder, net, trainer, history, vocab):
    """Save after epoch `history['epochs']`; removes the files of older epochs afterwards."""
    epoch = history['epochs']
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise write_error(folder, e) from e
    params, states = f'params-{epoch}.params', f'trainer-{epoch}.states'
    atomic_write(os.path.join(folder, params), mxnet_writer(net.save_parameters))
    atomic_write(os.path.join(folder, states), trainer.save_states)
    rng = random.getstate()
    meta = {'epoch': epoch, 'params': params, 'trainer': states, **describe(net),
            'vocab': vocab.idx_to_token, 'python_random_state': [rng[0], list(rng[1]), rng[2]],
            'history': history}
    atomic_write_bytes(os.path.join(folder, META), json.dumps(meta).encode())
    for name in os.listdir(folder):
        if is_stale(name, (params, states)):
            os.remove(os.path.join(folder, name))


def mxnet_writer(save):
    """MXNet's `save(path)` as a writer for `atomic_write`, a short write raised as its OSError."""
    def write(tmp):
        try:
            save(tmp)
        except mx.base.MXNetError:  # 'FileStream.Write incomplete', without its cause
            disk = os.statvfs(tmp)
            code = errno.ENOSPC if disk.f_bavail == 0 else errno.EIO
            raise OSError(code, os.strerror(code), tmp) from None
    return write


def is_stale(name, current):
    """An older epoch's file, or a killed save's temporary one (only rank 0 writes a folder)."""
    if name.startswith('.') and name.endswith(TEMP_SUFFIX):
        return True
    return name.endswith(('.params', '.states')) and name not in current


def read_meta(folder):
    """The checkpoint's description; a clear error if it is missing or damaged."""
    path = os.path.join(folder, META)
    if not os.path.isfile(path):
        raise CheckpointError(f'no checkpoint in {folder} (no {META}); train with --save '
                              f'{folder} first, or point at the folder that --save wrote')
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
        files = [os.path.join(folder, meta[k]) for k in ('params', 'trainer')]
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise CheckpointError(f'{path} is damaged ({e.__class__.__name__}: {e}); delete the '
                              f'folder and train again') from None
    for file in files:
        if not os.path.isfile(file):
            raise CheckpointError(f'{file} named by {path} is missing; delete the folder '
                                  f'and train again')
    return meta


def check_compatible(meta, net, vocab, folder):
    """Refuse a checkpoint of another model, naming the first setting that differs."""
    mine = {**describe(net), 'vocab': vocab.idx_to_token}
    for key in ('model',) + MODEL_SETTINGS + ('vocab',):
        if meta.get(key) == mine[key]:
            continue
        if key == 'vocab':
            raise CheckpointError(f'the checkpoint in {folder} was trained with another '
                                  f'vocabulary; use the same corpus or another folder')
        raise CheckpointError(f'the checkpoint in {folder} has {key} {meta.get(key)!r}, this '
                              f'run {mine[key]!r}; use the same settings or another folder')


def load_parameters(folder, net):
    """Only the parameters of the checkpoint in `folder`, into `net` (the same model)."""
    meta = read_meta(folder)
    load_file(os.path.join(folder, meta['params']),
              lambda path: net.load_parameters(path, ctx=net_ctx(net, every=True)))


def load_file(path, load):
    """`load(path)` with MXNet; a damaged file is named in one line, not in a C++ traceback."""
    try:
        load(path)
    except Exception:  # MXNet raises its own error types for damaged files
        raise CheckpointError(f'{path} is damaged (MXNet cannot read it: truncated, or not '
                              f'written by --save); delete the folder and train again') \
            from None


def load_checkpoint(folder, net, trainer, vocab):
    """Load parameters, optimizer state and the data-order RNG; returns the history saved."""
    meta = read_meta(folder)
    check_compatible(meta, net, vocab, folder)
    load_parameters(folder, net)
    load_file(os.path.join(folder, meta['trainer']), trainer.load_states)
    version, state, gauss = meta['python_random_state']
    random.setstate((version, tuple(state), gauss))
    return meta['history']


def load_model(folder, ctx):
    """The model saved in `folder` and its vocabulary, ready to `predict`."""
    check_ctx(ctx)
    meta = read_meta(folder)
    name = {'DeepRNN': 'gluon', 'DeepRNNScratch': 'scratch'}.get(meta.get('model'))
    if name is None:
        raise CheckpointError(f'{os.path.join(folder, META)} names no known model '
                              f'({meta.get("model")!r})')
    net = new_model(name, meta['vocab_size'], Config(**{k: meta[k] for k in MODEL_SETTINGS
                                                        if k != 'vocab_size'}))
    load_file(os.path.join(folder, meta['params']),
              lambda path: net.load_parameters(path, ctx=ctx))
    return net, vocab_from_tokens(meta['vocab'])


def resume(folder, net, trainer, vocab, verbose=True):
    """The history of the checkpoint in `folder`, loaded into this run, or None if none yet."""
    if not os.path.isfile(os.path.join(folder, META)):
        return None
    ours = trainer.optimizer  # loading replaces it by the saved one
    history = load_checkpoint(folder, net, trainer, vocab)
    restore_optimizer_settings(trainer, ours, folder)
    if verbose:
        print(f"{history['model']}: resuming after epoch {history['epochs']} from {folder}",
              flush=True)
    return history


class Checkpoints(Callback):
    """A checkpoint every `every` epochs and after the last; `resume`: first continue from one."""

    uses_the_optimizer = True

    def __init__(self, folder, every=10, resume=False, verbose=True):
        check_positive_int('every', every)
        check_switch('resume', resume)
        self.folder, self.every, self.resume, self.verbose = folder, every, resume, verbose
        self.saved = self.last = None

    def resumed_history(self):
        run = self.run
        if not self.resume:
            return None
        return resume(self.folder, run.net, run.trainer, run.vocab,
                      run.is_main_process and self.verbose)

    def on_epoch_end(self, history):
        self.last = history['epochs']
        if self.last % self.every == 0 or self.last == self.run.num_epochs:
            self.save(history)
        return False

    def on_train_end(self, history):
        if self.last is not None and self.saved != self.last:  # stopped early
            self.save(history)

    def save(self, history):
        if self.run.is_main_process:
            save_checkpoint(self.folder, self.run.net, self.run.trainer, history,
                            self.run.vocab)
        self.saved = history['epochs']


class KeepBest(Callback):
    """End with the best validation epoch's weights, copied when it comes, saved in `folder`."""

    needs_validation = True

    def __init__(self, folder=None):
        if folder is not None and not isinstance(folder, (str, os.PathLike)):
            raise UsageError(f'folder must be a path (a str) or None (keep the best weights '
                             f'in memory only); got {folder!r}')
        self.folder, self.weights = folder, None
        self.uses_the_optimizer = folder is not None  # its checkpoint holds the optimizer

    def on_train_begin(self, history):
        """A resumed run keeps the best weights saved before it, until a better epoch."""
        if self.folder and self.run.is_main_process and history.get('best_epoch') and \
                os.path.isfile(os.path.join(self.folder, META)):
            now = self.copy_weights()
            load_parameters(self.folder, self.run.net)
            self.weights = self.copy_weights()
            self.put_back(now)

    def copy_weights(self):
        return {name: p.list_data()[0].copy()
                for name, p in self.run.net.collect_params().items()}

    def put_back(self, weights):
        for name, p in self.run.net.collect_params().items():
            p.set_data(weights[name])

    def on_epoch_end(self, history):
        if history.get('best_epoch') == history['epochs']:
            self.weights = self.copy_weights()
            if self.folder and self.run.is_main_process:
                save_checkpoint(self.folder, self.run.net, self.run.trainer, history,
                                self.run.vocab)
        return False

    def on_train_end(self, history):
        if self.weights is not None:
            self.put_back(self.weights)


def restore_optimizer_settings(trainer, ours, folder):
    """After loading a checkpoint's optimizer: this run's rate; refuse another optimizer."""
    saved = trainer.optimizer
    if type(saved) is not type(ours):
        raise CheckpointError(f'{folder} holds a checkpoint of another optimizer '
                              f'({type(saved).__name__}, this run {type(ours).__name__}: an '
                              f'older d2l-deep-rnn, another --optimizer or --kvstore); train '
                              f'again without --resume')
    trainer.set_learning_rate(ours.learning_rate)
