"""The callbacks' protocol (each hook, in order, on every callback) and the extras that
follow the validation perplexity, on runs whose validation perplexities are scripted."""
import mxnet as mx
import pytest

from d2l_deep_rnn import Config, DeepRNN, UsageError, load_data_splits, train
from d2l_deep_rnn.callbacks import Callback, DecayOnPlateau, EarlyStopping, Progress
from d2l_deep_rnn.checkpoint import KeepBest, read_meta
from d2l_deep_rnn.factory import is_initialized


class Recorder(Callback):
    """Writes down every hook `train` calls, with what it is given; stops at `stop_at`."""

    def __init__(self, calls, name, stop_at=None):
        self.calls, self.name, self.stop_at = calls, name, stop_at

    def bind(self, run):
        super().bind(run)
        self.calls.append((self.name, 'bind', run.num_epochs))

    def on_train_begin(self, history):
        self.calls.append((self.name, 'train_begin', history['epochs']))

    def on_epoch_begin(self, history):
        self.calls.append((self.name, 'epoch_begin', history['epochs']))

    def on_batch_begin(self, X):
        self.calls.append((self.name, 'batch_begin', X.size))

    def on_after_backward(self):
        grads = [p.grad() for p in self.run.net.collect_params().values()
                 if p.grad_req != 'null']
        self.calls.append((self.name, 'after_backward', all(float(abs(g).sum()) > 0
                                                            for g in grads)))

    def on_epoch_end(self, history):
        self.calls.append((self.name, 'epoch_end', history['epochs']))
        return history['epochs'] == self.stop_at

    def on_train_end(self, history):
        self.calls.append((self.name, 'train_end', history['epochs']))


def test_every_hook_is_called_on_every_callback_in_order(data_dir):
    """Each hook on each callback in the list's order; each step's batch before its
    backward pass, whose gradients are there; a stop request from the first callback still
    lets the second see that epoch's end, and training ends after it."""
    train_iter, val_iter, vocab = load_data_splits(4, 5, max_tokens=200, val_tokens=100,
                                                   data_dir=data_dir)
    calls = []
    history = train(DeepRNN(len(vocab), 8, 2, 'rnn'), train_iter, vocab, 1.0, 5, mx.cpu(),
                    val_iter=val_iter, seed=0,
                    callbacks=[Recorder(calls, 'a', stop_at=2), Recorder(calls, 'b')])
    assert history['epochs'] == history['stopped_early'] == 2
    assert [c for c in calls if c[1] not in ('batch_begin', 'after_backward')] == [
        ('a', 'bind', 5), ('b', 'bind', 5), ('a', 'train_begin', 0), ('b', 'train_begin', 0),
        ('a', 'epoch_begin', 0), ('b', 'epoch_begin', 0), ('a', 'epoch_end', 1),
        ('b', 'epoch_end', 1), ('a', 'epoch_begin', 1), ('b', 'epoch_begin', 1),
        ('a', 'epoch_end', 2), ('b', 'epoch_end', 2), ('a', 'train_end', 2),
        ('b', 'train_end', 2)]
    for epoch in (1, 2):  # the steps between epoch_begin and epoch_end
        begin = calls.index(('b', 'epoch_begin', epoch - 1))
        steps = calls[begin + 1:calls.index(('a', 'epoch_end', epoch))]
        assert len(steps) % 4 == 0 and steps  # a, b before the step; a, b after backward
        for i in range(0, len(steps), 4):
            assert [(n, hook) for n, hook, _ in steps[i:i + 4]] == [
                ('a', 'batch_begin'), ('b', 'batch_begin'), ('a', 'after_backward'),
                ('b', 'after_backward')]
            assert steps[i + 2][2] and steps[i + 3][2]  # the backward pass left gradients
        tokens = sum(size for name, hook, size in steps if (name, hook) == ('a', 'batch_begin'))
        seconds = history['seconds'][epoch - 1]
        assert tokens == round(history['tokens_per_sec'][epoch - 1] * seconds)


def test_learning_rate_is_divided_after_each_epoch_that_did_not_improve(scripted_run):
    _, history, _ = scripted_run(lr_decay=4)
    # epoch 3 (9.0) and 5, 6, 7 (7.5, 7.6, 7.7) did not improve: the next epoch's rate / 4
    assert history['lr'] == [1.0, 1.0, 1.0, 0.25, 0.25, 0.0625, 0.015625, 0.00390625]
    _, plain, _ = scripted_run()
    assert 'lr' not in plain and plain['train_ppl'][:3] == history['train_ppl'][:3]
    assert plain['train_ppl'][3] != history['train_ppl'][3]  # epoch 4 took smaller steps


def test_early_stopping_ends_after_patience_epochs_without_improvement(scripted_run,
                                                                        tmp_path, capsys):
    _, history, weights = scripted_run(patience=2, save_dir=str(tmp_path / 'ck'), log_every=4)
    assert history['epochs'] == 6 == history['stopped_early'] == len(weights)  # best: 4
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[2] for line in lines] == ['1/8', '4/8', '6/8']  # and the last
    assert len(history['train_ppl']) == len(history['val_ppl']) == 6
    assert read_meta(str(tmp_path / 'ck'))['epoch'] == 6  # the last epoch is saved


def test_validation_callbacks_need_a_validation_set_and_sane_values(data_dir):
    """The callbacks check their settings as `Config` does, in the same words."""
    train_iter, val_iter, vocab = load_data_splits(4, 5, max_tokens=200, data_dir=data_dir)
    for make, words in ((lambda: DecayOnPlateau(0.5), 'lr_decay must be a number >= 1'),
                        (lambda: Config(lr_decay=0.5), 'lr_decay must be a number >= 1'),
                        (lambda: EarlyStopping(0), 'patience must be a positive integer'),
                        (lambda: Config(patience=-2), 'patience must be a non-negative')):
        with pytest.raises(UsageError, match=words):
            make()
    for callback in (DecayOnPlateau(4), EarlyStopping(3), KeepBest()):
        with pytest.raises(UsageError, match='follow the validation perplexity'):
            train(DeepRNN(len(vocab), 8, 2, 'rnn'), train_iter, vocab, 1.0, 2, mx.cpu(),
                  callbacks=[callback])


def test_one_callback_is_taken_alone_and_anything_else_is_refused_in_one_line(data_dir,
                                                                                capsys):
    """A single callback works as a list of one; a class, a function or anything else that
    is not a Callback instance is refused before training, saying what to write."""
    train_iter, val_iter, vocab = load_data_splits(4, 5, max_tokens=200, data_dir=data_dir)
    net = DeepRNN(len(vocab), 8, 2, 'rnn')
    history = train(net, train_iter, vocab, 1.0, 2, mx.cpu(), callbacks=Progress(every=2))
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == ['1/2', '2/2'] and history['epochs'] == 2
    for wrong, words in ((Progress, r'callbacks take instances: write Progress\(\), not '
                                    r'Progress$'),
                         (print, r"callbacks take Callback instances \(Progress\(\), "
                                 r"EarlyStopping\(5\), ...\); got <built-in function print>; "
                                 r"to call a function after each epoch, give OnEpoch\(f\)$"),
                         ('progress', r"callbacks take Callback instances \(Progress\(\), "
                                      r"EarlyStopping\(5\), ...\); got 'progress'$")):
        fresh = DeepRNN(len(vocab), 8, 2, 'rnn')
        with pytest.raises(UsageError, match=words):
            train(fresh, train_iter, vocab, 1.0, 2, mx.cpu(), callbacks=[Progress(), wrong])
        assert not any(is_initialized(p) for p in fresh.collect_params().values())
