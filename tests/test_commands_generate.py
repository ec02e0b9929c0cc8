"""`generate`: text from a checkpoint, streamed as it is generated, in real processes."""
import signal
import subprocess
import sys

import mxnet as mx
import pytest

from d2l_deep_rnn import DeepRNN, load_data_splits, predict, train
from d2l_deep_rnn.checkpoint import Checkpoints, load_model
from d2l_deep_rnn.factory import set_seed

ENDLESS = ['--num-chars', '1000000000000']  # ~10^12 characters: days, never in memory


@pytest.fixture(scope='module')
def saved(tmp_path_factory, data_dir):
    """A checkpoint folder of a small trained DeepRNN."""
    folder = tmp_path_factory.mktemp('ck')
    train_iter, val_iter, vocab = load_data_splits(8, 10, max_tokens=2000, val_tokens=1000,
                                                   data_dir=data_dir)
    set_seed(0)
    net = DeepRNN(len(vocab), 32, 2, 'lstm')
    train(net, train_iter, vocab, 1.0, 2, mx.cpu(), val_iter=val_iter, seed=0,
          callbacks=[Checkpoints(str(folder))])
    return str(folder)


def start(repo, *args, **kwargs):
    return subprocess.Popen([sys.executable, '-m', 'd2l_deep_rnn', 'generate', *args],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_endless_text_streams_and_a_closed_pipe_ends_it_silently(saved, repo):
    proc = start(repo, '--from', saved, *ENDLESS, '--temperature', '0.8', '--seed', '7')
    first = proc.stdout.read(300).decode()  # arrives while generation goes on
    proc.stdout.close()  # as `| head -c 300` does
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE
    assert proc.stderr.read() == b''  # no BrokenPipeError, no traceback
    net, vocab = load_model(saved, mx.cpu())
    assert first == predict('time traveller', 300 - len('time traveller'), net, vocab,
                            temperature=0.8, seed=7)  # the same text as in one piece


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_end_the_stream_with_one_line(saved, repo, sig, interruptible):
    proc = start(repo, '--from', saved, *ENDLESS, **interruptible)
    first = proc.stdout.read(100)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig
    assert err.decode() == f'interrupted ({signal.Signals(sig).name}): the text above is ' \
                           f'all that was generated\n'
    text = (first + out).decode()
    assert text.endswith('\n') and len(text) > 100
    net, vocab = load_model(saved, mx.cpu())
    greedy = predict('time traveller', len(text) - 1 - len('time traveller'), net, vocab)
    assert text == greedy + '\n'  # what was written is whole, up to the signal
