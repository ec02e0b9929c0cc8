"""The bench, a tool of the repository (bench/): run as a user runs it, `python
bench/bench.py`, in processes of its own; its pieces (bench, rows, harness, book_d2l,
importable by name: conftest.py) in this one."""
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

import bench
import book_d2l
import rows
from bench import flops_per_token
from conftest import BENCH
from harness import OMP_VARIABLES, write_batches


PACKAGE_ROWS = 'abcdeghij'
TOOL = os.path.join(BENCH, 'bench.py')


def run_tool(*args, repo, timeout=120, **kwargs):
    """`python bench/bench.py *args` in a fresh process from the repository's root."""
    return subprocess.run([sys.executable, TOOL, *args], cwd=repo, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def test_flops_per_token_of_the_sections_lstm():
    # 4 gates x 256 x (28 + 256), then 4 x 256 x 512, then 256 x 28 multiply-adds, x2 x3
    assert flops_per_token('lstm', 2, 256, 28) == 6 * (4 * 256 * 284 + 4 * 256 * 512 + 256 * 28)
    assert abs(flops_per_token('lstm', 2, 256, 28) / 1e6 - 4.93) < 0.01  # the 4.9 MFLOP
    assert flops_per_token('rnn', 1, 10, 5) == 6 * (10 * 15 + 10 * 5)


@pytest.fixture(scope='module')
def quick_bench(tmp_path_factory, data_args, repo, book_d2l):
    """One quick run (1 timed epoch, 2 rounds) as a user who set no OpenMP variables starts
    it: the test process has them, from importing the package. The book's d2l from where the
    tests keep it."""
    out = tmp_path_factory.mktemp('bench') / 'bench.json'
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARIABLES}
    result = run_tool('--quick', '--repeats', '1', '--rounds', '2', '--json', str(out),
                      '--book-d2l-cache', os.path.dirname(book_d2l), *data_args, repo=repo,
                      env=env, timeout=900)
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(out.read_text())


def test_quick_benchmark_writes_every_row(quick_bench):
    stdout, bench_json = quick_bench
    rows_ = {r['row']: r for r in bench_json['rows']}
    torch_ran = importlib.util.find_spec('torch') is not None
    assert sorted(rows_) == sorted(PACKAGE_ROWS + ('f' if torch_ran else ''))
    assert rows_['a']['ratio'] == 1.0
    for r in rows_.values():
        assert len(r['rates']) == 2  # one timed epoch in each of two rounds
        assert r['min'] <= r['tokens_per_sec'] <= r['max'] and r['tokens_per_sec'] > 0
        assert r['gflops'] > 0 and 1 < r['train_ppl'] < 40 and r['threads'] >= 1
    # b-i train the same function from the same seed: the same perplexity, up to float32
    # sums in another order (fused and scratch: 5e-5 apart after 2 epochs); the book's
    # model also trains h2h_bias, so it may differ a little; g, h: instruments change nothing
    ppl = {k: rows_[k]['train_ppl'] for k in PACKAGE_ROWS[1:-1]}
    assert ppl == pytest.approx({k: ppl['c'] for k in ppl}, rel=1e-4)
    assert ppl['i'] == ppl['c']  # the same code, imported in another order
    assert rows_['a']['train_ppl'] == pytest.approx(ppl['c'], rel=1e-2)
    # (j) never updates: every epoch the untrained model's perplexity, the vocabulary's size
    # within a little (weights N(0, 0.01^2): nearly uniform logits)
    assert rows_['j']['processes'][0]['train_ppl'] == [rows_['j']['train_ppl']] * 2
    assert abs(rows_['j']['train_ppl'] / bench_json['vocab_size'] - 1) < 0.02
    assert 'runs at' in stdout and 'of its forward + backward alone (j)' in stdout
    assert 'diagnostics keep' in stdout and 'with d2l imported first' in stdout
    assert set(bench_json['matmul_peak_gflops']) == {'onednn', 'openblas'}
    assert 'vs (a)' in stdout and 'wrote' in stdout
    assert bench_json['book_d2l'] == 'd2l==0.17.6'
    assert "a) book's own train_ch8 (d2l 0.17.6, RNNModel)" in stdout
    if torch_ran:
        assert rows_['f']['vs_torch'] == 1.0 and 'vs PyTorch' in stdout
        assert abs(rows_['f']['train_ppl'] / rows_['c']['train_ppl'] - 1) < 0.01
    else:
        assert bench_json['skipped']['f'].startswith('torch is not importable')
        assert 'f) skipped: torch is not importable' in stdout


def test_every_row_runs_in_fresh_processes_taking_turns(quick_bench):
    _, bench_json = quick_bench
    rows_ = {r['row']: r for r in bench_json['rows']}
    processes = [p for r in rows_.values() for p in r['processes']]
    pids = {p['pid'] for p in processes} | {bench_json['pid']}
    assert len(pids) == len(processes) + 1 == 2 * len(rows_) + 1
    in_order = sorted(processes, key=lambda p: p['started'])
    keys = [k for k in rows.ROWS if k in rows_]
    assert [(p['round'], p['row']) for p in in_order] == \
        [(n, k) for n in (1, 2) for k in keys]  # a b c ... a b c ...
    for p in processes:
        assert len(p['seconds']) == len(p['train_ppl']) == 2  # a warm-up, one timed epoch
        # the same batches and seed in every round: the same perplexities
        assert p['train_ppl'] == pytest.approx(rows_[p['row']]['processes'][0]['train_ppl'])
    assert bench_json['environment'] == {name: None for name in OMP_VARIABLES}


def test_every_row_is_a_script_file_run_by_this_python():
    """No program text in strings: a row's process runs row.py (the notebook row with
    --d2l-first) or torch_peer.py, both beside bench.py."""
    for key in rows.ROWS:
        command = bench.child_command(key, 'batches.npz', 'result.json')
        script = 'torch_peer.py' if key == 'f' else 'row.py'
        first = ['--d2l-first'] if key == 'i' else []
        args = ['batches.npz', 'result.json'] if key == 'f' else [*first, key, 'batches.npz',
                                                                   'result.json']
        assert command == [sys.executable, os.path.join(BENCH, script), *args]


def test_notebook_row_imported_mxnet_first_and_torch_row_never(quick_bench):
    _, bench_json = quick_bench
    rows_ = {r['row']: r for r in bench_json['rows']}
    for key in PACKAGE_ROWS:
        assert {p['mxnet_before_package'] for p in rows_[key]['processes']} == {key == 'i'}
    for p in rows_['f']['processes'] if 'f' in rows_ else []:
        assert not p['mxnet_loaded'] and not p['package_loaded']
        assert p['env'] == {name: None for name in OMP_VARIABLES}  # the user's, untouched
        assert p['torch_threads'] >= 1


def test_the_torch_peer_loads_neither_mxnet_nor_the_package(tmp_path, repo):
    """torch_peer.py as the bench starts it, with torch or without (then it says why)."""
    settings = {'config': {'seed': 0, 'cell': 'lstm', 'num_hiddens': 4, 'num_layers': 2,
                           'activation': 'tanh', 'lr': 1.0, 'clip': 1.0},
                'vocab_size': 5, 'epochs': 2}
    X = [[[0, 1, 2], [3, 4, 0]]] * 2
    write_batches(str(tmp_path / 'b.npz'), settings, X, X)
    done = subprocess.run([sys.executable, os.path.join(BENCH, 'torch_peer.py'),
                           str(tmp_path / 'b.npz'), str(tmp_path / 'r.json')], cwd=repo,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / 'r.json').read_text())
    assert result['mxnet_loaded'] is False and result['package_loaded'] is False
    if importlib.util.find_spec('torch') is None:
        assert result['skipped'].startswith('torch is not importable')
    else:
        assert len(result['seconds']) == len(result['train_ppl']) == 2


def test_a_row_that_crashes_or_hangs_stops_the_bench_with_one_line(tmp_path, monkeypatch,
                                                                   capsys, data_args,
                                                                   book_d2l):
    crash = [sys.executable, '-c', "raise RuntimeError('boom')"]  # a row that crashes
    monkeypatch.setattr(bench, 'child_command', lambda *args: crash)
    assert bench.main(['--quick', '--no-torch', '--json', str(tmp_path / 'b.json'),
                       '--book-d2l-cache', os.path.dirname(book_d2l), *data_args]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: row a) book's own train_ch8 (d2l 0.17.6, RNNModel) failed in its own "
        'process (exit status 1): RuntimeError: boom']
    assert not (tmp_path / 'b.json').exists()
    monkeypatch.setattr(bench, 'child_command',
                        lambda *args: [sys.executable, '-c', 'import time; time.sleep(60)'])
    with pytest.raises(bench.RowFailed, match=r'^row c\) DeepRNN hybridized \(train default\) '
                                              r'did not finish within 0.5 s and was stopped'):
        bench.run_child('c', 'batches.npz', str(tmp_path / 'c1.json'), {}, timeout=0.5)


@pytest.mark.parametrize('flag, value, message', [
    ('--repeats', '0', '--repeats must be a positive integer, got 0'),
    ('--rounds', '0', '--rounds must be a positive integer, got 0'),
    ('--timeout', '-1', '--timeout must be a positive number of seconds, got -1'),
])
def test_bench_bad_value_is_one_line(tmp_path, flag, value, message, repo):
    result = run_tool(flag, value, '--json', str(tmp_path / 'b.json'), repo=repo)
    assert result.returncode == 2
    assert result.stderr.strip() == f'error: {message}'


def test_an_impossible_size_exits_2_before_any_allocation(tmp_path, data_args, repo):
    """An array over MXNet's 2^31 - 1 limit: one line naming the settings and the limit, as
    on every command that builds a model, and nothing written."""
    result = run_tool('--num-hiddens', '100000000', '--no-torch', '--json',
                      str(tmp_path / 'b.json'), *data_args, repo=repo)
    assert result.returncode == 2
    assert result.stderr.startswith(
        'error: num_hiddens=100000000, num_layers=2 (lstm) needs 120,000,012,800,000,000 '
        'values in '), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / 'b.json').exists()


def test_without_the_books_d2l_the_bench_stops_with_one_line(tmp_path, data_args, repo):
    """No wheel in the cache folder and no registry to download it from (pip's settings
    left out, its index a closed port): one line saying what to do, exit status 2, no row
    started."""
    cache = tmp_path / 'cache'
    env = {k: v for k, v in os.environ.items() if not k.startswith('PIP_')}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL='http://127.0.0.1:9/simple',
               PIP_RETRIES='0', PIP_TIMEOUT='1')
    result = run_tool('--quick', '--no-torch', '--json', str(tmp_path / 'b.json'),
                      '--book-d2l-cache', str(cache), *data_args, repo=repo, env=env,
                      timeout=300)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith('error: could not download d2l==0.17.6 from the package registry '
                           'with pip download --no-deps (')
    assert line.endswith(f'check the registry is reachable, or put '
                         f'd2l-0.17.6-py3-none-any.whl in {cache}')
    assert 'round 1' not in result.stdout and not (tmp_path / 'b.json').exists()
    assert os.listdir(cache) == []  # nothing half-downloaded left behind


def test_a_wheel_that_is_not_the_published_one_is_refused(tmp_path):
    (tmp_path / book_d2l.WHEEL).write_bytes(b'not the wheel')
    with pytest.raises(book_d2l.BookUnavailable, match=(
            rf'^{re.escape(str(tmp_path / book_d2l.WHEEL))} is not the published d2l==0.17.6 '
            r'wheel \(sha256 '
            r'[0-9a-f]{64}\); delete it and run again$')):
        book_d2l.fetch(str(tmp_path))


def test_the_bound_row_feeds_the_model_on_its_device(monkeypatch, data_dir, on_devices):
    """Row (j) on cpu(1), standing in for a GPU: the batches, on the host as the child
    process reads them, reach the model on its device (the hybridized model refuses inputs
    on two contexts)."""
    import mxnet as mx
    from d2l_deep_rnn import Config, load_data_time_machine
    train_iter, vocab = load_data_time_machine(4, 5, max_tokens=200, data_dir=data_dir)
    batches = [(X.as_in_ctx(mx.cpu(0)), Y.as_in_ctx(mx.cpu(0))) for X, Y in train_iter]
    nets, seen = [], []

    def spied(*args, **kwargs):
        net = rows_build_model(*args, **kwargs)
        forward = net.forward
        net.forward = lambda X, state: seen.append([X.ctx] + [s.ctx for s in state]) or \
            forward(X, state)
        nets.append(net)
        return net
    rows_build_model = rows.build_model
    monkeypatch.setattr(rows, 'build_model', spied)
    config = Config.small(num_hiddens=8)
    seconds, ppl = rows.forward_backward_row(config, vocab, batches, mx.cpu(1), 2)
    assert len(seconds) == 2 and ppl[0] == ppl[1] and 1 < ppl[0] < 2 * len(vocab)
    assert len(seen) == 2 * len(batches) and {c for ctxs in seen for c in ctxs} == {mx.cpu(1)}
    on_devices(nets[0], mx.cpu(1))
