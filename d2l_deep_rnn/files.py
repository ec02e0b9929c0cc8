"""Atomic writes (a temporary file beside the target, fsync, rename) with the mode a plain open()
gives: a kill never leaves half a file, and a failed write (no space, a read-only disk, no
permission) is a `WriteError`, one line naming the file and the cause; the file stays as it was."""
import contextlib
import errno
import os
import secrets

from .config import UsageError

TEMP_SUFFIX = '.tmp'  # of atomic_write's temporary files, hidden names beside the target


def atomic_write_bytes(path, content):
    """Write `content` to `path` atomically, with the mode open() gives (see new_temporary)."""
    def write(tmp):
        with open(tmp, 'wb') as f:
            f.write(content)
    atomic_write(path, write)


class WriteError(UsageError):
    """A file could not be written: which one and why, in one line."""


def atomic_write(path, write):
    """`write(tmp)` fills a file beside `path`, then fsync and rename; an OSError: WriteError."""
    try:
        tmp = new_temporary(path)
    except OSError as e:
        raise write_error(path, e) from e
    try:
        write(tmp)
        fsync(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):  # a failing disk may refuse that too
            os.remove(tmp)
        if isinstance(e, OSError):
            raise write_error(path, e) from e
        raise


def write_error(path, e):
    """The one line for an OSError `e` met while writing `path` (left as it was)."""
    hint = 'free some space' if e.errno in (errno.ENOSPC, errno.EDQUOT) else \
        'choose a folder you can write to'
    return WriteError(f'cannot write {path} ({e.strerror or e}); it was left as it was: '
                      f'{hint}')


def new_temporary(path):
    """An empty hidden file beside `path`, with the mode open() gives (0o666 less the umask)."""
    folder, name = os.path.split(os.path.abspath(path))
    for _ in range(10):
        tmp = os.path.join(folder, f'.{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}')
        try:  # the kernel applies the umask or the folder's default ACL: no racy os.umask()
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, 'no free temporary name beside', path)


def fsync(path):
    """Force a file's content to disk, so a crash after the rename cannot expose lost data."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
