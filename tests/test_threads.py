"""The thread policy, in fresh processes: what each import order and user setting leads to."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

CORES = len(os.sched_getaffinity(0))
REPORT = """
import json, os, sys
first = sys.argv[1]
if first == 'mxnet':
    import mxnet
import d2l_deep_rnn
from mxnet.base import _LIB
sys.path.insert(0, 'bench')
from harness import thread_cap  # the bench's reader of MXNet's own thread cap
print(json.dumps({'cap': thread_cap(_LIB), **{k: os.environ.get(k) for k in
                  ('OMP_NUM_THREADS', 'OMP_WAIT_POLICY', 'GOMP_SPINCOUNT')}}))
"""


def run_report(first, **env):
    """A process that imports `first` ('package' or 'mxnet') first, with no OpenMP settings
    of ours but `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(('OMP_', 'GOMP_'))}
    result = subprocess.run([sys.executable, '-c', REPORT, first], cwd=REPO, text=True,
                            capture_output=True, env={**clean, **env}, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def report(first, **env):
    """What that process ends up with: MXNet's thread cap and the OpenMP variables."""
    return json.loads(run_report(first, **env).stdout)


def test_package_first_sets_a_thread_per_core_and_a_short_spin():
    assert report('package') == {'cap': CORES, 'OMP_NUM_THREADS': str(CORES),
                                 'OMP_WAIT_POLICY': None, 'GOMP_SPINCOUNT': '1000'}


@pytest.mark.skipif(CORES < 2, reason='one core: MXNet already runs one thread per core')
def test_mxnet_first_keeps_its_cap_and_says_how_to_get_the_cores():
    """MXNet imported first (a notebook's `from d2l import mxnet as d2l`) caps operators at
    cores / 2 threads; raising the cap then would keep libgomp's long spin, which collapsed
    two processes sharing the cores, so the package says what to do instead."""
    result = run_report('mxnet')
    assert json.loads(result.stdout)['cap'] == CORES // 2
    assert result.stderr.count('RuntimeWarning: MXNet was imported before d2l_deep_rnn, so it '
                               f'runs one OpenMP thread per operator on these {CORES} cores: '
                               'import d2l_deep_rnn first (before d2l or mxnet)') == 1
    assert 'Warning' not in run_report('package').stderr


@pytest.mark.parametrize('first', ['package', 'mxnet'])
def test_the_users_settings_win(first):
    r = report(first, OMP_NUM_THREADS='1', OMP_WAIT_POLICY='PASSIVE')
    assert r == {'cap': 1, 'OMP_NUM_THREADS': '1', 'OMP_WAIT_POLICY': 'PASSIVE',
                 'GOMP_SPINCOUNT': None}
    assert report(first, GOMP_SPINCOUNT='50')['GOMP_SPINCOUNT'] == '50'
