"""setup.sh refuses, in one line and before it makes anything, what cannot run MXNet 1.9.1:
another Python, a platform without MXNet's wheels, a CUDA build that does not exist there.
The platform is what the chosen Python says (`sys.platform`, `platform.machine()`), so a
stand-in Python that says another one plays that machine."""
import os
import subprocess
import sys

import pytest

STAND_IN = '''#!{python}
import platform, sys
sys.platform, sys.version_info = {system!r}, {version!r}
platform.machine = lambda: {machine!r}
if sys.argv[1:2] == ['-c']:
    code, sys.argv = sys.argv[2], ['-c'] + sys.argv[3:]
    exec(compile(code, '<string>', 'exec'))
elif sys.argv[1:2] == ['--version']:
    print('Python %d.%d.%d' % sys.version_info[:3])
else:
    sys.exit('a stand-in Python: only -c and --version')
'''


@pytest.fixture
def setup_sh(repo, tmp_path):
    """setup(system, machine, version=this Python's, **env) -> (exit status, stderr lines),
    with a stand-in Python of that platform and version; checks that no venv was made."""
    def setup(system, machine, version=tuple(sys.version_info[:3]), **env):
        python = tmp_path / 'python3'
        python.write_text(STAND_IN.format(python=sys.executable, system=system,
                                          machine=machine, version=version))
        python.chmod(0o755)
        venv = tmp_path / 'venv'
        done = subprocess.run(['bash', os.path.join(repo, 'setup.sh')], text=True,
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
                              env={**os.environ, 'PYTHON': str(python), 'VENV': str(venv),
                                   **env})
        assert not venv.exists() and done.stdout == ''
        return done.returncode, done.stderr.splitlines()
    return setup


@pytest.mark.parametrize('system, machine, words', [
    ('darwin', 'arm64', 'error: MXNet 1.9.1, its last release, has no build for macOS on '
                        'Apple Silicon (this Python is darwin arm64): use an x86_64 Python '
                        "under Rosetta 2 (MXNet's macOS x86_64 build), or a Linux container or "
                        'virtual machine (on aarch64 MXNet needs Arm Performance Libraries: '
                        "see docs/machines.md)."),
    ('win32', 'AMD64', 'error: MXNet 1.9.1, its last release, has no build for Windows (win32 '
                       'amd64): install WSL 2 with Ubuntu (wsl --install) and run ./setup.sh '
                       'in its Linux shell.'),
    ('linux', 'ppc64le', 'error: MXNet 1.9.1, its last release, has builds for Linux on x86_64 '
                         'and aarch64 and macOS on x86_64 only; this Python runs on linux '
                         'ppc64le.'),
])
def test_a_platform_without_mxnets_wheels_is_refused_in_one_line(setup_sh, system, machine,
                                                                  words):
    assert setup_sh(system, machine) == (2, [words])


@pytest.mark.parametrize('system, machine', [('linux', 'aarch64'), ('darwin', 'x86_64')])
def test_the_cuda_build_is_refused_where_it_does_not_exist(setup_sh, system, machine):
    assert setup_sh(system, machine, CUDA='117') == (2, [
        f"error: CUDA=117: MXNet's CUDA build (mxnet-cu117) exists for Linux on x86_64 only; "
        f"this Python runs on {system} {machine}. Run ./setup.sh without CUDA= for the CPU "
        f"build."])


def test_another_cuda_or_python_is_refused_in_one_line(setup_sh):
    status, lines = setup_sh('linux', 'x86_64', CUDA='118')
    assert status == 2 and lines == [
        'error: CUDA=118: only CUDA=117 (mxnet-cu117) installs from the registry alone: '
        "CUDA's libraries are there as CUDA 11.7 wheels, which any NVIDIA driver from "
        '450.80.02 on runs. Use CUDA=117, or no CUDA= for the CPU build.']
    status, lines = setup_sh('linux', 'x86_64', version=(3, 14, 2))
    assert status == 2 and lines == [
        'error: d2l-deep-rnn needs Python 3.8 to 3.13 (MXNet 1.9.1, its last release, needs '
        'NumPy 1.x, which ends there); found: Python 3.14.2. Install one (for example '
        "'pyenv install 3.12' or your distribution's python3-venv) and run this again, or "
        'point PYTHON= at it.']


def test_a_python_that_does_not_run_is_named_in_the_same_one_line(repo, tmp_path):
    """pyenv's shim for a version that is installed but not selected answers with several
    lines on stderr; the refusal quotes only the first."""
    shim = tmp_path / 'python3.12'
    shim.write_text('#!/bin/sh\necho "pyenv: python3.12: command not found" >&2\necho >&2\n'
                    'echo "The \\`python3.12\' command exists in these Python versions:" >&2\n'
                    'exit 127\n')
    shim.chmod(0o755)
    done = subprocess.run(['bash', os.path.join(repo, 'setup.sh')], text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
                          env={**os.environ, 'PYTHON': str(shim),
                               'VENV': str(tmp_path / 'venv')})
    assert (done.returncode, done.stdout) == (2, '')
    assert done.stderr.splitlines() == [
        'error: d2l-deep-rnn needs Python 3.8 to 3.13 (MXNet 1.9.1, its last release, needs '
        'NumPy 1.x, which ends there); found: pyenv: python3.12: command not found. Install '
        "one (for example 'pyenv install 3.12' or your distribution's python3-venv) and run "
        'this again, or point PYTHON= at it.']
    assert not (tmp_path / 'venv').exists()
