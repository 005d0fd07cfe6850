"""Recognise a trail by its content, not its name.

auditd appends to ``/var/audit/current`` and, on rotation, renames it to ``START.END``
(and may compress it later).  A trail is therefore identified by a hash of its first
bytes (``head``) and, to confirm that a candidate really *contains* what was converted,
by a hash of the last bytes converted (``tail``).  Hashes are taken over the decompressed
content, so ``START.END.gz`` is still recognised as the ``current`` it once was.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from knox_analytics.errors import InputError

#: Bytes hashed at the start of a trail. A trail starts with a file token (name + time)
#: and a few records, so 64 KiB tells trails apart yet costs nothing to read.
HEAD_BYTES = 64 * 1024
#: Bytes hashed just before the converted end, to confirm a grown/renamed trail.
TAIL_BYTES = 4 * 1024

_OPENERS: dict[str, Callable[..., BinaryIO]] = {
    ".gz": gzip.open,  # type: ignore[dict-item]
    ".bz2": bz2.open,  # type: ignore[dict-item]
    ".xz": lzma.open,  # type: ignore[dict-item]
}


def is_compressed(path: Path) -> bool:
    """True when the trail is read through a decompressor (.gz, .bz2, .xz)."""
    return path.suffix in _OPENERS


def open_content(path: Path) -> BinaryIO:
    """Open a trail for reading its (decompressed) bytes; raise InputError if unreadable."""
    try:
        opener = _OPENERS.get(path.suffix)
        return opener(path, "rb") if opener else open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def content_size(path: Path) -> int:
    """Size of the trail's content: the file size, or the decompressed size."""
    if not is_compressed(path):
        return path.stat().st_size
    total = 0
    with open_content(path) as fh:
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
