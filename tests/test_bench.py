import json
import subprocess
import sys

from d2l_deep_rnn.bench import flops_per_token

from test_cli import REPO, data_args


def test_flops_per_token_of_the_sections_lstm():
    # 4 gates x 256 x (28 + 256), then 4 x 256 x 512, then 256 x 28 multiply-adds, x2 x3
    assert flops_per_token('lstm', 2, 256, 28) == 6 * (4 * 256 * 284 + 4 * 256 * 512 + 256 * 28)
    assert abs(flops_per_token('lstm', 2, 256, 28) / 1e6 - 4.93) < 0.01  # the 4.9 MFLOP
    assert flops_per_token('rnn', 1, 10, 5) == 6 * (10 * 15 + 10 * 5)


def test_quick_benchmark_writes_every_row(tmp_path, data_dir):
    out = tmp_path / 'bench.json'
    result = subprocess.run(
        [sys.executable, '-m', 'd2l_deep_rnn', 'bench', '--quick', '--no-torch', '--json',
         str(out), *data_args(data_dir)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    bench = json.loads(out.read_text())
    rows = {r['row']: r for r in bench['rows']}
    assert sorted(rows) == ['a', 'b', 'c', 'd', 'e', 'g', 'h']
    assert rows['a']['ratio'] == 1.0
    for r in rows.values():
        assert r['min'] <= r['tokens_per_sec'] <= r['max'] and r['tokens_per_sec'] > 0
        assert r['gflops'] > 0 and 1 < r['train_ppl'] < 40
    # b-h train the same function from the same seed: the same perplexity (the book-style
    # model also trains h2h_bias, so it may differ a little)
    assert len({round(rows[k]['train_ppl'], 3) for k in 'bcdegh'}) == 1  # g, h: instruments
    assert 'diagnostics keep' in result.stdout                             # change nothing
    assert set(bench['matmul_peak_gflops']) == {'onednn', 'openblas'}
    assert 'vs (a)' in result.stdout and 'wrote' in result.stdout


def test_bench_bad_value_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, '-m', 'd2l_deep_rnn', 'bench', '--repeats', '0',
                             '--json', str(tmp_path / 'b.json')], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == 'error: --repeats must be a positive integer, got 0'
