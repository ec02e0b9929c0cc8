"""Every notebook runs from top to bottom in a real Jupyter kernel (the `python3` kernel of
the running interpreter) with the small settings (D2L_DEEP_RNN_SMALL=1), on a copy in
memory: the committed notebooks are never modified. The executed copies are written to
pytest's temporary folder for inspection."""
import os
import re

import nbclient
import nbformat
import pytest

from d2l_deep_rnn.notebook import SMALL_ENV
from conftest import REPO

NOTEBOOKS = os.path.join(REPO, 'notebooks')
NAMES = ['deep-rnn', 'rnn-scratch-two-layers', 'scratch-vs-gluon', 'deep-rnn-generalization']
SECTION = "section's run"  # the generalization notebook: the section's run, then the whole book
WHOLE_BOOK = ['1 layer', '2 layers', '3 layers', '2 layers, dropout 0.5', '3 layers, dropout 0.5']
LABELS = {'deep-rnn': [None], 'rnn-scratch-two-layers': ['1 layer', '2 layers'],
          'scratch-vs-gluon': ['scratch', 'Gluon imperative', 'Gluon hybridized'],
          'deep-rnn-generalization': [SECTION] + WHOLE_BOOK}
# notebook.result_line, e.g.
# '2 layers: perplexity 1.05, validation perplexity 9.87, 52,345 tokens/sec on cpu(0)'
RESULT = re.compile(r'^(?:(?P<label>[^:]+): )?perplexity (?P<ppl>\d+\.\d\d)'
                    r'(?:, validation perplexity (?P<val>\d+\.\d\d))?'
                    r', (?P<rate>[\d,]+) tokens/sec on (?P<ctx>(?:cpu|gpu)\(\d+\))$')
PPL_BOUND = 25  # the small runs end near 18-20; 28 is uniform guessing, the start
TIMEOUT = 300  # seconds per cell


def execute(name, tmp_dir, data_dir):
    """Run notebooks/<name>.ipynb in a fresh kernel; return the executed copy."""
    with open(os.path.join(NOTEBOOKS, f'{name}.ipynb'), encoding='utf-8') as f:
        nb = nbformat.read(f, as_version=4)
    # One OpenMP thread: on 2 cores shared with other work, two threads stalled each other
    # at every barrier (1-batch epochs took 3.5 s instead of 0.02 s); small runs need no speed.
    env = dict(os.environ, MPLBACKEND='Agg', OMP_NUM_THREADS='1', **{SMALL_ENV: '1'})
    if data_dir:
        env['D2L_DEEP_RNN_DATA'] = data_dir
    client = nbclient.NotebookClient(nb, kernel_name='python3', timeout=TIMEOUT,
                                     resources={'metadata': {'path': str(tmp_dir)}})
    try:
        client.execute(env=env)  # the kernel's environment
    finally:
        nbformat.write(nb, os.path.join(str(tmp_dir), f'{name}.ipynb'))
    return nb


@pytest.fixture(scope='module')
def executed(tmp_path_factory, data_dir):
    cache = {}

    def run(name):
        if name not in cache:
            cache[name] = execute(name, tmp_path_factory.mktemp(name), data_dir)
        return cache[name]
    return run


def outputs(nb):
    return [out for cell in nb.cells if cell.cell_type == 'code' for out in cell.outputs]


def stdout_lines(nb):
    text = ''.join(out.text for out in outputs(nb)
                   if out.output_type == 'stream' and out.name == 'stdout')
    return text.splitlines()


def first_cell_settings(name, monkeypatch):
    """The variables a notebook's first code cell sets, run alone: (full size, small)."""
    with open(os.path.join(NOTEBOOKS, f'{name}.ipynb'), encoding='utf-8') as f:
        nb = nbformat.read(f, as_version=4)
    nbformat.validate(nb)
    first = next(cell for cell in nb.cells if cell.cell_type == 'code')
    settings = {}
    for small in ('0', '1'):
        monkeypatch.setenv(SMALL_ENV, small)
        settings[small] = {}
        exec(first.source, settings[small])  # noqa: S102  (our own notebook's cell)
    full, quick = settings['0'], settings['1']
    return full, quick


@pytest.mark.parametrize('name', NAMES)
def test_first_cell_sets_the_books_size_and_the_small_switch_shrinks_it(name, monkeypatch):
    """Run alone, a notebook's first code cell sets the full-size run (the book's 500
    epochs); with D2L_DEEP_RNN_SMALL=1 it sets a smaller model and run."""
    full, quick = first_cell_settings(name, monkeypatch)
    assert full['num_epochs'] == 500 and quick['num_epochs'] < 100
    assert quick['num_hiddens'] < full['num_hiddens'] and quick['max_tokens'] < full['max_tokens']


@pytest.mark.parametrize('name', NAMES)
def test_notebook_runs_small_and_reports(executed, name):
    nb = executed(name)
    outs = outputs(nb)
    assert not [o for o in outs if o.output_type == 'error']
    assert any('image/png' in o.get('data', {}) for o in outs
               if o.output_type in ('display_data', 'execute_result'))
    lines = stdout_lines(nb)
    results = [m.groupdict() for m in map(RESULT.match, lines) if m]
    assert [r['label'] for r in results] == LABELS[name]
    for r in results:
        assert 1 < float(r['ppl']) < PPL_BOUND
        assert 1 < float(r['val']) < PPL_BOUND
        assert int(r['rate'].replace(',', '')) > 0 and r['ctx'] == 'cpu(0)'
    assert any(line.startswith('running on cpu(0): ') and 'MXNet 1.9.1' in line
               for line in lines)
    assert any(line.startswith('Outputs produced on ') for line in lines)


def samples(lines, prefix, labels):
    """The generated lines: '<prefix>...' or '<label>: <prefix>...' for each label."""
    found = {}
    for line in lines:
        for label in labels:
            lead = f'{label}: ' if label else ''
            if line.startswith(lead + prefix):
                found[label] = line[len(lead):]
    return found


def sampled_labels(name, lines):
    """Whose text a notebook generates: every run's; in the generalization notebook the
    section's run and a whole-book run with the lowest best validation perplexity in its
    table (any of them, in a tie)."""
    if name != 'deep-rnn-generalization':
        return [set(LABELS[name])]
    rows = table_rows(lines, WHOLE_BOOK)
    low = min(row['best'] for row in rows.values())
    return [{SECTION, label} for label, row in rows.items() if row['best'] == low]


@pytest.mark.parametrize('name', NAMES)
def test_notebook_generates_after_the_prefix(executed, name):
    lines = stdout_lines(executed(name))
    prefixes = ['time traveller', 'traveller'] if name == 'deep-rnn' else ['time traveller']
    for prefix in prefixes:
        found = samples(lines, prefix, LABELS[name])
        assert set(found) in sampled_labels(name, lines)
        for text in found.values():
            assert len(text) == len(prefix) + 50 and re.fullmatch('[a-z ]+', text)


def test_two_layer_notebook_counts_params_and_tabulates(executed):
    lines = stdout_lines(executed('rnn-scratch-two-layers'))
    # the small run: 28 tokens, 32 hiddens; by the equations, both ways
    assert '1 layer: 2,876 parameters (by the equations: 2,876)' in lines
    assert '2 layers: 4,956 parameters (by the equations: 4,956)' in lines
    rows = table_rows(lines, ['1 layer', '2 layers'])
    assert [row['params'] for row in rows.values()] == [2876, 4956]
    for row in rows.values():
        assert 1 <= row['at'] <= row['epochs'] == 20  # the small run's num_epochs
        assert 1 < row['best'] <= row['final'] < PPL_BOUND and 1 < row['train'] < PPL_BOUND
    # the diagnostics table: a row per layer, then how often clipping fired, per run
    layer = re.compile(r'^(1 layer|2 layers) +(layer \d|output) +\d+\.\d{4} +\d\.\d\de[-+]\d\d'
                       r'(?: +\d+\.\d%)?$')
    assert [m.group(1, 2) for m in map(layer.match, lines) if m] == [
        ('1 layer', 'layer 1'), ('1 layer', 'output'),
        ('2 layers', 'layer 1'), ('2 layers', 'layer 2'), ('2 layers', 'output')]
    clipping = [line for line in lines if ' clipping fired on ' in line]
    assert [line.split(' clipping')[0].strip() for line in clipping] == ['1 layer', '2 layers']


def test_scratch_and_gluon_curves_coincide(executed):
    lines = stdout_lines(executed('scratch-vs-gluon'))
    logit = [line for line in lines if line.startswith('largest difference in logits')]
    assert len(logit) == 1 and float(logit[0].split(': ')[1]) < 1e-5
    gap = [line for line in lines if line.startswith('largest gap between the curves: ')]
    assert len(gap) == 1
    assert gap[0].endswith(('they coincide within 0.1%', 'they are identical'))
    assert float(gap[0].split(': ')[1].split()[0]) < 1e-2
    speedups = [line for line in lines if line.endswith('x the tokens/sec of scratch')]
    assert [s.split(':')[0] for s in speedups] == ['Gluon imperative', 'Gluon hybridized']


def table_rows(lines, labels):
    """The rows of `notebook.run_table` printed for `labels`: {label: its numbers}."""
    rows = {}
    for label in labels:
        row = re.compile(re.escape(label) + r' {2,}(?P<params>[\d,]+) +(?P<epochs>\d+) +'
                         r'(?P<best>\d+\.\d\d) +(?P<at>\d+) +(?P<seconds>\d+\.\d) +'
                         r'(?P<final>\d+\.\d\d) +(?P<train>\d+\.\d\d) +(?P<rate>[\d,]+)$')
        for m in filter(None, map(row.match, lines)):
            assert label not in rows, f'two rows for {label}'
            rows[label] = dict(params=int(m['params'].replace(',', '')), epochs=int(m['epochs']),
                               best=float(m['best']), at=int(m['at']), final=float(m['final']),
                               train=float(m['train']))
    return rows


def test_generalization_notebook_tabulates_every_run(executed):
    lines = stdout_lines(executed('deep-rnn-generalization'))
    assert "1 layer, dropout 0.5: skipped (one layer has no layer above it to drop into)" in lines
    rows = table_rows(lines, [SECTION] + WHOLE_BOOK)
    assert list(rows) == [SECTION] + WHOLE_BOOK  # the section's run, then each in its order
    # the small run: 28 tokens, 32 hiddens, 4 gates per LSTM layer (dropout adds none):
    # 4 (28*32 + 32*32 + 32) + (L-1) 4 (2*32*32 + 32) + 32*28 + 28
    for label, row in rows.items():
        layers = 2 if label == SECTION else int(label[0])
        assert row['params'] == 7808 + (layers - 1) * 8320 + 924
        epochs = 20 if label == SECTION else 3  # num_epochs, whole_epochs of the small run
        assert 1 <= row['at'] <= row['epochs'] <= epochs
        assert 1 < row['best'] <= row['final'] < PPL_BOUND and 1 < row['train'] < PPL_BOUND
    unigram = [line for line in lines if line.startswith('unigram perplexity of the ')]
    assert len(unigram) == 1 and 10 < float(unigram[0].split(': ')[1]) < PPL_BOUND


EDITION = 'deep-rnn-current-edition'
EDITION_LABELS = ['list-held stack', 'StackedRNNScratch', 'GRU', 'LSTM', 'DeepRNNScratch',
                  'DeepRNN']


def test_current_edition_first_cell_sets_the_sections_size(monkeypatch):
    full, quick = first_cell_settings(EDITION, monkeypatch)
    section = dict(batch_size=1024, num_steps=32, num_hiddens=32, num_layers=2, lr=2,
                   max_epochs=100, gradient_clip_val=1, num_train=10000, num_val=5000)
    assert {k: full[k] for k in section} == section
    assert quick['max_epochs'] < 10 and quick['num_train'] < full['num_train']


def test_current_edition_notebook_runs_small_and_reports(executed):
    nb = executed(EDITION)
    outs = outputs(nb)
    assert not [o for o in outs if o.output_type == 'error']
    assert sum('image/png' in o.get('data', {}) for o in outs) == 3
    lines = stdout_lines(nb)
    results = [m.groupdict() for m in map(RESULT.match, lines) if m]
    assert [r['label'] for r in results] == EDITION_LABELS
    for r in results:
        assert 1 < float(r['val']) < PPL_BOUND and r['ctx'] == 'cpu(0)'
    assert [line for line in lines if line.startswith('arrays the optimizer')] == [
        'arrays the optimizer and the clipping get: 2',
        'arrays the optimizer and the clipping get: 8']
    layers = ', '.join(f'rnn.rnns[{i}].{w}' for i in (0, 1) for w in ('W_hh', 'W_xh', 'b_h'))
    assert ('list-held stack: 2 of 8 weight arrays moved; unchanged since initialization: '
            + layers) in lines
    for label in ('StackedRNNScratch', 'GRU', 'LSTM'):
        assert any(re.fullmatch(f'{label}: (\\d+) of \\1 weight arrays moved', line)
                   for line in lines)
    assert any(re.fullmatch(r'DeepRNNScratch: 20 of 22 weight arrays moved; unchanged since '
                            r'initialization: \w+layer1_b_hh, \w+layer2_b_hh', line)
               for line in lines)
    assert any(re.fullmatch(r'DeepRNN: 8 of 10 weight arrays moved; unchanged since '
                            r'initialization: \w+_l0_h2h_bias, \w+_l1_h2h_bias', line)
               for line in lines)
    gap = [line for line in lines if line.startswith('largest gap between the curves: ')]
    assert len(gap) == 1 and gap[0].endswith(('within 0.1%', 'they are identical'))
    # the table: trained parameters, by the equations (28 tokens, 32 hiddens, 2 layers)
    trained = {'list-held stack': 32 * 28 + 28, 'StackedRNNScratch': 4956,
               'GRU': 3 * (28 * 32 + 32 * 32 + 2 * 32) + 3 * (2 * 32 * 32 + 2 * 32) + 32 * 28 + 28,
               'DeepRNN': 13020, 'DeepRNNScratch': 13020}
    table = lines[max(i for i, line in enumerate(lines) if 'arrays moved' in line):]
    for label, size in trained.items():  # the last table's rows
        assert sum(1 for line in table if re.match(
            re.escape(label) + r' +\d+ of \d+ +' + f'{size:,}' + r' ', line)) == 1, label
    assert any(line.startswith('LSTM / GRU: ') for line in lines)
    samples = [line for line in lines if re.fullmatch(r'[^:]+: it has[a-z ]{20}', line)]
    assert [s.split(':')[0] for s in samples] == EDITION_LABELS


@pytest.mark.parametrize('name', NAMES + [EDITION])
def test_no_cell_shows_a_display_handle(executed, name):
    """A figure is shown, not the handle `show` returns (the cell ends in ';'): in the small
    run, and in the committed outputs of the full-size run."""
    with open(os.path.join(NOTEBOOKS, f'{name}.ipynb'), encoding='utf-8') as f:
        committed = nbformat.read(f, as_version=4)
    for nb in (executed(name), committed):
        results = [o for o in outputs(nb) if o.output_type == 'execute_result']
        assert not [o for o in results if 'DisplayHandle' in o['data'].get('text/plain', '')]
