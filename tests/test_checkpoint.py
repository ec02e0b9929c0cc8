import errno
import json
import os
import stat

import mxnet as mx
import numpy as onp
import pytest

from d2l_deep_rnn import DeepRNN, DeepRNNScratch, load_data_splits, train
from d2l_deep_rnn.checkpoint import (CheckpointError, Checkpoints, load_model, read_meta,
                                     save_checkpoint)
from d2l_deep_rnn.files import WriteError
from d2l_deep_rnn.factory import set_seed
from d2l_deep_rnn.training import TrainingDiverged


@pytest.fixture(scope='module')
def splits(data_dir):
    return load_data_splits(8, 10, max_tokens=2000, val_tokens=1000, data_dir=data_dir)


def fresh(Model, seed, num_hiddens=16, cell='gru', activation='tanh'):
    set_seed(seed)
    net = Model(28, num_hiddens, 2, cell, activation)
    net.initialize(mx.init.Normal(0.1), ctx=mx.cpu())
    return net


def run(splits, net, epochs, folder, resume=False, lr=1.0, optimizer='sgd'):
    train_iter, val_iter, vocab = splits
    return train(net, train_iter, vocab, lr, epochs, mx.cpu(), val_iter=val_iter, seed=3,
                 optimizer=optimizer, callbacks=[Checkpoints(str(folder), 1, resume)])


def params(net):
    return {name.split('_', 1)[1]: p.data().asnumpy() for name, p in
            net.collect_params().items()}


@pytest.mark.parametrize('Model, optimizer, lr', [(DeepRNN, 'sgd', 1.0),
                                                  (DeepRNNScratch, 'sgd', 1.0),
                                                  (DeepRNN, 'adam', 0.01)])
def test_killed_and_resumed_run_ends_as_an_uninterrupted_one(splits, tmp_path, Model,
                                                             optimizer, lr):
    """Everything comes back from disk: weights, the data order and the optimizer's state
    (Adam's moments and step counts too)."""
    whole = fresh(Model, 0)
    expected = run(splits, whole, 4, tmp_path / 'whole', lr=lr, optimizer=optimizer)
    first = fresh(Model, 0)
    run(splits, first, 2, tmp_path / 'cut', lr=lr, optimizer=optimizer)  # "killed" after 2
    assert read_meta(str(tmp_path / 'cut'))['epoch'] == 2
    resumed_net = fresh(Model, 99)  # other initial weights: everything must come from disk
    resumed = run(splits, resumed_net, 4, tmp_path / 'cut', resume=True, lr=lr,
                  optimizer=optimizer)
    assert resumed['train_ppl'] == pytest.approx(expected['train_ppl'], rel=1e-6)
    assert resumed['val_ppl'] == pytest.approx(expected['val_ppl'], rel=1e-6)
    assert resumed['epochs'] == 4 and len(resumed['seconds']) == 4
    a, b = params(whole), params(resumed_net)
    assert a.keys() == b.keys()
    for name in a:
        onp.testing.assert_allclose(b[name], a[name], rtol=1e-6, atol=1e-7)
    assert sorted(os.listdir(tmp_path / 'cut')) == ['meta.json', 'params-4.params',
                                                    'trainer-4.states']


@pytest.mark.parametrize('optimizer, lr', [('sgd', 1.0), ('adam', 0.01)])
def test_a_checkpoint_of_the_earlier_clipping_optimizers_resumes(splits, tmp_path, optimizer,
                                                                  lr):
    """Checkpoints written before the clipping moved into the loop pickled `ClippedSGD` or
    `ClippedAdam` (with their threshold): they resume, and end as an uninterrupted run."""
    import pickle
    expected = run(splits, fresh(DeepRNN, 0), 3, tmp_path / 'whole', lr=lr,
                   optimizer=optimizer)
    run(splits, fresh(DeepRNN, 0), 2, tmp_path / 'cut', lr=lr, optimizer=optimizer)
    states_file = tmp_path / 'cut' / 'trainer-2.states'
    states, saved = pickle.loads(states_file.read_bytes())
    saved.theta, saved.monitor = 1.0, None  # what the earlier optimizers carried
    name = type(saved).__name__.encode()
    old = pickle.dumps((states, saved), protocol=4)
    old = old.replace(bytes([0x8c, len(name)]) + name,
                      bytes([0x8c, len(name) + 7]) + b'Clipped' + name)
    assert b'Clipped' + name in old
    states_file.write_bytes(old)
    resumed = run(splits, fresh(DeepRNN, 99), 3, tmp_path / 'cut', resume=True, lr=lr,
                  optimizer=optimizer)
    assert resumed['train_ppl'] == expected['train_ppl']
    assert resumed['val_ppl'] == expected['val_ppl']


def test_checkpoint_of_another_configuration_is_refused(splits, tmp_path):
    run(splits, fresh(DeepRNN, 0), 1, tmp_path)
    with pytest.raises(CheckpointError, match=r"another optimizer \(SGD, this run "
                                              r"Adam: .*another --optimizer"):
        run(splits, fresh(DeepRNN, 0), 2, tmp_path, resume=True, optimizer='adam')
    with pytest.raises(CheckpointError, match=r"has num_hiddens 16, this run 32"):
        run(splits, fresh(DeepRNN, 0, num_hiddens=32), 2, tmp_path, resume=True)
    with pytest.raises(CheckpointError, match=r"has model 'DeepRNN', this run 'DeepRNNScratch'"):
        run(splits, fresh(DeepRNNScratch, 0), 2, tmp_path, resume=True)


def test_missing_damaged_and_truncated_checkpoints(splits, tmp_path):
    with pytest.raises(CheckpointError, match='no checkpoint in .* train with --save'):
        load_model(str(tmp_path), mx.cpu())
    run(splits, fresh(DeepRNN, 0), 1, tmp_path)
    net, vocab = load_model(str(tmp_path), mx.cpu())
    assert isinstance(net, DeepRNN) and len(vocab) == 28 and vocab['<unk>'] == vocab.unk == 1
    path = tmp_path / 'params-1.params'
    path.write_bytes(path.read_bytes()[:100])  # truncated
    damaged = f'{path} is damaged (MXNet cannot read it: truncated, or not written by ' \
              f'--save); delete the folder and train again'
    with pytest.raises(CheckpointError) as e:
        load_model(str(tmp_path), mx.cpu())
    assert str(e.value) == damaged  # the file, not MXNet's C++ traceback text
    with pytest.raises(CheckpointError) as e:
        run(splits, fresh(DeepRNN, 0), 2, tmp_path, resume=True)
    assert str(e.value) == damaged
    meta = tmp_path / 'meta.json'
    meta.write_text(meta.read_text()[:50])
    with pytest.raises(CheckpointError, match='meta.json is damaged'):
        read_meta(str(tmp_path))


@pytest.mark.parametrize('Model', [DeepRNN, DeepRNNScratch])
def test_load_model_onto_devices_without_cpu0(splits, tmp_path, Model, devices, on_devices):
    """A checkpoint loads onto cpu(1), or [cpu(1), cpu(2)] (no cpu(0): as on GPUs), every
    copy holding the saved weights and computing there."""
    saved = fresh(Model, 0)
    run(splits, saved, 1, tmp_path)
    net, _ = load_model(str(tmp_path), devices)
    on_devices(net, devices)
    for (name, p), q in zip(saved.collect_params().items(), net.collect_params().values()):
        assert all((a.asnumpy() == p.data().asnumpy()).all() for a in q.list_data()), name


def test_divergence_keeps_the_last_good_checkpoint(splits, tmp_path):
    net = fresh(DeepRNN, 0, cell='rnn', activation='relu')
    run(splits, net, 2, tmp_path)
    good = json.loads((tmp_path / 'meta.json').read_text())
    with pytest.raises(TrainingDiverged):
        run(splits, net, 5, tmp_path, resume=True, lr=1e30)
    assert json.loads((tmp_path / 'meta.json').read_text()) == good
    restored, _ = load_model(str(tmp_path), mx.cpu())
    assert all(onp.isfinite(p.data().asnumpy()).all()
               for p in restored.collect_params().values())


def test_checkpoint_files_get_the_mode_of_open_under_the_umask(splits, tmp_path, umask):
    run(splits, fresh(DeepRNN, 0), 1, tmp_path)
    modes = {name: stat.S_IMODE(os.stat(tmp_path / name).st_mode)
             for name in os.listdir(tmp_path)}
    assert modes == {'meta.json': umask, 'params-1.params': umask, 'trainer-1.states': umask}


def test_the_next_save_removes_a_killed_saves_temporary_file(splits, tmp_path):
    net = fresh(DeepRNN, 0)
    run(splits, net, 1, tmp_path)
    (tmp_path / '.params-2.params.0123456789ab.tmp').write_bytes(b'half')  # as after SIGKILL
    run(splits, net, 2, tmp_path, resume=True)
    assert sorted(os.listdir(tmp_path)) == ['meta.json', 'params-2.params', 'trainer-2.states']


def test_a_truncated_trainer_state_is_named(splits, tmp_path):
    run(splits, fresh(DeepRNN, 0), 1, tmp_path)
    path = tmp_path / 'trainer-1.states'
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(CheckpointError, match=f'^{path} is damaged'):
        run(splits, fresh(DeepRNN, 0), 2, tmp_path, resume=True)


def test_a_failed_save_names_the_file_and_keeps_the_last_good_checkpoint(splits, tmp_path):
    """ENOSPC simulated in-process at the optimizer state's write, after the parameters'."""
    net = fresh(DeepRNN, 0)
    history = run(splits, net, 1, tmp_path)
    good = read_meta(str(tmp_path))

    class FullDisk:
        def save_states(self, path):
            with open(path, 'wb') as f:
                f.write(b'half')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WriteError, match=f'^cannot write {tmp_path}/trainer-2.states '
                                         r'\(No space left on device\)'):
        save_checkpoint(str(tmp_path), net, FullDisk(), {**history, 'epochs': 2}, splits[2])
    assert read_meta(str(tmp_path)) == good  # still epoch 1, and it loads
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
    run(splits, fresh(DeepRNN, 5), 2, tmp_path, resume=True)  # the next save tidies up
    assert sorted(os.listdir(tmp_path)) == ['meta.json', 'params-2.params', 'trainer-2.states']


def test_a_real_full_disk_keeps_the_last_good_checkpoint(splits, full_disk):
    """A real 64 KiB tmpfs: epoch 1's checkpoint (40 KB of parameters) fits, epoch 2's
    parameters beside it do not; MXNet's short write becomes the one line."""
    net = fresh(DeepRNN, 0, num_hiddens=48, cell='rnn')
    with pytest.raises(WriteError, match=f'^cannot write {full_disk}/params-2.params '
                                         r'\(No space left on device\)'):
        run(splits, net, 3, full_disk)
    assert sorted(os.listdir(full_disk)) == ['meta.json', 'params-1.params',
                                             'trainer-1.states']
    load_model(str(full_disk), mx.cpu())  # readable
    assert read_meta(str(full_disk))['epoch'] == 1


def test_best_validation_is_recorded_and_its_weights_kept(scripted_run, tmp_path):
    """KeepBest: the model ends with the best validation epoch's weights, also saved in a
    checkpoint folder of its own (<save>/best)."""
    snapshot, same_weights = scripted_run.snapshot, scripted_run.same_weights
    net, history, weights = scripted_run()
    assert (history['best_val_ppl'], history['best_epoch']) == (7.0, 4)
    assert same_weights(snapshot(net), weights[-1])  # without keep_best: the last epoch's
    net, history, weights = scripted_run(keep_best=True, save_dir=str(tmp_path / 'ck'))
    assert history['epochs'] == 8 and same_weights(snapshot(net), weights[3])  # epoch 4's
    assert not same_weights(weights[3], weights[-1])
    assert read_meta(str(tmp_path / 'ck' / 'best'))['epoch'] == 4
    assert read_meta(str(tmp_path / 'ck'))['epoch'] == 8
    best, _ = load_model(str(tmp_path / 'ck' / 'best'), mx.cpu())
    assert same_weights(snapshot(best), weights[3])


def test_a_resumed_run_keeps_the_best_weights_saved_before_it(scripted_run, tmp_path):
    """Killed after epoch 5 (best: epoch 4), resumed to epoch 8 with no better epoch: the
    model ends with epoch 4's weights, read back from <save>/best."""
    snapshot, same_weights = scripted_run.snapshot, scripted_run.same_weights
    folder = str(tmp_path / 'ck')
    _, whole, weights = scripted_run(keep_best=True, save_dir=folder, save_every=1,
                                     num_epochs=5)
    assert (whole['best_epoch'], whole['epochs']) == (4, 5)
    net, history, _ = scripted_run(keep_best=True, save_dir=folder, save_every=1, resume=True,
                                   scripted=[9.0, 9.5, 9.9])  # epochs 6-8: no better one
    assert (history['best_epoch'], history['epochs']) == (4, 8)
    assert same_weights(snapshot(net), weights[3])


def test_load_model_refuses_a_device_mxnet_does_not_have(tmp_path):
    import mxnet as mx
    from d2l_deep_rnn.checkpoint import load_model
    from d2l_deep_rnn.config import UsageError
    with pytest.raises(UsageError, match=r'^ctx=gpu\(3\): MXNet sees 0 GPU\(s\) here; use mx.cpu\(\)$'):
        load_model(str(tmp_path), mx.gpu(3))
