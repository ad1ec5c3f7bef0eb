"""Opening and replacing files safely: only regular files are read or replaced.

Opening a FIFO for reading blocks until a writer appears (forever, if none does), reading a
device may never end, and renaming a new file over ``/dev/null`` replaces the system's. So
every reader of an index, a collection or a vector file opens through :func:`open_regular`,
and every save checks its target with :func:`check_replaceable` first.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

__all__ = ["check_replaceable", "check_regular", "open_regular"]


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: str, error: type[Exception] = ValueError, *, follow_symlinks: bool = True
                  ) -> os.stat_result:
    """``os.stat(path)`` after checking that ``path`` (through symlinks) is a regular file.

    With ``follow_symlinks=False`` the path itself must be the regular file: a symbolic link is
    refused too (a collection directory refuses links that could lead outside it).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: it is a directory.
        ``error``: it is a FIFO, a device or a socket, or a symlink when not following them (the
            message names the path and the kind).
    """
    st = os.stat(path, follow_symlinks=follow_symlinks)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if stat.S_ISLNK(st.st_mode):
        raise error(f"{path}: a symbolic link, not a regular file; refusing to follow it")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: {_kind(st.st_mode)}, not a regular file; refusing to read it")
    return st


def open_regular(path: str, error: type[Exception] = ValueError, *, follow_symlinks: bool = True) -> BinaryIO:
    """``open(path, "rb")`` for a regular file only, without ever blocking on a FIFO.

    The file is checked before it is opened and again, on the open descriptor, after: it is
    opened non-blocking, so a FIFO swapped in between the two checks cannot stall the open
    (with ``follow_symlinks=False`` also ``O_NOFOLLOW``, and the descriptor must be the very
    file checked). Raises what :func:`check_regular` raises.
    """
    before = check_regular(path, error, follow_symlinks=follow_symlinks)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: {_kind(st.st_mode)}, not a regular file; refusing to read it")
        if not follow_symlinks and not os.path.samestat(before, st):
            raise error(f"{path}: changed while it was being opened; refusing to read it")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_replaceable(path: str) -> None:
    """Refuse to save over anything but a regular file (or nothing): a save renames a new file
    over ``path``, which would replace a device node, a FIFO or a socket with a plain file.

    Raises:
        IsADirectoryError: ``path`` is a directory.
        FileExistsError: ``path`` is a FIFO, a device or a socket.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if not stat.S_ISREG(st.st_mode):
        raise FileExistsError(errno.EEXIST, f"{_kind(st.st_mode)} exists there, not a regular file; refusing to "
                              f"replace it", path)
