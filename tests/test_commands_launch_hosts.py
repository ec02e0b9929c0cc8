"""The "Across hosts" commands of docs/distributed.md on two hosts: two Linux network
namespaces joined by a veth pair, the first running `launch --role scheduler|server|worker`,
the second a worker, each told its address by DMLC_NODE_HOST. The job trains as one process
does, and a worker killed mid-run on the second host ends the job on the first with one line
that names it, leaving nothing running. Needs root and iproute2 (`ip netns`); skipped
without them."""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as onp
import pytest

import d2l_deep_rnn  # noqa: F401  (NumPy semantics, in which the checkpoints are saved)
from conftest import REPO

TIMEOUT_S = 180  # for any one wait; the whole file takes about 50 s on 2 cores
ADDRESSES = ('10.213.0.1', '10.213.0.2')  # the two hosts, on a veth pair of their own
SCHEDULER = f'{ADDRESSES[0]}:9091'
SILENCE_S = 3  # PS_HEARTBEAT_TIMEOUT for these jobs (the default, 10 s, would be slow)
# tests/test_launch.py's configuration: two epochs of 125 batches of 8 x 10
SMALL = ['--num-hiddens', '32', '--batch-size', '8', '--num-steps', '10', '--max-tokens',
         '10000', '--val-tokens', '1000', '--cell', 'rnn', '--lr', '1', '--seed', '0',
         '--ctx', 'cpu', '--model', 'gluon']


def ip(*args):
    """`ip ARGS`, its output as text."""
    return subprocess.run(['ip', *args], capture_output=True, text=True, timeout=30)


def skip_unless_root_with_ip():
    """Skip the test, saying why, unless it runs as root and `ip` is there."""
    if os.geteuid() != 0:
        pytest.skip('network namespaces need root: not running as root')
    if shutil.which('ip') is None:
        pytest.skip('network namespaces need the ip command (iproute2): ip is missing')


def add_namespaces_or_skip(names):
    """Create the namespaces `names`, or skip the test with `ip netns add`'s error."""
    for name in names:
        result = ip('netns', 'add', name)
        if result.returncode != 0:
            pytest.skip(f'ip netns add {name} failed: {result.stderr.strip()}')


def join(names, tag):
    """A veth pair between the two namespaces, ADDRESSES/24 on its ends, every link up."""
    ends = (f'v{tag}a', f'v{tag}b')
    steps = [('link', 'add', ends[0], 'type', 'veth', 'peer', 'name', ends[1])]
    for name, end, address in zip(names, ends, ADDRESSES):
        steps += [('link', 'set', end, 'netns', name),
                  ('-n', name, 'addr', 'add', f'{address}/24', 'dev', end),
                  ('-n', name, 'link', 'set', 'lo', 'up'),
                  ('-n', name, 'link', 'set', end, 'up')]
    for step in steps:
        result = ip(*step)
        assert result.returncode == 0, f'ip {" ".join(step)}: {result.stderr}'


def group_left(pgid):
    """The pids of process group `pgid` still running (zombies left out)."""
    left = []
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/stat') as f:
                state, _, group = f.read().rpartition(')')[2].split()[:3]
        except (OSError, ValueError):
            continue
        if state != 'Z' and int(group) == pgid:
            left.append(int(entry))
    return left


class Hosts:
    """Two namespaces as two hosts: runs docs/distributed.md's commands in them and remembers
    every process group it started."""

    def __init__(self, names, data_dir):
        self.names, self.data_dir, self.started = names, data_dir, []

    def launch(self, host, role, log, train=()):
        """`launch --role ROLE` on host 0 or 1 as docs/distributed.md runs it, its output
        into `log`.out and `log`.err; the Popen, whose pid is the role's own (everything
        execs)."""
        command = ['ip', 'netns', 'exec', self.names[host],
                   'env', f'DMLC_NODE_HOST={ADDRESSES[host]}',
                   f'PS_HEARTBEAT_TIMEOUT={SILENCE_S}',
                   sys.executable, '-m', 'd2l_deep_rnn', 'launch', '--role', role,
                   '--scheduler', SCHEDULER, '--workers', '2', '--servers', '1']
        if train:
            command += ['--', *train]
        env = dict(os.environ, OMP_NUM_THREADS='1')  # the two hosts share this machine's cores
        with open(f'{log}.out', 'w') as out, open(f'{log}.err', 'w') as err:
            proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True)
        self.started.append(proc)
        return proc

    def job(self, folder, epochs):
        """docs/distributed.md's job: scheduler, server and worker0 on host 0, worker1 on
        host 1, each worker with its own --out; {name: Popen}, logs in
        folder/<name>.out/.err."""
        data = ['--data-dir', self.data_dir] if self.data_dir else []
        procs = {role: self.launch(0, role, os.path.join(folder, role))
                 for role in ('scheduler', 'server')}
        for host in (0, 1):
            out = os.path.join(folder, f'out{host}')
            procs[f'worker{host}'] = self.launch(
                host, 'worker', os.path.join(folder, f'worker{host}'),
                [*SMALL, *data, '--epochs', str(epochs), '--out', out,
                 '--save', os.path.join(out, 'ck')])
        return procs

    def left_running(self, grace_s=5.0):
        """{pid of a process started: the pids of its group still running}, if any, once
        `grace_s` seconds have let the last ones end (a watcher notices that the process
        it watches has ended within a second)."""
        deadline = time.monotonic() + grace_s
        while True:
            left = {p.pid: group_left(p.pid) for p in self.started if group_left(p.pid)}
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    def kill_all(self):
        """SIGKILL every process group started, and reap."""
        for proc in self.started:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


@pytest.fixture
def hosts(data_dir):
    """Two fresh namespaces joined by a veth pair, named after this run; afterwards,
    whatever happened, every process started is killed and the namespaces (and with them
    the veth pair) deleted; then fail if a process had been left running."""
    tag = f'{os.getpid()}{secrets.token_hex(2)}'
    names = (f'd2l-{tag}-1', f'd2l-{tag}-2')
    skip_unless_root_with_ip()
    made = Hosts(names, data_dir)
    try:
        add_namespaces_or_skip(names)
        join(names, tag)
        yield made
    finally:
        left = made.left_running()
        made.kill_all()
        for name in names:
            ip('netns', 'del', name)
    listed = ip('netns', 'list').stdout
    assert not [name for name in names if name in listed], listed
    assert not left, f'left running: {left}'


def wait_all(procs, timeout_s=TIMEOUT_S):
    """Wait for every process; {name: exit status}."""
    deadline = time.monotonic() + timeout_s
    return {name: p.wait(timeout=max(0.1, deadline - time.monotonic()))
            for name, p in procs.items()}


def read(folder, name, stream):
    with open(os.path.join(folder, f'{name}.{stream}')) as f:
        return f.read()


def history(out):
    with open(os.path.join(out, 'summary.json')) as f:
        return json.load(f)['models']['gluon']['history']


def params(folder):
    with open(os.path.join(folder, 'meta.json')) as f:
        epoch = json.load(f)['epoch']
    return {k: v.asnumpy() for k, v in
            mx.nd.load(os.path.join(folder, f'params-{epoch}.params')).items()}


@pytest.fixture(scope='module')
def single(tmp_path_factory, data_dir):
    """Two epochs in one process with the same flags: the reference."""
    out = str(tmp_path_factory.mktemp('single'))
    data = ['--data-dir', data_dir] if data_dir else []
    result = subprocess.run(
        [sys.executable, '-m', 'd2l_deep_rnn', *SMALL, *data, '--epochs', '2', '--kvstore',
         'device', '--out', out, '--save', os.path.join(out, 'ck'), '--quiet'],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    return out


def scheduler_gone(role, pid):
    """The line of the watcher that stopped a server or worker."""
    return (f'launch: the scheduler at {SCHEDULER} has not answered for {SILENCE_S} s '
            f'(the job has ended); stopped this {role} (pid {pid})')


def test_two_hosts_train_as_one_process(hosts, single, tmp_path):
    folder = str(tmp_path)
    procs = hosts.job(folder, epochs=2)
    codes = wait_all(procs)
    # the workers end; then the scheduler ends by itself, and the server once it is gone
    assert codes == {'scheduler': 0, 'server': -signal.SIGTERM, 'worker0': 0, 'worker1': 0}
    assert read(folder, 'scheduler', 'err').splitlines() == [
        f'launch: every worker has ended (none sent a heartbeat for {SILENCE_S} s); '
        f'stopping the scheduler']
    assert read(folder, 'server', 'err').splitlines() == [
        scheduler_gone('server', procs['server'].pid)]
    assert not hosts.left_running()
    lead = [out for out in (tmp_path / 'out0', tmp_path / 'out1')
            if (out / 'summary.json').is_file()]
    assert len(lead) == 1  # rank 0 alone writes, on its own host
    dist, one = history(lead[0]), history(single)
    assert dist['worker'] == [0, 2]
    assert dist['train_ppl'] == pytest.approx(one['train_ppl'], rel=1e-5)
    assert dist['val_ppl'] == pytest.approx(one['val_ppl'], rel=1e-5)
    a = params(os.path.join(single, 'ck', 'gluon'))
    b = params(lead[0] / 'ck' / 'gluon')
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        onp.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-6)


def test_a_dead_host_ends_the_job_on_the_first_with_one_line(hosts, tmp_path):
    folder = str(tmp_path)
    procs = hosts.job(folder, epochs=1000)  # some 15 minutes: killed long before
    deadline = time.monotonic() + TIMEOUT_S
    while not any('epoch' in read(folder, w, 'out') for w in ('worker0', 'worker1')):
        assert time.monotonic() < deadline, 'no progress line'
        assert all(p.poll() is None for p in procs.values()), {
            name: p.returncode for name, p in procs.items()}
        time.sleep(0.1)
    rank = 0 if 'epoch' in read(folder, 'worker1', 'out') else 1  # rank 0 reports
    os.killpg(procs['worker1'].pid, signal.SIGKILL)  # the second host dies
    killed_at = time.monotonic()
    first = {name: procs[name] for name in ('scheduler', 'server', 'worker0')}
    codes = wait_all(first, timeout_s=60)
    took = time.monotonic() - killed_at
    assert codes == {'scheduler': 1, 'server': -signal.SIGTERM, 'worker0': -signal.SIGTERM}
    assert took < 10 * SILENCE_S  # about 3 s to call it dead, 3 s grace, 3 s for the others
    assert read(folder, 'scheduler', 'err').splitlines() == [
        f'launch: the worker of rank {rank} sent no heartbeat for {SILENCE_S} s (died, or '
        f'its host is unreachable); ending the job']
    assert read(folder, 'server', 'err').splitlines() == [
        scheduler_gone('server', first['server'].pid)]
    assert read(folder, 'worker0', 'err').splitlines() == [
        scheduler_gone('worker', first['worker0'].pid)]
    assert not hosts.left_running()
