"""The README's Python examples import the package before `mxnet` or `d2l`: MXNet reads its
thread settings once, when it loads, and the package sets them first (`threads`)."""
import os
import re


def python_blocks(repo):
    with open(os.path.join(repo, 'README.md'), encoding='utf-8') as f:
        return re.findall(r'```python\n(.*?)```', f.read(), re.S)


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
