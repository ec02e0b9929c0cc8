"""Every public entry point's numeric, string and switch parameters, walked with bad values of
each kind: each is refused before any work in one line of the package's `UsageError` (a
`ValueError`), or it is in `ACCEPTED`, which says what the value means there."""
import math

import mxnet as mx

from d2l_deep_rnn import (Config, DeepRNN, DeepRNNLM, DeepRNNScratch, StackedRNN,
                          StackedRNNScratch, TimeMachine, UsageError, load_data_splits,
                          load_data_text, load_data_time_machine, predict, train)
from d2l_deep_rnn.callbacks import DecayOnPlateau, EarlyStopping, Progress
from d2l_deep_rnn.callbacks import OnEpoch
from d2l_deep_rnn.checkpoint import Checkpoints, KeepBest
from d2l_deep_rnn.data import load_data_config
from d2l_deep_rnn.factory import build_models
from d2l_deep_rnn.training import callbacks_for, train_config
from d2l_deep_rnn.distributed import join
from d2l_deep_rnn.notebook import LivePlot

BAD = {'negative': -3, 'zero': 0, 'nan': math.nan, 'infinite': math.inf, 'float': 2.5,
       'huge': 10 ** 12, 'wrong type': [1], 'unknown name': 'bogus'}

MODEL = dict(vocab_size=28, num_hiddens=8, num_layers=2, cell='rnn', activation='tanh',
             dropout=0.0, output_dropout=0.0, weight_dropout=0.0)
CONFIG_FIELDS = ['texts', 'chars', 'batch_size', 'num_steps', 'max_tokens', 'val_tokens',
                 'use_random_iter',
                 'cell', 'num_layers', 'num_hiddens', 'activation', 'dropout', 'output_dropout',
                 'weight_dropout', 'optimizer', 'lr', 'clip', 'num_epochs', 'seed', 'lr_decay',
                 'patience', 'keep_best']


def entries(data_dir, tmp_path):
    """{entry point: (function, good keyword arguments, the parameters to walk)}."""
    splits = load_data_splits(4, 5, max_tokens=200, val_tokens=100, data_dir=data_dir)
    net = DeepRNN(28, 8, 2, 'rnn')
    net.initialize()
    return {
        'Config': (Config, {}, CONFIG_FIELDS),
        'load_data_time_machine': (load_data_time_machine, dict(
            batch_size=4, num_steps=5, use_random_iter=False, max_tokens=200,
            data_dir=data_dir), ['batch_size', 'num_steps', 'use_random_iter', 'max_tokens',
                                 'data_dir']),
        'load_data_splits': (load_data_splits, dict(
            batch_size=4, num_steps=5, use_random_iter=False, max_tokens=200, val_tokens=100,
            data_dir=data_dir),
            ['batch_size', 'num_steps', 'use_random_iter', 'max_tokens', 'val_tokens',
             'data_dir']),
        'load_data_text': (load_data_text, dict(
            texts=['timemachine'], batch_size=4, num_steps=5, use_random_iter=False,
            max_tokens=200, val_tokens=100, chars='all', data_dir=data_dir),
            ['texts', 'batch_size', 'num_steps', 'use_random_iter', 'max_tokens', 'val_tokens',
             'chars', 'data_dir']),
        'DeepRNN': (DeepRNN, MODEL, list(MODEL)),
        'DeepRNNScratch': (DeepRNNScratch, dict(MODEL, fast=True), list(MODEL) + ['fast']),
        'train': (lambda **kw: train(DeepRNN(28, 8, 2, 'rnn'), **kw), dict(
            train_iter=splits[0], vocab=splits[2], lr=1.0, num_epochs=1, ctx=mx.cpu(),
            use_random_iter=False, clip=1.0, seed=0, optimizer='sgd',
            callbacks=[], val_iter=splits[1]), ['lr', 'num_epochs', 'use_random_iter', 'clip',
                                                'seed', 'optimizer', 'train_iter', 'val_iter']),
        'join': (join, dict(kvstore='device', ctx=mx.cpu()), ['kvstore']),
        'predict': (predict, dict(prefix='the', num_preds=3, net=net, vocab=splits[2],
                                  temperature=0.0, seed=0),
                    ['prefix', 'num_preds', 'temperature', 'seed']),
        'StackedRNNScratch': (StackedRNNScratch, dict(num_inputs=28, num_hiddens=8,
                                                      num_layers=2, sigma=0.01),
                              ['num_inputs', 'num_hiddens', 'num_layers', 'sigma']),
        'StackedRNN': (StackedRNN, dict(num_hiddens=8, num_layers=2, cell='gru', dropout=0),
                       ['num_hiddens', 'num_layers', 'cell', 'dropout']),
        'DeepRNNLM': (lambda **kw: DeepRNNLM(DeepRNN(28, 8, 2), **kw), dict(lr=2), ['lr']),
        'TimeMachine': (TimeMachine, dict(batch_size=4, num_steps=5, num_train=100, num_val=50,
                                          data_dir=data_dir),
                        ['batch_size', 'num_steps', 'num_train', 'num_val', 'data_dir']),
        'Progress': (Progress, dict(every=5), ['every']),
        'DecayOnPlateau': (DecayOnPlateau, dict(factor=2.0), ['factor']),
        'EarlyStopping': (EarlyStopping, dict(patience=3), ['patience']),
        'Checkpoints': (Checkpoints, dict(folder=str(tmp_path / 'ckpt'), every=10),
                        ['every']),
        'LivePlot': (LivePlot, dict(num_epochs=10, updates=10), ['num_epochs', 'updates']),
        'OnEpoch': (OnEpoch, dict(on_epoch=print), ['on_epoch']),
        'KeepBest': (KeepBest, dict(folder=None), ['folder']),
        'train_config': (lambda **kw: train_config(DeepRNN(28, 8, 2, 'rnn'), **kw), dict(
            train_iter=splits[0], vocab=splits[2], config=Config.tiny(num_epochs=1),
            ctx=mx.cpu(), callbacks=[]), ['config']),
        'callbacks_for': (callbacks_for, dict(config=Config()), ['config']),
        'load_data_config': (load_data_config, dict(config=Config.tiny(), data_dir=data_dir),
                             ['config']),
        'build_models': (build_models, dict(config=Config.tiny(), vocab_size=28, ctx=mx.cpu()),
                         ['config']),
    }


SIZES = {'negative', 'zero', 'nan', 'infinite', 'float', 'wrong type', 'unknown name'}
# What each accepted value means, by (entry point, parameter): kinds not named are refused.
ACCEPTED = {
    **{(entry, p): {'zero': 'no dropout, as the section'}
       for entry in ('Config', 'DeepRNN', 'DeepRNNScratch', 'StackedRNN')
       for p in ('dropout', 'output_dropout', 'weight_dropout')},
    ('Config', 'max_tokens'): {'huge': 'more than the corpus: all of it but the held-out part'},
    # Config holds sizes without the corpus or the vocabulary: the loader and the model
    # constructor, which know them, refuse what cannot be (load_data_config, build_models)
    **{('Config', p): {'huge': 'checked where the corpus or vocabulary is known'}
       for p in ('batch_size', 'num_steps', 'val_tokens', 'num_layers', 'num_hiddens')},
    ('load_data_time_machine', 'max_tokens'): {'huge': 'more than the corpus: all of it'},
    ('Config', 'texts'): {'unknown name': 'the path of one text: checked when it loads'},
    ('Config', 'val_tokens'): {'zero': 'no held-out text, as the book',
                               'huge': 'checked where the corpus is known'},
    ('Config', 'seed'): {'zero': 'a seed like any other'},
    ('train', 'seed'): {'zero': 'a seed like any other'},
    ('predict', 'seed'): {'zero': 'a seed like any other'},
    ('Config', 'lr'): {'float': 'a learning rate', 'huge': 'a learning rate (may diverge: '
                                                          'train then says so)'},
    ('train', 'lr'): {'float': 'a learning rate'},  # huge: diverges, TrainingDiverged's line
    ('DeepRNNLM', 'lr'): {'float': 'a learning rate', 'huge': 'a learning rate'},
    ('Config', 'clip'): {'float': 'a threshold', 'huge': 'no clipping in effect'},
    ('train', 'clip'): {'float': 'a threshold', 'huge': 'no clipping in effect'},
    ('StackedRNNScratch', 'sigma'): {'float': 'a deviation', 'huge': 'a deviation'},
    ('Config', 'lr_decay'): {'float': 'a factor', 'huge': 'a factor'},
    ('DecayOnPlateau', 'factor'): {'float': 'a factor', 'huge': 'a factor'},
    ('Config', 'num_epochs'): {'huge': 'as many as asked (EarlyStopping, or the stop button)'},
    ('train', 'num_epochs'): {'zero': 'only initializes and places the model',
                              'huge': 'as many as asked (EarlyStopping, or the stop button)'},
    ('LivePlot', 'num_epochs'): {'huge': 'as many as the run asks'},
    ('predict', 'prefix'): {'unknown name': 'a prompt like any other'},
    ('KeepBest', 'folder'): {'unknown name': 'a folder of that name'},
    ('predict', 'num_preds'): {'zero': 'the prefix alone'},
    ('predict', 'temperature'): {'zero': 'greedy, as the book', 'float': 'sampling',
                                 'huge': 'near-uniform sampling'},
    ('Progress', 'every'): {'huge': 'only the last epoch\'s line'},
    ('Checkpoints', 'every'): {'huge': 'only at the end'},
    ('LivePlot', 'updates'): {'huge': 'a redraw after every epoch'},
    ('EarlyStopping', 'patience'): {'huge': 'in effect never'},
    ('Config', 'patience'): {'zero': 'never stop early, as the book', 'huge': 'in effect never'},
}
NOT_RUN = {('train', 'num_epochs', 'huge'), ('Config', 'num_epochs', 'huge')}  # runs for ever


def outcome(function, kwargs):
    """'accepted', 'refused' (one line of UsageError), or what else happened."""
    try:
        function(**kwargs)
    except UsageError as e:
        return 'refused' if '\n' not in str(e) and str(e) else f'several lines: {e}'
    except Exception as e:  # noqa: BLE001  (the test reports it)
        return f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
    return 'accepted'


def test_every_bad_value_is_refused_in_one_line_or_documented(data_dir, tmp_path, capsys):
    wrong, cases = [], 0
    for entry, (function, good, params) in entries(data_dir, tmp_path).items():
        for param in params:
            accepted = ACCEPTED.get((entry, param), {})
            for kind, value in BAD.items():
                if (entry, param, kind) in NOT_RUN:
                    assert kind in accepted
                    continue
                cases += 1
                got = outcome(function, dict(good, **{param: value}))
                expected = 'accepted' if kind in accepted else 'refused'
                if got != expected:
                    wrong.append(f'{entry}({param}={value!r}) [{kind}]: {got}')
    capsys.readouterr()
    assert not wrong, '\n'.join(wrong)
    assert cases > 500
