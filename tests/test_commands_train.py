import json
import os
import signal
import subprocess
import sys
import time

import mxnet as mx
import pytest

from conftest import BAD_TEXTS, bad_text, fill
from d2l_deep_rnn.data import SHA1
from d2l_deep_rnn.checkpoint import load_model, read_meta
from d2l_deep_rnn.commands import main

TINY = ['--epochs', '2', '--num-hiddens', '16', '--batch-size', '8', '--num-steps', '10',
        '--max-tokens', '2000', '--val-tokens', '1000', '--quiet']


def test_main_job_writes_plot_summary_and_table(tmp_path, data_args, capsys):
    out = tmp_path / 'out'
    assert main(TINY + ['--out', str(out), '--cell', 'gru', '--seed', '3'] +
                data_args) == 0
    png = (out / 'perplexity.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10000
    summary = json.loads((out / 'summary.json').read_text())
    assert set(summary) == {'config', 'ctx', 'texts', 'train_tokens', 'val_tokens',
                            'vocab_size', 'unigram_ppl', 'kvstore', 'models'}
    assert [(t['text'], t['characters'], t['sha1']) for t in summary['texts']['validate']] \
        == [('timemachine', 1000, SHA1)]
    assert summary['config']['cell'] == 'gru' and summary['config']['num_epochs'] == 2
    assert (summary['train_tokens'], summary['val_tokens'], summary['vocab_size']) == \
        (2000, 1000, 28)
    assert set(summary['models']) == {'scratch', 'gluon'}
    assert 'grad_norm' not in summary['models']['gluon']['history']  # no --diagnostics
    for result in summary['models'].values():
        assert set(result) == {'epochs', 'train_ppl', 'val_ppl', 'best_val_ppl', 'best_epoch',
                               'best_seconds', 'tokens_per_sec', 'seconds', 'sample', 'history'}
        assert 1 < result['train_ppl'] < 30 and result['tokens_per_sec'] > 0
        assert result['sample'].startswith('time traveller')
        assert len(result['history']['train_ppl']) == 2
        val = result['history']['val_ppl']
        assert result['best_val_ppl'] == min(val) and val[result['best_epoch'] - 1] == min(val)
    # the same initial weights and data order: the two models train alike
    s, g = summary['models']['scratch'], summary['models']['gluon']
    assert s['train_ppl'] == pytest.approx(g['train_ppl'], rel=1e-4)
    table = capsys.readouterr().out
    assert 'scratch' in table and 'gluon' in table and 'tokens/s' in table
    assert sorted(os.listdir(out)) == ['perplexity.png', 'summary.json']  # no temporary files


def test_diagnostics_flag_writes_the_figure_and_the_per_layer_figures(tmp_path, data_args,
                                                                       capsys):
    out = tmp_path / 'out'
    assert main(TINY + ['--out', str(out), '--cell', 'lstm', '--num-layers', '3',
                        '--diagnostics'] + data_args) == 0
    assert sorted(os.listdir(out)) == ['diagnostics.png', 'perplexity.png', 'summary.json']
    assert (out / 'diagnostics.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    summary = json.loads((out / 'summary.json').read_text())
    s, g = (summary['models'][name]['diagnostics'] for name in ('scratch', 'gluon'))
    assert s['layers'] == ['layer 1', 'layer 2', 'layer 3', 'output']
    assert len(s['grad_norm']) == len(s['update_ratio']) == 4 and len(s['saturation']) == 3
    for key in ('grad_norm', 'update_ratio', 'saturation'):  # copied weights: same figures
        assert s[key] == pytest.approx(g[key], rel=1e-3, abs=1e-6)
    assert len(summary['models']['gluon']['history']['grad_norm']) == 2  # per epoch
    table = capsys.readouterr().out
    assert 'gluon    layer 3' in table and 'clipping fired on' in table
    assert 'diagnostics.png' in table




@pytest.mark.parametrize('args, words', [
    (['--epochs', '0'], 'num_epochs must be a positive integer, got 0'),
    (['--dropout', '1'], 'dropout must be a number in [0, 1), got 1.0'),
    (['--lr-decay', '0.5'], 'lr_decay must be a number >= 1 (1: no decay), got 0.5'),
    (['--patience', '-1'], 'patience must be a non-negative integer, got -1'),
    (['--num-layers', 'two'], "argument --num-layers: invalid int value: 'two'"),
    (['--lr', '-1'], 'lr must be a positive number, got -1.0'),
    (['--cell', 'transformer'], "cell must be one of rnn, gru, lstm; got 'transformer'"),
    (['--activation', 'sigmoid'], "activation must be one of tanh, relu; got 'sigmoid'"),
    (['--num-hiddens', '0'], 'num_hiddens must be a positive integer, got 0'),
    (['--num-steps', '-3'], 'num_steps must be a positive integer, got -3'),
    (['--batch-size', '2.5'], "argument --batch-size: invalid int value: '2.5'"),
    (['--kvstore', 'dist_sync'], '--kvstore dist_sync needs a parameter server; start it '
     'with python -m d2l_deep_rnn launch --workers N -- <these flags>'),
    (['--kvstore', 'dist_sync', '--model', 'both'], '--kvstore dist_sync trains one model per '
     'run; give --model gluon or --model scratch'),
    (['--kvstore', 'nccl'], "argument --kvstore: invalid choice: 'nccl'"),
    (['--ctx', 'tpu'], '--ctx must be auto, cpu, gpu, cpu:N or gpu:N'),
    (['--ctx', 'gpu:7'], "MXNet sees 0 GPU(s); this MXNet is the CPU build: CUDA=117 "
                        "./setup.sh installs the CUDA build (docs/gpu.md), or use --ctx cpu"),
    (['--ctx', 'cpu:0,cpu:0'], '--ctx cpu:0,cpu:0 names a device twice'),
    (['--batch-size', '4096'], 'too few for batches of 4096 x 35'),
    (['--no-such-flag'], 'unrecognized arguments: --no-such-flag'),
    (['--seed', '1180591620717411303424'], 'seed must be between 0 and 2**32 - 1 '
     '(4294967295), got 1180591620717411303424'),
    (['--optimizer', 'rmsprop'], "optimizer must be one of sgd, adam; got 'rmsprop'"),
    (['--output-dropout', '1'], 'output_dropout must be a number in [0, 1), got 1.0'),
    (['--weight-dropout', '-0.1'], 'weight_dropout must be a number in [0, 1), got -0.1'),
    (['sweep', '--optimizer', 'nadam'], "optimizer must be one of sgd, adam; got 'nadam'"),
    (['--optimizer', 'adam', '--diagnostics'], "diagnostics measure the SGD step's size "
     "(lr * clipped gradient); use them with optimizer='sgd' (--optimizer sgd)"),
])
def test_bad_flags_exit_2_with_one_line(args, words, tmp_path, data_args, run_cli):
    result = run_cli(*args, '--out', str(tmp_path / 'out'), *data_args)
    assert result.returncode == 2
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert 'Traceback' not in result.stderr


BIG = "num_hiddens=100000000, num_layers=2 (lstm) needs 120,000,012,800,000,000 values in "
LSTM = ['--cell', 'lstm']
HUGE = 'num_hiddens=40000, num_layers=100 (rnn) has 318,406,240,028 parameters: their ' \
    'weights, gradients and update need 3,558.5 GiB, more than the '


@pytest.mark.parametrize('args, words', [
    (['--num-hiddens', '100000000', *LSTM],
     BIG + "the fused layer's packed weights, over MXNet's limit of 2^31 - 1 per array; use "
     "a smaller num_hiddens or num_layers (--num-hiddens, --num-layers)"),
    (['--num-hiddens', '100000000', *LSTM, '--model', 'scratch'],
     BIG.replace('120,000,012,800,000,000', '40,000,000,000,000,000') + 'its largest weight '
     "array, over MXNet's limit of 2^31 - 1 per array"),
    (['--num-hiddens', '40000', '--num-layers', '100', '--cell', 'rnn', '--model', 'scratch'],
     HUGE),
    # 100 layers first: one layer of 40,000 (17.9 GiB) fits or not by the memory free now
    (['sweep', '--num-hiddens', '40000', '--layers', '100,1', '--cells', 'rnn', '--scratch'],
     HUGE),
])  # the bench tool's own case: tests/test_bench.py
def test_impossible_sizes_exit_2_before_any_allocation(args, words, tmp_path, data_args, run_cli):
    """An array over MXNet's 2^31 - 1 limit, or more parameters than free memory: one line
    naming the settings and the limit, on every command that builds a model."""
    result = run_cli(*args, '--out', str(tmp_path / 'out'), *data_args)
    assert result.returncode == 2
    assert result.stderr.startswith('error: ' + words), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / 'out' / 'runs' / 'rnn-1.json').exists()  # nothing trained


def test_unwritable_output_folder(tmp_path, data_args, run_cli):
    blocker = tmp_path / 'file'
    blocker.write_text('not a folder')
    result = run_cli(*TINY, '--out', str(blocker / 'out'), *data_args)
    assert result.returncode == 2
    assert result.stderr.startswith(f'error: cannot write to the output folder {blocker}/out')
    assert len(result.stderr.strip().splitlines()) == 1


def test_kill_and_resume_ends_as_an_uninterrupted_run(tmp_path, data_args, run_cli, repo):
    import signal
    import time
    args = [*TINY, '--epochs', '16', '--save-every', '1', *data_args]
    whole = run_cli(*args, '--out', str(tmp_path / 'whole'), '--save', str(tmp_path / 'ck1'))
    assert whole.returncode == 0, whole.stderr
    # the same run, killed (SIGKILL: no clean-up) once the scratch model has saved epoch 3
    cut = tmp_path / 'ck2'
    proc = subprocess.Popen([sys.executable, '-m', 'd2l_deep_rnn', *args, '--out',
                             str(tmp_path / 'cut'), '--save', str(cut)], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta, deadline = cut / 'scratch' / 'meta.json', time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads(meta.read_text())['epoch'] >= 3:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    saved = json.loads(meta.read_text())['epoch']  # readable after the kill
    assert 3 <= saved < 16
    resumed = run_cli(*args, '--out', str(tmp_path / 'cut'), '--resume', str(cut))
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / 'whole' / 'summary.json').read_text())['models']
    b = json.loads((tmp_path / 'cut' / 'summary.json').read_text())['models']
    for name in ('scratch', 'gluon'):
        assert b[name]['history']['train_ppl'] == pytest.approx(
            a[name]['history']['train_ppl'], rel=1e-6)
        assert b[name]['val_ppl'] == pytest.approx(a[name]['val_ppl'], rel=1e-6)
    # and generation from the checkpoint: greedy is deterministic, sampling follows the seed
    greedy = run_cli('generate', '--from', str(cut), '--num-chars', '30')
    assert greedy.returncode == 0, greedy.stderr
    text = greedy.stdout.rstrip('\n')  # a model of 16 tiny epochs may end in spaces
    assert text.startswith('time traveller') and len(text) == len('time traveller') + 30
    assert text == a['gluon']['sample'][:len(text)]  # the main job's own greedy sample
    sampled = [run_cli('generate', '--from', str(cut / 'scratch'), '--prefix', 'the',
                       '--num-chars', '40', '--temperature', '0.8', '--seed', '5').stdout
               for _ in range(2)]
    assert sampled[0] == sampled[1] and sampled[0].startswith('the')


@pytest.mark.parametrize('args, words', [
    (['generate', '--from', '/nonexistent'], 'no checkpoint in /nonexistent'),
    (['generate', '--from', '.', '--num-chars', '0'], '--num-chars must be a positive integer'),
    (['generate', '--from', '.', '--seed', str(2**70), '--temperature', '1'],
     '--seed must be between 0 and 2**32 - 1'),
    (['--save-every', '0'], '--save-every must be a positive integer'),
    (['--save', 'a', '--resume', 'b'], '--resume DIR keeps saving into DIR'),
])
def test_checkpoint_flags_bad_values(args, words, run_cli):
    result = run_cli(*args)
    assert result.returncode == 2 and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_empty_corpus_from_the_command_line(tmp_path, run_cli):
    (tmp_path / 'timemachine.txt').write_bytes(b'')
    result = run_cli(*TINY, '--out', str(tmp_path / 'out'), '--data-dir', str(tmp_path))
    assert result.returncode == 2 and 'timemachine.txt is empty' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / 'out' / 'summary.json').exists()


def test_devices_without_cpu0_train_resume_and_generate(tmp_path, data_args, run_cli):
    """--ctx cpu:1,cpu:2 (no cpu(0), the default context: as --ctx gpu:0,gpu:1), stopped
    after epoch 2 and resumed to 3, ends as the same run on one CPU; generate loads the
    checkpoint onto cpu(1)."""
    args = [*TINY, '--save-every', '1', *data_args]
    one = run_cli(*args, '--epochs', '3', '--ctx', 'cpu', '--out', str(tmp_path / 'one'))
    assert one.returncode == 0, one.stderr
    ck = str(tmp_path / 'ck')
    for epochs, flag in (('2', '--save'), ('3', '--resume')):
        two = run_cli(*args, '--epochs', epochs, '--ctx', 'cpu:1,cpu:2', flag, ck, '--out',
                      str(tmp_path / 'two'))
        assert two.returncode == 0, two.stderr
    a = json.loads((tmp_path / 'one' / 'summary.json').read_text())
    b = json.loads((tmp_path / 'two' / 'summary.json').read_text())
    assert b['ctx'] == '[cpu(1), cpu(2)]'
    for name in ('scratch', 'gluon'):
        history, expected = b['models'][name]['history'], a['models'][name]['history']
        assert history['epochs'] == 3
        for key in ('train_ppl', 'val_ppl'):
            assert history[key] == pytest.approx(expected[key], rel=1e-5)
    greedy = run_cli('generate', '--from', ck, '--ctx', 'cpu:1', '--num-chars', '30')
    assert greedy.returncode == 0, greedy.stderr
    sample = a['models']['gluon']['sample']  # (a tiny model's: spaces count)
    assert greedy.stdout.rstrip('\n') == sample[:len('time traveller') + 30]


def one_line(result):
    """The single stderr line of a run that must end in one (exit status 2)."""
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and 'Traceback' not in result.stderr
    return result.stderr.strip()


def test_save_refuses_another_runs_checkpoint_unless_overwrite(tmp_path, data_args, run_cli):
    ck, out = tmp_path / 'ck', ['--out', str(tmp_path / 'out')]
    assert run_cli(*TINY, *out, '--save', str(ck), *data_args).returncode == 0
    before = {p: p.read_bytes() for p in ck.rglob('*') if p.is_file()}
    other = run_cli(*TINY, '--cell', 'gru', *out, '--save', str(ck), *data_args)
    assert one_line(other) == (f'error: {ck}/scratch already holds a checkpoint; use --resume '
                               f'{ck} to continue it, or another --save folder, or remove it '
                               f'(or give --overwrite to replace it)')
    assert {p: p.read_bytes() for p in ck.rglob('*') if p.is_file()} == before  # untouched
    replaced = run_cli(*TINY, '--cell', 'gru', *out, '--save', str(ck), '--overwrite',
                       *data_args)
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((ck / 'gluon' / 'meta.json').read_text())['cell'] == 'gru'


def test_resume_refuses_a_folder_without_a_checkpoint(tmp_path, data_args, run_cli):
    empty = tmp_path / 'empty'
    empty.mkdir()
    result = run_cli(*TINY, '--out', str(tmp_path / 'out'), '--resume', str(empty), *data_args)
    assert one_line(result) == (f'error: no checkpoint to resume in {empty} (no scratch/'
                                f'meta.json); train with --save {empty} first, or point '
                                f'--resume at the folder that --save wrote')
    assert os.listdir(empty) == [] and not (tmp_path / 'out' / 'summary.json').exists()


def test_resume_from_a_truncated_params_file_names_it(tmp_path, data_args, run_cli):
    ck, out = tmp_path / 'ck', ['--out', str(tmp_path / 'out')]
    assert run_cli(*TINY, *out, '--save', str(ck), *data_args).returncode == 0
    params = ck / 'scratch' / 'params-2.params'
    params.write_bytes(params.read_bytes()[:200])
    result = run_cli(*TINY, '--epochs', '3', *out, '--resume', str(ck), *data_args)
    assert one_line(result) == (f'error: {params} is damaged (MXNet cannot read it: '
                                f'truncated, or not written by --save); delete the folder and '
                                f'train again')


def test_out_on_a_full_disk_names_the_file(full_disk, tmp_path, data_args, run_cli):
    """A real full 64 KiB tmpfs: the folder's probe (an empty file) passes, the plot does
    not fit; one line, nothing half-written, the checkpoints elsewhere kept."""
    fill(full_disk)
    ck = tmp_path / 'ck'
    result = run_cli(*TINY, '--out', str(full_disk), '--save', str(ck), *data_args)
    assert one_line(result) == (f'error: cannot write {full_disk}/perplexity.png (No space '
                                f'left on device); it was left as it was: free some space')
    assert os.listdir(full_disk) == ['filler']
    assert json.loads((ck / 'gluon' / 'meta.json').read_text())['epoch'] == 2


def test_save_into_a_read_only_folder(read_only_dir, tmp_path, data_args, run_cli):
    result = run_cli(*TINY, '--out', str(tmp_path / 'out'), '--save', str(read_only_dir),
                     *data_args)
    assert one_line(result) == (f'error: cannot write to the output folder {read_only_dir} '
                                f'(Read-only file system); choose another with --save')


def test_out_without_write_permission(tmp_path, data_args, run_cli, as_user):
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o555)
    result = subprocess.run([*as_user, sys.executable, '-m', 'd2l_deep_rnn', *TINY, '--out',
                             str(locked), *data_args], capture_output=True, text=True,
                            timeout=120)
    assert one_line(result) == (f'error: cannot write to the output folder {locked} '
                                f'(Permission denied); choose another with --out')


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_end_training_in_one_line_keeping_the_checkpoint(
        sig, tmp_path, data_args, repo, interruptible):
    """A real process and a real signal, once the scratch model has saved epoch 2."""
    ck = tmp_path / 'ck'
    proc = subprocess.Popen([sys.executable, '-m', 'd2l_deep_rnn', *TINY, '--epochs', '400',
                             '--save-every', '1', '--out', str(tmp_path / 'out'), '--save',
                             str(ck), *data_args], cwd=repo, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **interruptible)
    meta = ck / 'scratch' / 'meta.json'
    while proc.poll() is None and not (meta.exists() and
                                       json.loads(meta.read_text())['epoch'] >= 2):
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig
    assert err == f'interrupted ({signal.Signals(sig).name}): the checkpoints in {ck} are ' \
                  f'kept (continue with --resume {ck})\n'
    saved = read_meta(str(ck / 'scratch'))
    assert 2 <= saved['epoch'] < 400
    load_model(str(ck / 'scratch'), mx.cpu())  # readable (an older epoch's files, or a
    # temporary file, may be left if the signal came mid-save: the next save removes them)
    assert not (tmp_path / 'out' / 'summary.json').exists()


def test_own_texts_after_the_book_train_and_are_recorded(tmp_path, data_args, own_texts,
                                                         capsys):
    """Exercise 3's set-up: --text timemachine essay code. The book's tail validates, all the
    rest trains; the line before training, summary.json and the checkpoint say so."""
    essay, code = own_texts
    out, save = tmp_path / 'out', tmp_path / 'ckpt'
    assert main(['--text', 'timemachine', essay, code, '--max-tokens', '-1', '--epochs', '1',
                 '--num-hiddens', '16', '--batch-size', '32', '--num-steps', '35',
                 '--model', 'gluon', '--out', str(out), '--save', str(save)] + data_args) == 0
    lines = capsys.readouterr().out.splitlines()
    summary = json.loads((out / 'summary.json').read_text())
    trained = summary['texts']['train']
    assert [t['text'] for t in trained] == ['timemachine', essay, code]
    assert trained[0]['characters'] == 170580 - 5000 and trained[0]['sha1'] == SHA1
    assert summary['train_tokens'] == sum(t['characters'] for t in trained)
    assert summary['texts']['validate'] == [{**trained[0], 'characters': 5000}]
    assert lines[0] == (f'training on 165,580 of timemachine, {trained[1]["characters"]:,} of '
                        f'{essay}, {trained[2]["characters"]:,} of {code} (characters); '
                        f'validating on the last 5,000 of timemachine')
    assert summary['config']['texts'] == ['timemachine', essay, code]
    meta = read_meta(str(save / 'gluon'))
    assert meta['history']['texts'] == summary['texts']


def test_a_model_of_all_characters_generates_what_the_book_lacks(tmp_path, own_texts, run_cli):
    """--chars all keeps capitals, digits, punctuation, newlines and 'Ü'; the checkpoint's
    vocabulary holds them, so generate --from continues a prefix the book's letters cannot
    write, and refuses in one line a character the text never had."""
    essay, code = own_texts
    save = tmp_path / 'ckpt'
    assert main(['--text', essay, code, '--chars', 'all', '--max-tokens', '-1',
                 '--val-tokens', '2000', '--epochs', '2', '--num-hiddens', '32',
                 '--model', 'gluon', '--cell', 'gru', '--quiet', '--out', str(tmp_path / 'out'),
                 '--save', str(save)]) == 0
    model, vocab = load_model(str(save / 'gluon'), mx.cpu())
    assert {'Ü', 'T', '7', '!', '\n', '('} <= set(vocab.idx_to_token)
    result = run_cli('generate', '--from', str(save), '--prefix', 'Über 7', '--num-chars', '40')
    assert result.returncode == 0 and result.stdout.startswith('Über 7') and \
        len(result.stdout) == len('Über 7') + 40 + 1
    result = run_cli('generate', '--from', str(save), '--num-chars', '5')
    assert result.returncode == 0 and result.stdout.startswith('time traveller')
    result = run_cli('generate', '--from', str(save), '--prefix', 'Zeit 日')
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "error: the prefix 'Zeit 日' has characters the training text never had ('Z日'); give "
        "a prefix of its characters, such as 'time traveller'"]


@pytest.mark.parametrize('kind', BAD_TEXTS)
def test_a_bad_text_exits_2_in_one_line_naming_it(tmp_path, kind, run_cli):
    path, message = bad_text(tmp_path, kind)
    chars = 'all' if kind == 'too many characters' else 'book'
    result = run_cli(*TINY, '--text', str(path), '--chars', chars, '--out', str(tmp_path / 'o'))
    assert result.returncode == 2 and result.stderr.splitlines() == [f'error: {message}']
    assert not (tmp_path / 'o' / 'summary.json').exists()


def test_an_unreadable_text_and_a_short_one_exit_2(tmp_path, run_cli, as_user):
    locked = tmp_path / 'locked.txt'
    locked.write_text('some text\n' * 1000)
    locked.chmod(0o000)
    result = subprocess.run([*as_user, sys.executable, '-m', 'd2l_deep_rnn', *TINY, '--text',
                             str(locked), '--out', str(tmp_path / 'o')], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f'error: cannot read {locked} (Permission denied); check the file, or leave it out']
    short = tmp_path / 'short.txt'
    short.write_text('a few words\n' * 90)  # 990 characters
    result = run_cli(*TINY, '--text', str(short), '--out', str(tmp_path / 'o'))
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f'error: val_tokens=1000 holds out all 990 characters of the first text, {short}; '
        f'lower val_tokens (--val-tokens), or put a longer text first']
