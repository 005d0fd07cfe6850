"""Resume a file source by content, not by name.

auditd appends to ``/var/audit/current`` and, on rotation, renames the trail to
``START.END`` and points ``current`` at a new file; an operator may repoint a symlink.
The capture therefore does not trust ``(path, offset)``: the bytes it already captured
are in its segments, so on restart the last :data:`TAIL_BYTES` of them (the bytes just
before the offset) must be found at the same place in the file it reads.  When the path
now names another file, the old content is looked for next to it (first the file with the
recorded device/inode, then any regular file large enough) by those bytes; the capture
finishes that file, then reads the new one from its start.  Nothing is skipped or read
twice — unless the old file is gone (deleted, or compressed: its bytes are not at their
offsets any more), which is said in one line.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knox_analytics.live.source import Source

#: Bytes just before the resume offset that must match (a trail's records carry times,
#: pids and sequence numbers: 4 KiB never match by chance).
TAIL_BYTES = 4 << 10


@dataclass
class Located:
    """Where the captured content is: the source itself (``same``), another open file
    (``old_fd``/``old_name``), or nowhere (both None)."""

    same: bool
    old_fd: int | None = None
    old_name: str | None = None


def identity(fd: int, name: str | None = None) -> dict[str, Any]:
    """Hints recorded with a file segment: device, inode and the resolved path."""
    st = os.fstat(fd)
    out: dict[str, Any] = {"dev": st.st_dev, "ino": st.st_ino}
    if name and name != "<stdin>":
        out["path"] = os.path.realpath(name)
    return out


def captured_tail(paths: list[Path], count: int) -> bytes:
    """The last ``count`` bytes of the concatenation of ``paths`` (segments of a stream)."""
    parts: list[bytes] = []
    need = count
    for path in reversed(paths):
        if need <= 0:
            break
        size = path.stat().st_size
        take = min(size, need)
        with open(path, "rb") as fh:
            parts.insert(0, os.pread(fh.fileno(), take, size - take))
        need -= take
    return b"".join(parts)


def holds(fd: int, consumed: int, tail: bytes) -> bool:
    """True when the file ``fd`` has ``tail`` just before byte ``consumed``."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size < consumed:
        return False
    return os.pread(fd, len(tail), consumed - len(tail)) == tail


def locate(source: Source, consumed: int, tail: bytes, entry: dict[str, Any]) -> Located:
    """Find the file holding the ``consumed`` bytes captured from ``source`` so far."""
    if consumed == 0 or holds(source.fd, consumed, tail):
        return Located(True)
    for candidate in _candidates(source, entry):
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue
        if holds(fd, consumed, tail):
            return Located(False, fd, str(candidate))
        os.close(fd)
    return Located(False)


def _candidates(source: Source, entry: dict[str, Any]) -> list[Path]:
    """Files that may be the old content: the recorded inode first, then by recency."""
    dirs: list[Path] = []
    for name in (source.name, entry.get("path")):
        if name and name != "<stdin>":
            directory = Path(name).parent
            if directory.is_dir() and directory not in dirs:
                dirs.append(directory)
    mine = os.fstat(source.fd)
    found: list[tuple[int, float, Path]] = []
    for directory in dirs:
        for path in directory.iterdir():
            try:
                st = path.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) == \
                    (mine.st_dev, mine.st_ino):
                continue
            recorded = (st.st_dev, st.st_ino) == (entry.get("dev"), entry.get("ino"))
            found.append((0 if recorded else 1, -st.st_mtime, path))
    return [p for _rank, _mtime, p in sorted(set(found))]
