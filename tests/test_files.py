"""The one atomic writer: a temporary file beside the target, fsync, rename; the mode a
plain open() gives under the user's umask."""
import os

import pytest

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
