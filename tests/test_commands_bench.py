import importlib.util
import json
import os
import subprocess
import sys

import pytest

from d2l_deep_rnn.commands import bench, main
from d2l_deep_rnn.commands.bench import flops_per_token
from d2l_deep_rnn.commands.torch_peer import OMP_VARIABLES


PACKAGE_ROWS = 'abcdeghij'


def test_flops_per_token_of_the_sections_lstm():
    # 4 gates x 256 x (28 + 256), then 4 x 256 x 512, then 256 x 28 multiply-adds, x2 x3
    assert flops_per_token('lstm', 2, 256, 28) == 6 * (4 * 256 * 284 + 4 * 256 * 512 + 256 * 28)
    assert abs(flops_per_token('lstm', 2, 256, 28) / 1e6 - 4.93) < 0.01  # the 4.9 MFLOP
    assert flops_per_token('rnn', 1, 10, 5) == 6 * (10 * 15 + 10 * 5)


@pytest.fixture(scope='module')
def quick_bench(tmp_path_factory, data_args, repo):
    """One quick run (1 timed epoch, 2 rounds) as a user who set no OpenMP variables starts
    it: the test process has them, from importing the package."""
    out = tmp_path_factory.mktemp('bench') / 'bench.json'
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARIABLES}
    result = subprocess.run(
        [sys.executable, '-m', 'd2l_deep_rnn', 'bench', '--quick', '--repeats', '1',
         '--rounds', '2', '--json', str(out), *data_args],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(out.read_text())


def test_quick_benchmark_writes_every_row(quick_bench):
    stdout, bench_json = quick_bench
    rows = {r['row']: r for r in bench_json['rows']}
    torch_ran = importlib.util.find_spec('torch') is not None
    assert sorted(rows) == sorted(PACKAGE_ROWS + ('f' if torch_ran else ''))
    assert rows['a']['ratio'] == 1.0
    for r in rows.values():
        assert len(r['rates']) == 2  # one timed epoch in each of two rounds
        assert r['min'] <= r['tokens_per_sec'] <= r['max'] and r['tokens_per_sec'] > 0
        assert r['gflops'] > 0 and 1 < r['train_ppl'] < 40 and r['threads'] >= 1
    # b-i train the same function from the same seed: the same perplexity, up to float32
    # sums in another order (fused and scratch: 5e-5 apart after 2 epochs); the book-style
    # model also trains h2h_bias, so it may differ a little; g, h: instruments change nothing
    ppl = {k: rows[k]['train_ppl'] for k in PACKAGE_ROWS[1:-1]}
    assert ppl == pytest.approx({k: ppl['c'] for k in ppl}, rel=1e-4)
    assert ppl['i'] == ppl['c']  # the same code, imported in another order
    # (j) never updates: every epoch the untrained model's perplexity, the vocabulary's size
    # within a little (weights N(0, 0.01^2): nearly uniform logits)
    assert rows['j']['processes'][0]['train_ppl'] == [rows['j']['train_ppl']] * 2
    assert abs(rows['j']['train_ppl'] / bench_json['vocab_size'] - 1) < 0.02
    assert 'runs at' in stdout and 'of its forward + backward alone (j)' in stdout
    assert 'diagnostics keep' in stdout and 'with d2l imported first' in stdout
    assert set(bench_json['matmul_peak_gflops']) == {'onednn', 'openblas'}
    assert 'vs (a)' in stdout and 'wrote' in stdout
    if torch_ran:
        assert rows['f']['vs_torch'] == 1.0 and 'vs PyTorch' in stdout
        assert abs(rows['f']['train_ppl'] / rows['c']['train_ppl'] - 1) < 0.01
    else:
        assert bench_json['skipped']['f'].startswith('torch is not importable')
        assert 'f) skipped: torch is not importable' in stdout


def test_every_row_runs_in_fresh_processes_taking_turns(quick_bench):
    _, bench_json = quick_bench
    rows = {r['row']: r for r in bench_json['rows']}
    processes = [p for r in rows.values() for p in r['processes']]
    pids = {p['pid'] for p in processes} | {bench_json['pid']}
    assert len(pids) == len(processes) + 1 == 2 * len(rows) + 1
    in_order = sorted(processes, key=lambda p: p['started'])
    keys = [k for k in bench.ROWS if k in rows]
    assert [(p['round'], p['row']) for p in in_order] == \
        [(n, k) for n in (1, 2) for k in keys]  # a b c ... a b c ...
    for p in processes:
        assert len(p['seconds']) == len(p['train_ppl']) == 2  # a warm-up, one timed epoch
        # the same batches and seed in every round: the same perplexities
        assert p['train_ppl'] == pytest.approx(rows[p['row']]['processes'][0]['train_ppl'])
    assert bench_json['environment'] == {name: None for name in OMP_VARIABLES}


def test_notebook_row_imported_mxnet_first_and_torch_row_never(quick_bench):
    _, bench_json = quick_bench
    rows = {r['row']: r for r in bench_json['rows']}
    for key in PACKAGE_ROWS:
        assert {p['mxnet_before_package'] for p in rows[key]['processes']} == {key == 'i'}
    for p in rows['f']['processes'] if 'f' in rows else []:
        assert not p['mxnet_loaded'] and not p['package_loaded']
        assert p['env'] == {name: None for name in OMP_VARIABLES}  # the user's, untouched
        assert p['torch_threads'] >= 1


def test_a_row_that_crashes_or_hangs_stops_the_bench_with_one_line(tmp_path, monkeypatch,
                                                                   capsys, data_args):
    crash = [sys.executable, '-c', "raise RuntimeError('boom')"]
    monkeypatch.setattr(bench, 'child_command', lambda *args: crash)
    assert main(['bench', '--quick', '--no-torch', '--json', str(tmp_path / 'b.json'),
                       *data_args]) == 1
    assert capsys.readouterr().err.splitlines() == [
        'error: row a) book-style loop (RNNModel, host sync per batch) failed in its own '
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
    result = subprocess.run([sys.executable, '-m', 'd2l_deep_rnn', 'bench', flag, value,
                             '--json', str(tmp_path / 'b.json')], cwd=repo,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f'error: {message}'


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
        net = bench_build_model(*args, **kwargs)
        forward = net.forward
        net.forward = lambda X, state: seen.append([X.ctx] + [s.ctx for s in state]) or \
            forward(X, state)
        nets.append(net)
        return net
    bench_build_model = bench.build_model
    monkeypatch.setattr(bench, 'build_model', spied)
    config = Config.small(num_hiddens=8)
    seconds, ppl = bench.forward_backward_row(config, len(vocab), batches, mx.cpu(1), 2)
    assert len(seconds) == 2 and ppl[0] == ppl[1] and 1 < ppl[0] < 2 * len(vocab)
    assert len(seen) == 2 * len(batches) and {c for ctxs in seen for c in ctxs} == {mx.cpu(1)}
    on_devices(nets[0], mx.cpu(1))
