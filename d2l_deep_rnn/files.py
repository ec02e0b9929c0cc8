"""One way to write a file: atomically (a temporary file beside the target, fsync, rename),
with the mode a plain open() gives, so that a kill at any moment never leaves half a file."""
import errno
import os
import secrets

TEMP_SUFFIX = '.tmp'  # of atomic_write's temporary files, hidden names beside the target


def atomic_write_bytes(path, content):
    """Write `content` to `path` atomically, with the mode open() gives (see new_temporary)."""
    def write(tmp):
        with open(tmp, 'wb') as f:
            f.write(content)
    atomic_write(path, write)


def atomic_write(path, write):
    """`write(tmp)` fills a file beside `path`, then fsync and rename: never half a file."""
    tmp = new_temporary(path)
    try:
        write(tmp)
        fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def new_temporary(path):
    """Create an empty hidden file beside `path` with the mode open() gives (0o666 less the
    umask, or the folder's default ACL): the kernel applies them, no racy os.umask() call."""
    folder, name = os.path.split(os.path.abspath(path))
    for _ in range(10):
        tmp = os.path.join(folder, f'.{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}')
        try:
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
