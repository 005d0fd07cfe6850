"""Recognise a trail by its content, not its name.

auditd appends to ``/var/audit/current`` and, on rotation, renames it to ``START.END``
(and may compress it later).  A trail is therefore identified by a hash of its first
bytes (``head``) and, to confirm that a candidate really *contains* what was converted,
by a hash of the last bytes converted (``tail``).  Hashes are taken over the decompressed
content, so ``START.END.gz`` is still recognised as the ``current`` it once was.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from knox_analytics.bsm.reader import open_trail

#: Bytes hashed at the start of a trail. A trail starts with a file token (name + time)
#: and a few records, so 64 KiB tells trails apart yet costs nothing to read.
HEAD_BYTES = 64 * 1024
#: Bytes hashed just before the converted end, to confirm a grown/renamed trail.
TAIL_BYTES = 4 * 1024

def is_compressed(path: Path) -> bool:
    """True when the trail is read through a decompressor (recognised by content, as the
    reader does: offsets in the manifest must mean the same bytes the reader reads)."""
    trail = open_trail(path)
    trail.stream.close()
    return trail.compressed


def open_content(path: Path) -> BinaryIO:
    """Open a trail for reading its (decompressed) bytes; raise InputError if unreadable."""
    return open_trail(path).stream


def content_size(path: Path) -> int:
    """Size of the trail's content: the file size, or the decompressed size."""
    trail = open_trail(path)
    with trail.stream as fh:
        if not trail.compressed:
            return path.stat().st_size
        total = 0
        while chunk := fh.read(1 << 20):
            total += len(chunk)
    return total


def hash_range(path: Path, start: int, stop: int) -> str:
    """SHA-256 (hex) of content bytes ``[start, stop)``; '' if the content is shorter."""
    digest = hashlib.sha256()
    with open_content(path) as fh:
        if start:
            fh.seek(start)
        data = fh.read(stop - start)
    if len(data) != stop - start:
        return ""
    digest.update(data)
    return digest.hexdigest()


def head_span(size: int) -> int:
    """How many leading bytes identify a trail of ``size`` bytes."""
    return min(size, HEAD_BYTES)


def tail_span(end: int) -> tuple[int, int]:
    """The byte range hashed to confirm that a trail holds content up to ``end``."""
    return max(0, end - TAIL_BYTES), end
