"""`python -m d2l_deep_rnn launch`: a parameter-server job (scheduler, servers, workers as
local processes on 127.0.0.1) trains exactly as one process does, a dead process stops the
whole job with one line that names it, a checkpoint of the dead job resumes, and nothing is
ever left running."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import mxnet as mx
import numpy as onp
import pytest

from d2l_deep_rnn.commands import main
from d2l_deep_rnn.checkpoint import load_model
from conftest import REPO

TIMEOUT_S = 180  # for any one command; a normal run takes 10 to 20 s on 2 cores
# two epochs of the first 10,000 characters; 125 batches of 8 x 10 per epoch
SMALL = ['--num-hiddens', '32', '--batch-size', '8', '--num-steps', '10', '--max-tokens',
         '10000', '--val-tokens', '1000', '--cell', 'rnn', '--lr', '1', '--seed', '0',
         '--ctx', 'cpu']
TINY = ['--num-hiddens', '16', '--batch-size', '4', '--num-steps', '5', '--max-tokens',
        '500', '--val-tokens', '100', '--ctx', 'cpu']




def command(*args):
    return [sys.executable, '-m', 'd2l_deep_rnn', *args]


def run(*args):
    return subprocess.run(command(*args), cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def start(*args, log):
    """The launcher in the background, its stdout and stderr into `log`.out/.err."""
    with open(f'{log}.out', 'w') as out, open(f'{log}.err', 'w') as err:
        return subprocess.Popen(command(*args), cwd=REPO, stdout=out, stderr=err, text=True)


def job_pids(out):
    with open(os.path.join(out, 'logs', 'pids.json')) as f:
        return json.load(f)


def alive(pid):
    """Whether `pid` is a running process of this package (not a reused pid)."""
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return b'd2l_deep_rnn' in f.read()
    except OSError:
        return False


def assert_all_gone(out):
    left = {name: pid for name, pid in job_pids(out).items() if alive(pid)}
    assert not left, f'left running: {left}'


@pytest.fixture
def reaper(tmp_path):
    """After the test, SIGKILL whatever a failed test left running (and fail on it)."""
    yield
    left = []
    for root, _, files in os.walk(tmp_path):
        if 'pids.json' in files:
            for name, pid in job_pids(os.path.dirname(root)).items():
                if alive(pid):
                    left.append((name, pid))
                    os.kill(pid, signal.SIGKILL)
    assert not left, f'processes left running: {left}'


def wait_for(predicate, proc, timeout_s=TIMEOUT_S):
    """Poll until `predicate()` is true; fail if `proc` ends first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, f'the launcher ended early with status {proc.returncode}'
        time.sleep(0.05)
    pytest.fail('timed out')


def saved_epoch(folder):
    try:
        with open(os.path.join(folder, 'meta.json')) as f:
            return json.load(f)['epoch']
    except (OSError, ValueError):
        return 0


def history(out):
    with open(os.path.join(out, 'summary.json')) as f:
        return json.load(f)['models']['gluon']['history']


def params(folder):
    return {k: v.asnumpy() for k, v in
            mx.nd.load(os.path.join(folder, f'params-{saved_epoch(folder)}.params')).items()}


@pytest.fixture(scope='module')
def single(tmp_path_factory, data_args):
    """Two epochs in one process without a launcher: the reference."""
    out = str(tmp_path_factory.mktemp('single'))
    result = run(*SMALL, *data_args, '--epochs', '2', '--kvstore', 'device',
                 '--model', 'gluon', '--out', out, '--save', os.path.join(out, 'ck'),
                 '--quiet')
    assert result.returncode == 0, result.stderr
    return out


def test_two_workers_train_as_one_process(single, tmp_path, data_args, reaper):
    out = str(tmp_path / 'dist')
    result = run('launch', '--workers', '2', '--servers', '1', '--', *SMALL,
                 *data_args, '--epochs', '2', '--out', out,
                 '--save', os.path.join(out, 'ck'))
    assert result.returncode == 0, result.stderr
    assert_all_gone(out)
    assert 'epoch 2/2' in result.stdout  # worker 0, streamed, is the rank that reports
    dist, one = history(out), history(single)
    assert dist['worker'] == [0, 2]
    assert dist['train_ppl'] == pytest.approx(one['train_ppl'], rel=1e-5)
    assert dist['val_ppl'] == pytest.approx(one['val_ppl'], rel=1e-5)
    a, b = params(os.path.join(single, 'ck', 'gluon')), params(os.path.join(out, 'ck', 'gluon'))
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        onp.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-6)
    assert sorted(os.listdir(os.path.join(out, 'logs'))) == [
        'pids.json', 'scheduler.log', 'server-0.log', 'worker-0.log', 'worker-1.log']


def test_dist_async_workers_step_on_the_servers(single, tmp_path, data_args, reaper):
    """With `dist_async` the servers update the weights with each worker's clipped
    gradient as it comes: one worker takes the single process's steps; two learn."""
    for workers in ('1', '2'):
        out = str(tmp_path / f'async{workers}')
        result = run('launch', '--workers', workers, '--servers', '1', '--kvstore',
                     'dist_async', '--', *SMALL, *data_args, '--epochs', '2', '--out', out)
        assert result.returncode == 0, result.stderr
        assert_all_gone(out)
        dist, one = history(out), history(single)
        assert dist['worker'] == [0, int(workers)]
        if workers == '1':
            assert dist['train_ppl'] == pytest.approx(one['train_ppl'], rel=1e-5)
            assert dist['val_ppl'] == pytest.approx(one['val_ppl'], rel=1e-5)
        else:  # worker 0's own rows; the servers interleave the two workers' steps
            assert dist['train_ppl'][1] < dist['train_ppl'][0] < 20
            assert dist['val_ppl'] == pytest.approx(one['val_ppl'], rel=0.1)


def test_killed_worker_stops_the_job_and_its_checkpoint_resumes(single, tmp_path, data_args,
                                                                reaper):
    out, log = str(tmp_path / 'job'), str(tmp_path / 'launcher')
    ck = os.path.join(out, 'ck')
    args = ['launch', '--workers', '2', '--', *SMALL, *data_args, '--save-every',
            '1', '--out', out]
    proc = start(*args, '--epochs', '4', '--save', ck, log=log)
    try:
        wait_for(lambda: saved_epoch(os.path.join(ck, 'gluon')) >= 1, proc)
        victim = job_pids(out)['worker-1']
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        code = proc.wait(timeout=60)
        took = time.monotonic() - killed_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 1 and took < 15
    assert_all_gone(out)
    error = open(f'{log}.err').read().strip().splitlines()
    assert len(error) == 1, error
    assert f'worker 1 (pid {victim}) was killed by SIGKILL' in error[0]
    assert os.path.join(out, 'logs', 'worker-1.log') in error[0]
    saved = saved_epoch(os.path.join(ck, 'gluon'))
    assert 1 <= saved < 4
    net, vocab = load_model(os.path.join(ck, 'gluon'), mx.cpu())  # readable
    assert len(vocab) == 28

    result = run(*args, '--epochs', str(saved + 1), '--resume', ck)  # one more epoch
    assert result.returncode == 0, result.stderr
    assert_all_gone(out)
    assert f'resuming after epoch {saved}' in result.stdout
    resumed = history(out)
    assert resumed['epochs'] == saved + 1 and len(resumed['train_ppl']) == saved + 1
    assert saved_epoch(os.path.join(ck, 'gluon')) == saved + 1
    # epochs 1-2 (before and after the kill, or both before) are the single process's
    assert resumed['train_ppl'][:2] == pytest.approx(history(single)['train_ppl'], rel=1e-5)


@pytest.mark.parametrize('flags, words', [
    (['--save-every', '0'], '--save-every must be a positive integer'),
    (['--num-hiddens', '100000000', '--cell', 'lstm', '--model', 'gluon'],
     "num_hiddens=100000000, num_layers=2 (lstm) needs 120,000,012,800,000,000 values in the "
     "fused layer's packed weights, over MXNet's limit of 2^31 - 1 per array"),
    *[(['dist_async', *flags], 'with dist_async the servers keep the optimizer, which a worker '
       'can neither save nor change: drop --save and --lr-decay, or use --kvstore dist_sync')
      for flags in (['--save', os.path.join(REPO, 'never-made')], ['--lr-decay', '2'])],
])
def test_a_worker_usage_error_exits_2_with_its_line(flags, words, tmp_path, data_args, reaper):
    out = str(tmp_path / 'out')
    kvstore, flags = (flags[0], flags[1:]) if flags[0] == 'dist_async' else ('dist_sync', flags)
    result = run('launch', '--workers', '1', '--kvstore', kvstore, '--', *TINY, *data_args,
                 *flags, '--out', out)
    assert result.returncode == 2
    assert_all_gone(out)
    error = result.stderr.strip().splitlines()
    assert len(error) == 1, error
    assert f'exited with status 2: error: {words}' in error[0]


def test_sigterm_stops_every_process(tmp_path, data_args, reaper):
    out, log = str(tmp_path / 'out'), str(tmp_path / 'launcher')
    proc = start('launch', '--workers', '2', '--', *TINY, *data_args,
                 '--epochs', '1000', '--out', out, log=log)
    try:
        wait_for(lambda: 'epoch' in open(os.path.join(out, 'logs', 'worker-0.log')).read()
                 if os.path.isfile(os.path.join(out, 'logs', 'worker-0.log')) else False, proc)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 128 + signal.SIGTERM
    assert_all_gone(out)
    assert 'interrupted (SIGTERM)' in open(f'{log}.err').read()


def call(argv):
    """`launch` in this process; argparse's errors end in SystemExit."""
    try:
        return main(['launch', *argv])
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize('argv, message', [
    (['--workers', '0'], '--workers must be a positive integer, got 0'),
    (['--workers', '-1'], '--workers must be a positive integer, got -1'),
    (['--servers', '0'], '--servers must be a positive integer, got 0'),
    (['--workers', '5', '--', '--batch-size', '4'], '--batch-size 4 cannot be split across 5'),
    (['--', '--model', 'both'], 'give --model gluon or --model scratch'),
    (['--', '--kvstore', 'device'], 'give the kvstore to the launcher'),
    (['--epochs', '3'], 'training flags go after --'),
    (['--role', 'worker'], 'needs --scheduler HOST:PORT'),
    (['--', '--data-dir', '/no/such'], 'data folder /no/such (--data-dir, data_dir=): no such '
     'folder'),
])
def test_bad_input_one_line_exit_2_nothing_started(argv, message, tmp_path, capsys):
    out = str(tmp_path / 'out')
    assert call([*argv, *([] if '--' in argv else ['--']), '--out', out]) == 2
    captured = capsys.readouterr()
    assert captured.out == '' and len(captured.err.strip().splitlines()) == 1
    assert message in captured.err
    assert not os.path.exists(out)


def test_a_port_in_use_is_refused(tmp_path, capsys):
    out = str(tmp_path / 'out')
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert call(['--port', str(port), '--', '--out', out]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1
    assert f'cannot listen on 127.0.0.1:{port}' in captured.err
    assert not os.path.exists(out)


@pytest.mark.parametrize('role', ['scheduler', 'server', 'worker'])
def test_role_mode_becomes_that_process_with_its_environment(role, monkeypatch, capsys):
    with socket.socket() as s:  # a port free now, for the scheduler's check
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    monkeypatch.setenv('DMLC_ROLE', 'stale')  # the launcher's own values replace these
    calls = []
    monkeypatch.setattr(os, 'execve', lambda *a: calls.append(a))
    assert call(['--role', role, '--scheduler', f'127.0.0.1:{port}', '--workers', '3',
                 '--servers', '2', '--', '--epochs', '5']) is None
    (path, argv, env), = calls
    assert path == sys.executable and argv[0] == sys.executable
    if role == 'worker':
        assert argv[1:] == ['-m', 'd2l_deep_rnn', '--epochs', '5', '--kvstore', 'dist_sync']
    else:
        assert argv[1] == '-c' and 'import mxnet' in argv[2]
    assert {k: env[k] for k in env if k.startswith('DMLC_')} == {
        'DMLC_ROLE': role, 'DMLC_PS_ROOT_URI': '127.0.0.1', 'DMLC_PS_ROOT_PORT': str(port),
        'DMLC_NUM_WORKER': '3', 'DMLC_NUM_SERVER': '2'}
    assert f'{role} of a job with 3 worker(s) and 2 server(s)' in capsys.readouterr().out


@pytest.mark.parametrize('user, expected', [(None, '1'), ('3', '3')])
def test_each_process_gets_its_share_of_the_cores_unless_the_user_chose(user, expected):
    """The launcher's own OMP_NUM_THREADS (the package sets a thread per core when it loads)
    is not passed on: a process of a 2-worker job on 2 cores gets 1 thread, or the user's."""
    env = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}
    if user:
        env['OMP_NUM_THREADS'] = user
    code = ('import os; from d2l_deep_rnn.commands.launch import dmlc_env; '
            'print(os.environ["OMP_NUM_THREADS"], '
            'dmlc_env("worker", "127.0.0.1", 9000, 1, 2, threads=1)["OMP_NUM_THREADS"])')
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == [user or str(len(os.sched_getaffinity(0))), expected]
