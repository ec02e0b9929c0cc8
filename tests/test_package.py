"""A real package: the wheel built from the repository holds every module, installs into a
fresh virtual environment with its dependencies, and runs there from any folder."""
import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest


def run(*args, **kwargs):
    out = subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)
    assert out.returncode == 0, f'{args}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}'
    return out


@pytest.fixture(scope='module')
def wheel(repo, tmp_path_factory):
    folder = tmp_path_factory.mktemp('wheel')
    run(sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps', '-w', str(folder), repo)
    (path,) = glob.glob(str(folder / '*.whl'))
    return path


def sources(repo):
    """The repository's modules, as a wheel names them."""
    names = {'d2l_deep_rnn_import_hook.py', 'd2l_deep_rnn.pth'}
    for folder, _, files in os.walk(os.path.join(repo, 'd2l_deep_rnn')):
        names |= {os.path.relpath(os.path.join(folder, f), repo) for f in files
                  if f.endswith('.py')}
    return names


def test_the_wheel_holds_every_module(wheel, repo):
    with zipfile.ZipFile(wheel) as z:
        inside = {n for n in z.namelist() if '.dist-info/' not in n}
    assert inside == sources(repo)
    assert 'd2l_deep_rnn/commands/train.py' in inside


def test_a_module_removed_since_an_earlier_build_leaves_the_wheel(repo, tmp_path):
    """setuptools only adds to build/lib (pypa/setuptools#1871): modules an earlier build
    copied there, since renamed (callback.py became callbacks.py; the top-level import hook
    d2l_deep_rnn_mxnet.py became d2l_deep_rnn_import_hook.py), must not ship again."""
    tracked = run('git', 'ls-files', '-z', cwd=repo).stdout.split('\0')
    source = tmp_path / 'source'
    for name in filter(None, tracked):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(repo, name), source / name)
    stale = source / 'build' / 'lib' / 'd2l_deep_rnn' / 'callback.py'
    stale.parent.mkdir(parents=True)
    stale.write_text('"""The callbacks\' base class, before it moved to callbacks.py."""\n')
    (source / 'build' / 'lib' / 'd2l_deep_rnn_mxnet.py').write_text('"""The old hook."""\n')
    run(sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps', '-w', str(tmp_path),
        str(source))
    (path,) = glob.glob(str(tmp_path / '*.whl'))
    with zipfile.ZipFile(path) as z:
        inside = {n for n in z.namelist() if '.dist-info/' not in n}
    assert inside == sources(repo)
    assert not {'d2l_deep_rnn/callback.py', 'd2l_deep_rnn_mxnet.py'} & inside


def one_epoch(python, cwd, data_dir):
    """The main job for one epoch (both models) with `python`; its summary."""
    run(python, '-m', 'd2l_deep_rnn', '--epochs', '1', '--quiet', '--out', 'out',
        *(['--data-dir', data_dir] if data_dir else []), cwd=cwd)
    with open(os.path.join(cwd, 'out', 'summary.json')) as f:
        return json.load(f)


def test_the_wheel_installs_and_trains_from_any_folder(wheel, tmp_path, data_dir):
    """A fresh venv of this Python gets the wheel and what it needs from the registry (on
    3.12+ d2l 1.0.3 without its pins, as setup.sh installs it); there, from a folder that
    is not the repository, the book's first line imports MXNet and a one-epoch main job
    gives this environment's perplexities exactly."""
    venv = tmp_path / 'venv'
    run(getattr(sys, '_base_executable', sys.executable), '-m', 'venv', str(venv))
    pip = [str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '--quiet']
    run(*pip, wheel)
    if sys.version_info >= (3, 12):
        run(*pip, '--no-deps', 'd2l==1.0.3')
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    python = str(venv / 'bin' / 'python')
    out = run(python, '-c', 'from d2l import mxnet as d2l\nimport d2l_deep_rnn\n'
                            'print(d2l_deep_rnn.__file__)', cwd=elsewhere)
    assert out.stdout.strip().startswith(str(venv))
    installed = one_epoch(python, elsewhere, data_dir)
    here = tmp_path / 'here'
    here.mkdir()
    ours = one_epoch(sys.executable, here, data_dir)
    for model in ('scratch', 'gluon'):
        assert installed['models'][model]['history']['train_ppl'] == \
            ours['models'][model]['history']['train_ppl']
        assert installed['models'][model]['history']['val_ppl'] == \
            ours['models'][model]['history']['val_ppl']


def test_the_commands_start_without_d2l_and_the_current_edition_loads_it(repo):
    """d2l (pandas, pyplot, IPython: 0.6 s) is not imported by the package or its commands;
    the current edition's classes, which subclass d2l's, import it on first use."""
    code = ('import sys, d2l_deep_rnn.commands\n'
            'print("d2l" in sys.modules, "matplotlib.pyplot" in sys.modules)\n'
            'from d2l_deep_rnn import DeepRNNLM\n'
            'from d2l import mxnet as d2l\n'
            'print(issubclass(DeepRNNLM, d2l.Module))\n')
    out = run(sys.executable, '-c', code, cwd=repo)
    assert out.stdout.split() == ['False', 'False', 'True']
