"""d2l_deep_rnn_import_hook: MXNet importable whatever comes first; CUDA's wheel libraries
found by the real dynamic linker without LD_LIBRARY_PATH; one line when libmxnet.so cannot
load."""
import os
import subprocess
import sys

import pytest

import d2l_deep_rnn_import_hook


def python(code, cwd, **env):
    """Run `code` in a fresh interpreter of this environment, outside the repository."""
    environ = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    return subprocess.run([sys.executable, '-c', code], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**environ, **env})


@pytest.mark.parametrize('first_line', ['import mxnet',
                                        'from d2l import mxnet as d2l'])
def test_the_books_first_line_loads_mxnet(first_line, tmp_path):
    """A script that starts as the book's chapters do imports MXNet with NumPy's `bool`
    alias already back (the installed .pth's hook ran first), and MXNet computes."""
    out = python(f'{first_line}\nimport numpy, mxnet\n'
                 "print(vars(numpy)['bool'] is bool, mxnet.np.ones((2, 3)).sum().item())",
                 cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['True', '6.0']


def test_the_hook_imports_nothing_before_mxnet(tmp_path):
    """At start-up the hook is only a finder: NumPy and ctypes load when MXNet does."""
    out = python('import sys; print(sorted({"numpy", "ctypes", "mxnet"} & set(sys.modules)),'
                 ' any(type(f).__name__ == "BeforeMXNet" for f in sys.meta_path))',
                 cwd=tmp_path)
    assert out.stdout.split('\n')[0] == '[] True', out.stderr


def shared_library(folder, name, source, needs=(), link_dir=None):
    """Compile `source` into folder/lib<name>.so.1 (its soname), linked against `needs`."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f'lib{name}.so.1')
    c = os.path.join(folder, f'{name}.c')
    with open(c, 'w') as f:
        f.write(source)
    links = [f'-L{link_dir}', *(f'-l:lib{n}.so.1' for n in needs)] if needs else []
    subprocess.run(['gcc', '-shared', '-fPIC', f'-Wl,-soname,lib{name}.so.1', '-o', path, c,
                    *links], check=True, capture_output=True)
    return path


@pytest.fixture
def cuda_like_wheels(tmp_path):
    """A site folder shaped like the nvidia-*-cu11 wheels' (nvidia/<name>/lib) holding two
    libraries, the first needing the second, as libcublas needs libcublasLt; and a
    'libmxnet' outside it that needs the first: none has an RPATH."""
    site = tmp_path / 'site'
    lt = shared_library(site / 'nvidia' / 'cublas' / 'lib', 'zzlt', 'int lt(void){return 41;}')
    shared_library(site / 'nvidia' / 'cublas' / 'lib', 'aablas',
                   'int lt(void); int blas(void){return lt() + 1;}', ['zzlt'],
                   os.path.dirname(lt))
    (site / 'nvidia' / 'empty').mkdir()  # a folder without lib/ is skipped
    main = shared_library(tmp_path / 'mx', 'mx', 'int blas(void); int mx(void){return blas();}',
                          ['aablas'], site / 'nvidia' / 'cublas' / 'lib')
    return site, main


def test_cuda_library_dirs_are_the_wheels_lib_folders(cuda_like_wheels):
    site, _ = cuda_like_wheels
    assert d2l_deep_rnn_import_hook.cuda_library_dirs(['/nonexistent', str(site), str(site)]) == \
        [os.path.realpath(site / 'nvidia' / 'cublas' / 'lib')]


def test_preloaded_libraries_satisfy_a_library_loaded_later(cuda_like_wheels, tmp_path):
    """The dynamic linker finds neither library by itself; loaded first, by path, in
    dependency order (the dependent one sorts first and is retried), they satisfy the
    later library by soname, as libmxnet.so's libcudnn.so.8 and the like."""
    site, main = cuda_like_wheels
    load = f'import ctypes; print(ctypes.CDLL({str(main)!r}).mx())'
    alone = python(load, cwd=tmp_path)
    assert alone.returncode != 0 and 'libaablas.so.1: cannot open shared object file' in \
        alone.stderr
    out = python('import d2l_deep_rnn_import_hook as m\n'
                 f'print([p.rsplit("/", 1)[1] for p in m.load_cuda_libraries('
                 f'm.cuda_library_dirs([{str(site)!r}]))])\n' + load, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split('\n')[:2] == ["['libzzlt.so.1', 'libaablas.so.1']", '42']


@pytest.fixture
def mxnet_without_driver(tmp_path):
    """MXNET_LIBRARY_PATH (read by MXNet's own loader) naming a library that needs
    libcuda.so.1, which this machine does not have, as MXNet's CUDA build does."""
    stub = shared_library(tmp_path / 'stub', 'cuda', 'int cuInit(int f){return 0;}')
    lib = shared_library(tmp_path / 'mxlib', 'mxnet', 'int cuInit(int); int f(void)'
                         '{return cuInit(0);}', ['cuda'], os.path.dirname(stub))
    os.remove(stub)
    return {'MXNET_LIBRARY_PATH': lib}


def test_no_driver_is_one_line_on_the_command_line(mxnet_without_driver, repo, data_args):
    out = subprocess.run([sys.executable, '-m', 'd2l_deep_rnn', '--ctx', 'gpu', *data_args],
                         cwd=repo, capture_output=True, text=True, timeout=120,
                         env={**os.environ, **mxnet_without_driver})
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "error: MXNet's CUDA build needs NVIDIA's driver (libcuda.so.1), which this machine "
        'does not have: install the driver, or on a machine without an NVIDIA GPU the CPU '
        'build (./setup.sh without CUDA=)']


def test_no_driver_is_an_import_error_in_python(mxnet_without_driver, tmp_path):
    out = python('try:\n import d2l_deep_rnn\nexcept ImportError as e:\n print(e)',
                 cwd=tmp_path, **mxnet_without_driver)
    assert out.returncode == 0 and out.stdout.startswith(
        "MXNet's CUDA build needs NVIDIA's driver (libcuda.so.1)"), out.stderr


def test_arms_libraries_missing_on_aarch64_is_one_line(tmp_path, repo, data_args):
    """MXNet's aarch64 wheel links Arm Performance Libraries without shipping them (its own
    description: licence); a library that needs them where they are not installed stands
    in for it, as MXNET_LIBRARY_PATH (read by MXNet's own loader)."""
    stub = shared_library(tmp_path / 'stub', 'armpl_lp64_mp', 'int armpl(int f){return 0;}')
    lib = shared_library(tmp_path / 'mxlib', 'mxnet', 'int armpl(int); int f(void)'
                         '{return armpl(0);}', ['armpl_lp64_mp'], os.path.dirname(stub))
    os.remove(stub)
    out = subprocess.run([sys.executable, '-m', 'd2l_deep_rnn', *data_args], cwd=repo,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, 'MXNET_LIBRARY_PATH': lib})
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "error: MXNet's aarch64 build needs Arm Performance Libraries (libarmpl_lp64_mp.so), "
        'which its wheel leaves out for licence reasons: install them (a free download from '
        'Arm), put their lib folder on LD_LIBRARY_PATH, and run this again']
