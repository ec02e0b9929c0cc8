"""The Python examples of the README and of its pages in docs/ import the package before
`mxnet` or `d2l`: MXNet reads its thread settings once, when it loads, and the package sets
them first (`threads`)."""
import glob
import os
import re


def pages(repo):
    """README.md and every docs/*.md, as paths."""
    return [os.path.join(repo, 'README.md'),
            *sorted(glob.glob(os.path.join(repo, 'docs', '*.md')))]


def python_blocks(repo):
    blocks = []
    for page in pages(repo):
        with open(page, encoding='utf-8') as f:
            blocks += re.findall(r'```python\n(.*?)```', f.read(), re.S)
    return blocks


def first_import(block, names):
    """The line number of the first import of one of `names` in `block`, or None."""
    for number, line in enumerate(block.splitlines()):
        match = re.match(r'(?:from|import)\s+([\w.]+)', line)
        if match and match[1].split('.')[0] in names:
            return number
    return None


def test_every_python_example_imports_the_package_before_mxnet_or_d2l(repo):
    blocks = python_blocks(repo)
    assert len(blocks) >= 2
    for block in blocks:
        package, mxnet = first_import(block, {'d2l_deep_rnn'}), first_import(block,
                                                                          {'mxnet', 'd2l'})
        assert mxnet is None or (package is not None and package < mxnet), block


def test_current_edition_example_runs_as_written(repo, data_dir, monkeypatch, capsys):
    """The README's current-edition example, run as printed but for one epoch: three fits
    in d2l's own Trainer, then a sample after the book's prefix."""
    block = next(b for b in python_blocks(repo) if 'DeepRNNLM' in b)
    assert block.count('max_epochs=100') == 1
    if data_dir:
        monkeypatch.setenv('D2L_DEEP_RNN_DATA', data_dir)
    exec(block.replace('max_epochs=100', 'max_epochs=1'), {})  # noqa: S102  (our README)
    printed = capsys.readouterr().out.splitlines()[-1]
    assert printed.startswith('it has') and len(printed) == 26
