"""Replacing a file or a directory atomically: a reader sees the old one or the new one, never a mixture.

Both protocols write the new content under a temporary name next to the target,
``.<name>.<12 hex digits>.tmp``, fsync it, put it in place and fsync the folder:

* :func:`replacing_file` (an index file, a manifest): the temporary file is renamed over the
  target with ``os.replace``. Only a regular file, or nothing, is ever replaced
  (:func:`mcindex._files.check_replaceable`); a symbolic link's target is replaced, not the link.
* :func:`replacing_directory` (a collection, a sharded collection): the temporary directory is
  swapped with the target (:func:`install_directory`): one atomic exchange
  (``renameat2(RENAME_EXCHANGE)``) where Linux offers it, otherwise two renames, with the old
  directory under ``.<name>.<12 hex digits>.old`` in between. The old directory is deleted only
  once the new one is in place.

If the block writing the new content raises (an error, Ctrl-C), or the fsync or the rename
fails, the temporary is removed and the target is left as it was. A writer killed outright
(SIGKILL, power loss) leaves its temporary behind: the next save to the same target deletes it
(:func:`remove_stale_temps`). To tell a dead writer's temporary from one still being written, a
writer holds an exclusive ``flock`` on its temporary from creation until it is in place; the
kernel drops the lock when the process dies, so a temporary that can be locked has no live
writer, and one that cannot is never touched. Without ``fcntl`` (Windows) nothing is locked and
nothing is deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Iterator
from typing import BinaryIO

from ._files import check_replaceable

try:  # POSIX: a writer holds a lock on its temporary (see remove_stale_temps)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["fsync_directory", "install_directory", "open_temp_file", "remove_stale_temps", "replacing_directory",
           "replacing_file", "temp_pattern"]

# A file system that cannot fsync a directory says so with one of these; the data is synced
# already, so the save goes on. Any other error (EIO) is raised.
_CANNOT_SYNC_DIRECTORY = frozenset({errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})


# ---- temporaries and their locks ----------------------------------------------------------------
def temp_pattern(base: str) -> re.Pattern[str]:
    """Names of the temporaries a save to ``base`` makes: ``.<base>.<12 hex digits>.tmp``."""
    return re.compile(r"\." + re.escape(base) + r"\.[0-9a-f]{12}\.tmp\Z")


def _temp_name(directory: str, base: str) -> str:
    return os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")


def _lock(fd: int) -> None:
    """Take the writer's lock on a temporary it has just created (so never contended)."""
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a file system without locks: the temporary is simply unprotected
        pass


def open_temp_file(directory: str, base: str) -> tuple[str, int]:
    """Create ``.<base>.<random>.tmp`` in ``directory``; return its path and an fd, open for
    writing, that holds the writer's lock on it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = _temp_name(directory, base)
        try:
            fd = os.open(tmp, flags, 0o666)  # mode honours the umask, like open()
        except FileExistsError:
            continue
        _lock(fd)
        return tmp, fd
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _lock_directory(path: str) -> int | None:
    """An fd holding the writer's lock on the new directory ``path`` (None without fcntl)."""
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    _lock(fd)
    return fd


def remove_stale_temps(directory: str, base: str) -> list[str]:
    """Delete the temporaries of saves to ``base`` in ``directory`` whose writer is gone (files,
    or directories with all they hold); return their names.

    A temporary that can be locked belongs to no live writer and is deleted; one that cannot is
    being written by another process and is left alone. So is anything under such a name that is
    neither a regular file nor a directory (a symbolic link, a FIFO, a device): it is not opened,
    since opening a FIFO for reading waits for a writer. After an exchange the temporary name
    holds the old directory, unlocked, which its writer deletes; a writer killed before it did
    leaves it for this function. ``.<base>.<random>.old`` directories are never touched: between
    the two renames of :func:`install_directory` they hold the only copy. Without ``fcntl``,
    nothing is deleted.
    """
    if fcntl is None:
        return []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    pattern, removed = temp_pattern(base), []
    for name in names:
        if not pattern.match(name):
            continue
        full = os.path.join(directory, name)
        try:
            if not _is_file_or_directory(os.lstat(full).st_mode):
                continue
            # Non-blocking and not following a link, should the name have changed kind meanwhile.
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:  # gone already (renamed into place by its writer)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            st = os.fstat(fd)
            # Still the one locked (not renamed into place and replaced meanwhile)?
            if _is_file_or_directory(st.st_mode) and os.path.samestat(st, os.lstat(full)):
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(full, ignore_errors=True)
                else:
                    os.unlink(full)
                removed.append(name)
        except OSError:  # locked by a live writer, or gone: leave it
            pass
        finally:
            os.close(fd)
    return removed


def _is_file_or_directory(mode: int) -> bool:
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


def fsync_directory(path: str) -> None:
    """fsync the directory ``path``, so that the names renamed into it last are on disk.

    Skipped where a directory cannot be opened (Windows: ``os.replace`` is atomic there all the
    same) or the file system cannot sync one; any other error is raised."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _CANNOT_SYNC_DIRECTORY:
            raise
    finally:
        os.close(fd)


# ---- a file -------------------------------------------------------------------------------------
@contextlib.contextmanager
def replacing_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a new temporary file next to ``path``, open for binary writing; when the block ends,
    fsync it, rename it over ``path`` (through a symbolic link: over its target) and fsync the
    folder.

    The temporary file is locked by this process until it has been renamed, so a later save can
    tell it from a dead writer's (see the module docstring); on POSIX it is therefore closed
    after the rename. If the block, the fsync or the rename raises, the temporary file is
    removed and ``path`` is untouched; only a failure of the final folder fsync is reported
    after the new file is in place.

    Raises:
        IsADirectoryError: ``path`` is a directory.
        FileExistsError: ``path`` is a FIFO, a device or a socket.
        FileNotFoundError: the folder of ``path`` does not exist.
        OSError: the file could not be written.
    """
    path = os.path.realpath(os.fspath(path))
    directory, base = os.path.split(path)
    check_replaceable(path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, "No such directory", directory)
    remove_stale_temps(directory, base)
    tmp, fd = open_temp_file(directory, base)
    rename_open = fcntl is not None  # elsewhere an open file cannot be renamed (and holds no lock)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            if rename_open:
                os.replace(tmp, path)
        if not rename_open:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)


# ---- a directory --------------------------------------------------------------------------------
def _exchange(a: str, b: str) -> bool:
    """Atomically swap two paths with Linux's ``renameat2(RENAME_EXCHANGE)``; False if unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def install_directory(tmp: str, target: str) -> None:
    """Put the finished directory ``tmp`` (``.<base>.<random>.tmp`` next to ``target``) in place
    of ``target``, atomically where Linux allows (see the module docstring), and delete the old
    one once the new one is in place. The caller fsyncs ``tmp`` first and the parent after."""
    if os.path.isdir(target) and _exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old directory
    elif os.path.isdir(target):
        old = tmp[: -len(".tmp")] + ".old"  # a crash between the renames leaves the old one here
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, target)


@contextlib.contextmanager
def replacing_directory(target: str, what: str) -> Iterator[str]:
    """Yield a new temporary directory next to ``target`` (an absolute path the caller has
    checked may be replaced), locked until it is in place; when the block ends, fsync it,
    install it in place of ``target`` (:func:`install_directory`) and fsync the parent. The
    files written into it must be fsynced by their writers. If the block raises, the temporary
    directory is removed and ``target`` is untouched.

    Raises:
        OSError: the temporary directory cannot be made (the message names the ``what`` being
            saved and ``target``, not the temporary name).
    """
    parent, base = os.path.split(target)
    remove_stale_temps(parent, base)
    tmp = _temp_name(parent, base)
    try:
        os.mkdir(tmp)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot write the {what} {target}: {exc.strerror}", parent) from None
    lock = None
    try:
        lock = _lock_directory(tmp)
        yield tmp
        fsync_directory(tmp)
        install_directory(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if lock is not None:
            os.close(lock)
    fsync_directory(parent)
