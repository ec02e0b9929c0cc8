import csv
import json
import os

from d2l_deep_rnn import DeepRNN
from d2l_deep_rnn.metrics import count_params


TINY = ['--cells', 'rnn,gru', '--layers', '1,2', '--num-hiddens', '8', '--epochs', '2',
        '--batch-size', '8', '--num-steps', '10', '--max-tokens', '2000', '--val-tokens',
        '1000', '--quiet']
STOPPING = ['--cells', 'rnn', '--layers', '1,2', '--dropouts', '0,0.3', '--num-hiddens', '32',
            '--epochs', '80', '--patience', '2', '--lr', '1', '--batch-size', '8',
            '--num-steps', '10', '--max-tokens', '2000', '--val-tokens', '1000', '--quiet']


def test_sweep_writes_table_plot_and_skips_finished_runs(tmp_path, data_args, run_cli):
    out = tmp_path / 'sweep'
    first = run_cli('sweep', *TINY, '--out', str(out), *data_args)
    assert first.returncode == 0, first.stderr
    with open(out / 'sweep.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['cell'], r['layers']) for r in rows] == [('rnn', '1'), ('rnn', '2'),
                                                        ('gru', '1'), ('gru', '2')]
    for r in rows:
        assert int(r['parameters']) == count_params(DeepRNN(28, 8, int(r['layers']), r['cell']))
        assert 1 < float(r['best_val_ppl']) <= float(r['val_ppl']) < 40
        assert float(r['tokens_per_sec']) > 0 and float(r['seconds']) > 0
        assert (r['dropout'], r['epochs']) == ('0.0', '2') and 1 <= int(r['best_epoch']) <= 2
        assert 0 < float(r['best_seconds']) <= float(r['seconds'])
    assert (out / 'sweep.png').read_bytes()[:4] == b'\x89PNG'
    md = (out / 'sweep.md').read_text().splitlines()
    assert md[0].startswith('| cell | layers | dropout | parameters') and len(md) == 2 + 4
    # interrupted and started again: finished runs are skipped, not retrained
    os.remove(out / 'runs' / 'gru-2.json')
    stamps = {name: os.stat(out / 'runs' / name).st_mtime_ns for name in os.listdir(out / 'runs')}
    again = run_cli('sweep', *TINY, '--out', str(out), *data_args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count('done before, skipping') == 3
    assert {n: os.stat(out / 'runs' / n).st_mtime_ns for n in stamps} == stamps
    assert (out / 'runs' / 'gru-2.json').exists()
    # other settings in the same folder are refused, naming the setting
    other = run_cli('sweep', *TINY[:-1], '--epochs', '3', '--quiet', '--out', str(out),
                    *data_args)
    assert other.returncode == 2
    assert 'holds a sweep with num_epochs 2, this one 3; use another --out' in other.stderr


def test_sweep_bad_values(tmp_path, run_cli):
    for args, words in ((['--cells', 'rnn,cnn'], "--cells must be one of rnn, gru, lstm"),
                        (['--layers', '1,0'], '--layers must be a positive integer, got 0'),
                        (['--layers', 'one'], '--layers must be a comma-separated list'),
                        (['--dropouts', '0,1'], 'dropout must be a number in [0, 1), got 1.0')):
        result = run_cli('sweep', *args, '--out', str(tmp_path))
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_sweep_with_dropout_trains_each_run_until_validation_stops_improving(tmp_path,
                                                                            data_args,
                                                                            run_cli):
    out = tmp_path / 'sweep'
    result = run_cli('sweep', *STOPPING, '--out', str(out), *data_args, timeout=600)
    assert result.returncode == 0, result.stderr
    with open(out / 'sweep.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['layers'], r['dropout']) for r in rows] == [('1', '0.0'), ('2', '0.0'),
                                                          ('1', '0.3'), ('2', '0.3')]
    assert sorted(os.listdir(out / 'runs')) == ['rnn-1-dropout0.3.json', 'rnn-1.json',
                                                'rnn-2-dropout0.3.json', 'rnn-2.json']
    for r in rows:  # stopped 2 epochs after its best, before the 80 allowed (15-40 here)
        epochs, best = int(r['epochs']), int(r['best_epoch'])
        assert epochs == best + 2 < 80, r
        assert float(r['best_seconds']) < float(r['seconds'])
    # one layer: nothing between layers to drop, so the same run with and without dropout
    assert rows[0]['best_val_ppl'] == rows[2]['best_val_ppl']
    assert rows[1]['best_val_ppl'] != rows[3]['best_val_ppl']  # two layers: it drops


def test_sweep_on_own_texts_records_them_and_refuses_to_mix(tmp_path, own_texts, run_cli):
    """--text and --chars reach every run: the vocabulary of all characters sizes the model,
    each run's file records the texts, and a sweep started again with other texts stops."""
    essay, code = own_texts
    out = tmp_path / 'sweep'
    args = ['sweep', '--cells', 'gru', '--layers', '1', '--num-hiddens', '8', '--epochs', '1',
            '--text', essay, code, '--chars', 'all', '--max-tokens', '-1', '--quiet',
            '--out', str(out)]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    saved = json.loads((out / 'runs' / 'gru-1.json').read_text())
    assert (saved['settings']['texts'], saved['settings']['chars']) == ([essay, code], 'all')
    with open(essay, encoding='utf-8') as f, open(code, encoding='utf-8') as g:
        vocab_size = len(set(f.read() + g.read())) + 1  # and <unk>
    assert saved['row']['parameters'] == count_params(DeepRNN(vocab_size, 8, 1, 'gru'))
    again = run_cli(*args[:-10], '--text', essay, '--chars', 'all', '--max-tokens', '-1',
                    '--quiet', '--out', str(out))
    assert again.returncode == 2 and again.stderr.splitlines() == [
        f"error: {out} holds a sweep with texts {[essay, code]!r}, this one {[essay]!r}; use "
        f"another --out"]
