"""The one atomic writer: a temporary file beside the target, fsync, rename; the mode a
plain open() gives under the user's umask."""
import errno
import os
import subprocess
import sys

import pytest

from conftest import fill
from d2l_deep_rnn import files
from d2l_deep_rnn.plots import plot_perplexity


def no_umask_call(*args):
    raise AssertionError('os.umask() changes the umask of every thread; do not call it')


def test_written_files_get_the_mode_of_open_under_the_umask(tmp_path, umask, monkeypatch, mode):
    monkeypatch.setattr(os, 'umask', no_umask_call)
    with open(tmp_path / 'reference.txt', 'w'):
        pass
    assert mode(tmp_path / 'reference.txt') == umask
    out = tmp_path / 'out'
    out.mkdir()
    files.atomic_write_bytes(str(out / 'summary.json'), b'{"models": {}}')
    plot_perplexity({'gluon': {'train_ppl': [9.0, 7.0], 'val_ppl': [10.0, 8.0],
                               'unigram_ppl': 17.0}}, str(out / 'perplexity.png'))
    assert (out / 'perplexity.png').read_bytes().startswith(b'\x89PNG')
    assert {name: mode(out / name) for name in os.listdir(out)} == {
        'summary.json': umask, 'perplexity.png': umask}  # and no temporary file left


def test_atomic_write_fills_a_temporary_beside_then_fsyncs_then_renames(tmp_path,
                                                                        monkeypatch):
    target, events = tmp_path / 'summary.json', []
    target.write_bytes(b'old')
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, 'fsync', lambda fd: events.append('fsync') or fsync(fd))
    monkeypatch.setattr(os, 'replace', lambda a, b: events.append('rename') or replace(a, b))

    def write(tmp):
        assert os.path.dirname(tmp) == str(tmp_path) and tmp != str(target)
        assert target.read_bytes() == b'old'  # untouched while the new content is written
        with open(tmp, 'wb') as f:
            f.write(b'new')
        events.append('write')

    files.atomic_write(str(target), write)
    assert events == ['write', 'fsync', 'rename'] and target.read_bytes() == b'new'


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / 'perplexity.png'
    target.write_bytes(b'old')

    def write_half(tmp):
        with open(tmp, 'wb') as f:
            f.write(b'ha')
        raise RuntimeError('killed half-way')

    with pytest.raises(RuntimeError, match='killed half-way'):
        files.atomic_write(str(target), write_half)
    assert target.read_bytes() == b'old' and os.listdir(tmp_path) == ['perplexity.png']


@pytest.mark.parametrize('code', [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failed_write_names_the_file_and_the_cause_and_keeps_the_old_file(tmp_path, code):
    """Simulated in-process at the write call (any errno: one mechanism for them all)."""
    target = tmp_path / 'summary.json'
    target.write_bytes(b'old')

    def write_half(tmp):
        with open(tmp, 'wb') as f:
            f.write(b'ha')
        raise OSError(code, os.strerror(code))

    with pytest.raises(files.WriteError) as e:
        files.atomic_write(str(target), write_half)
    hint = 'free some space' if code == errno.ENOSPC else 'choose a folder you can write to'
    assert str(e.value) == f'cannot write {target} ({os.strerror(code)}); it was left as ' \
                           f'it was: {hint}'
    assert target.read_bytes() == b'old' and os.listdir(tmp_path) == ['summary.json']


def test_a_real_full_disk(full_disk):
    """A real 64 KiB tmpfs, filled: ENOSPC from the kernel, the old file intact."""
    files.atomic_write_bytes(str(full_disk / 'summary.json'), b'old')
    fill(full_disk)
    with pytest.raises(files.WriteError, match=r'cannot write .*/summary.json \(No space '
                                               r'left on device\).*free some space'):
        files.atomic_write_bytes(str(full_disk / 'summary.json'), b'new' * 10000)
    assert (full_disk / 'summary.json').read_bytes() == b'old'
    assert sorted(os.listdir(full_disk)) == ['filler', 'summary.json']


def test_a_real_read_only_folder(read_only_dir):
    """A read-only bind mount: EROFS from the kernel when the temporary file is created."""
    with pytest.raises(files.WriteError, match=r'cannot write .*/ro/summary.json \(Read-only '
                                               r'file system\)'):
        files.atomic_write_bytes(str(read_only_dir / 'summary.json'), b'new')


def test_a_real_folder_without_write_permission(tmp_path, as_user):
    """A folder of mode 0o555, written by a process that file modes bind (see as_user)."""
    folder = tmp_path / 'locked'
    folder.mkdir()
    folder.chmod(0o555)
    code = ('import sys; from d2l_deep_rnn.files import atomic_write_bytes\n'
            'try:\n    atomic_write_bytes(sys.argv[1], b"x")\n'
            'except Exception as e:\n    print(type(e).__name__, e)')
    result = subprocess.run([*as_user, sys.executable, '-c', code, str(folder / 'a.json')],
                            capture_output=True, text=True)
    assert result.stdout.strip() == f'WriteError cannot write {folder}/a.json (Permission ' \
                                    f'denied); it was left as it was: choose a folder you ' \
                                    f'can write to', result.stderr
    assert os.listdir(folder) == []
