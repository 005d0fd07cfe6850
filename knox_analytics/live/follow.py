"""``tail -f`` for a trail that auditd appends to and rotates.

auditd writes ``/var/audit/current`` (a symlink to the open trail); on rotation it renames
the trail to ``START.END`` and points ``current`` at a new file.  We keep reading the file
we have open until its end, and when ``path`` now names another file (inode changed) we
drain the old one and continue with the new one from its start.  A file that shrank was
truncated: we start it over.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from knox_analytics.live.privilege import check_readable

READ_SIZE = 1 << 20


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def follow_file(path: str, *, poll: float = 0.25, from_end: bool = False,
                stop: Callable[[], bool] | None = None) -> Iterator[tuple[str, int, bytes]]:
    """Yield (file identity label, offset, bytes) as ``path`` grows, across rotations.

    The label changes when a new file begins (callers reset their framing then).
    ``stop`` is polled whenever the file is at its end; return True to end the iteration.

    >>> for label, offset, data in follow_file("/var/audit/current"):  # doctest: +SKIP
    ...     print(len(data))
    """
    check_readable(path)
    fd = os.open(path, os.O_RDONLY)
    ident = _identity(os.fstat(fd))
    pos = os.lseek(fd, 0, os.SEEK_END) if from_end else 0
    try:
        while True:
            data = os.pread(fd, READ_SIZE, pos)
            if data:
                yield f"{ident[0]}:{ident[1]}", pos, data
                pos += len(data)
                continue
            if stop is not None and stop():
                return
            try:
                st = os.stat(path)
            except FileNotFoundError:  # between rename and the new file: wait
                time.sleep(poll)
                continue
            if _identity(st) != ident:  # rotated: drain what came after our last read
                while data := os.pread(fd, READ_SIZE, pos):
                    yield f"{ident[0]}:{ident[1]}", pos, data
                    pos += len(data)
                os.close(fd)
                fd = os.open(path, os.O_RDONLY)
                ident, pos = _identity(os.fstat(fd)), 0
                continue
            if st.st_size < pos:  # truncated in place
                pos = 0
                continue
            time.sleep(poll)
    finally:
        os.close(fd)
