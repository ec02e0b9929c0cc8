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


def links(text):
    """The targets of the Markdown links and images in `text`, code left out."""
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    text = re.sub(r'`[^`\n]*`', '', text)
    return re.findall(r'\]\(([^()\s]+)\)', text)


def anchors(path):
    """The anchors GitHub gives the headings of the Markdown file `path`."""
    with open(path, encoding='utf-8') as f:
        text = re.sub(r'```.*?```', '', f.read(), flags=re.S)
    return {re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')
            for heading in re.findall(r'^#+ (.*)$', text, re.M)}


def test_every_relative_link_points_to_a_file_that_exists(repo):
    checked = 0
    for page in pages(repo):
        with open(page, encoding='utf-8') as f:
            targets = links(f.read())
        for target in targets:
            if re.match(r'[a-z]+:', target):  # https:, mailto:: not ours to check
                continue
            path, _, anchor = target.partition('#')
            path = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            assert os.path.isfile(path), f'{os.path.relpath(page, repo)}: {target}'
            if anchor and path.endswith('.md'):
                assert anchor in anchors(path), f'{os.path.relpath(page, repo)}: {target}'
            checked += 1
    assert checked >= 20


def test_the_readme_is_short_and_lists_every_docs_page(repo):
    with open(os.path.join(repo, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    assert len(text.splitlines()) <= 300
    listed = set(links(text.partition('\n## Reference\n')[2]))
    for page in pages(repo)[1:]:
        assert os.path.relpath(page, repo) in listed, page


def test_own_text_example_runs_as_written(repo, data_dir, own_texts, monkeypatch, capsys):
    """docs/own-text.md's Python example, run as printed but for one epoch, with a text the
    tests write in place of more.txt: the book's tail validates, both texts train."""
    block = next(b for b in python_blocks(repo) if 'load_data_text' in b)
    assert block.count("'more.txt'") == 1 and block.count('num_epochs=10') == 1
    if data_dir:
        monkeypatch.setenv('D2L_DEEP_RNN_DATA', data_dir)
    exec(block.replace("'more.txt'", repr(own_texts[0])).replace('num_epochs=10',  # noqa: S102
                                                                   'num_epochs=1'), {})
    printed = capsys.readouterr().out
    assert "'validate': [{'text': 'timemachine'" in printed and own_texts[0] in printed
