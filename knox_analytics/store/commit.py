"""The file-system steps of the commit protocol: durable writes and atomic moves.

Part files are written under ``ROOT/_staging/`` with a name that no ``*.parquet`` glob
matches, fsynced, and only then moved into ``host=…/date=…/`` by ``rename`` -- one
atomic step per file, so a reader that globs or lists the dataset never sees half a
file.  Compaction replaces a whole partition directory by a rebuilt one in one atomic
*exchange* (``renameat2(RENAME_EXCHANGE)`` on Linux, ``renamex_np(RENAME_SWAP)`` on
macOS), so no reader sees a record twice or misses one; where the kernel has no
exchange (FreeBSD), two renames leave the partition absent for the microseconds between
them.  See docs/dataset.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

#: Signals a commit holds until its moves are done (Ctrl-C, kill, terminal hang-up).
HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def fsync_file(path: Path) -> None:
    """Flush a file's data to the disk (power loss must not lose a committed part)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry change (a rename or a new file) to the disk."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # a directory that cannot be opened (some network file systems): best effort
    try:
        os.fsync(fd)
    except OSError:
        pass  # fsync on a directory is not supported everywhere; the rename still happened
    finally:
        os.close(fd)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP for the duration: a commit's moves finish first.

    Only the main thread can hold them (CPython delivers signals there); from another
    thread this does nothing, and the main thread waits for the writer thread anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def move_into_place(staged: Path, final: Path) -> None:
    """Rename a complete, fsynced file to its visible name; fsync both directories."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, final)
    fsync_dir(final.parent)


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h
_RENAME_SWAP = 2  # macOS sys/stdio.h


def _exchange_native(a: Path, b: Path) -> bool:
    """Atomically swap two directory entries if the kernel can; False when it cannot."""
    libc = _libc()
    if libc is None:
        return False
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        rc = libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                            _RENAME_EXCHANGE)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rc = libc.renamex_np(os.fsencode(a), os.fsencode(b), _RENAME_SWAP)
    else:
        return False
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 45, 95):  # EINVAL/ENOSYS/ENOTSUP/EOPNOTSUPP: not on this file system
        return False
    raise OSError(err, os.strerror(err), str(a))


def exchange_dirs(new: Path, current: Path) -> None:
    """Put directory ``new`` at ``current``'s name and ``current``'s old content at ``new``.

    One atomic exchange where the kernel offers it; otherwise two renames (the partition
    is absent between them).  Both parents are fsynced.
    """
    if not current.exists():
        os.replace(new, current)
        new.mkdir()
    elif not _exchange_native(new, current):
        aside = new.with_name(new.name + ".old")
        os.replace(current, aside)
        os.replace(new, current)
        os.replace(aside, new)
    fsync_dir(current.parent)
    fsync_dir(new.parent)
