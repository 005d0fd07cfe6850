"""Recognise an input by its content, never by its name, size or first bytes alone.

auditd appends to ``/var/audit/current`` and, on rotation, renames it ``START.END`` (and
may compress it later).  An input *continues* an earlier conversion only if it starts
with every byte that conversion read: the SHA-256 of that whole prefix is kept with the
manifest entry and compared here.  Hashes are taken over the decompressed content, so
``START.END.gz`` is still recognised as the ``current`` it once was.  The hash of the
first bytes (``head``) only rules entries out cheaply; it never decides a match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from knox_analytics.bsm.reader import open_trail

#: Bytes hashed at the start of a trail to rule candidates out before hashing more.
HEAD_BYTES = 64 * 1024
_BLOCK = 1 << 20


def is_compressed(path: Path) -> bool:
    """True when the trail is read through a decompressor (recognised by content, as the
    reader does: offsets in the manifest must mean the same bytes the reader reads)."""
    trail = open_trail(path)
    trail.stream.close()
    return trail.compressed


def open_content(path: Path) -> BinaryIO:
    """Open a trail for reading its (decompressed) bytes; raise InputError if unreadable."""
    return open_trail(path).stream


def head_span(size: int) -> int:
    """How many leading bytes rule candidates in or out for a trail of ``size`` bytes."""
    return min(size, HEAD_BYTES)


@dataclass(frozen=True)
class Scan:
    """What one pass over an input's content found."""

    size: int  # content size (decompressed)
    heads: dict[int, str]  # head length -> SHA-256 hex of those first bytes
    prefixes: dict[int, str]  # offset -> SHA-256 hex of [0, offset), for those asked


def scan(path: Path, head_lens: Iterable[int], wanted: Iterable[int] = ()) -> Scan:
    """Hash the first ``head_lens`` bytes and the prefixes ending at ``wanted``.

    An uncompressed file is read only as far as the longest wanted prefix; a compressed
    one is decompressed once, whole (its size is only known at its end).
    """
    trail = open_trail(path)
    heads_at = sorted({n for n in head_lens if n > 0})
    marks = sorted({n for n in wanted if n > 0} | set(heads_at))
    size = None if trail.compressed else path.stat().st_size
    stop = max(marks, default=0) if size is not None else None
    digest = hashlib.sha256()
    at = 0
    seen: dict[int, str] = {0: digest.hexdigest()}
    i = 0
    with trail.stream as fh:
        while stop is None or at < stop:
            want = _BLOCK if stop is None else min(_BLOCK, stop - at)
            if i < len(marks):
                want = min(want, marks[i] - at)
            data = fh.read(want) if want else b""
            if want and not data:
                break
            digest.update(data)
            at += len(data)
            while i < len(marks) and marks[i] == at:
                seen[at] = digest.hexdigest()
                i += 1
    if size is None:
        size = at
    heads = {n: seen[n] for n in heads_at if n in seen}
    prefixes = {n: seen[n] for n in wanted if n in seen}
    return Scan(size, heads, prefixes)


def content_size(path: Path) -> int:
    """Size of the trail's content: the file size, or the decompressed size."""
    trail = open_trail(path)
    with trail.stream as fh:
        if not trail.compressed:
            return path.stat().st_size
        total = 0
        while chunk := fh.read(_BLOCK):
            total += len(chunk)
    return total


def hash_range(path: Path, start: int, stop: int) -> str:
    """SHA-256 (hex) of content bytes ``[start, stop)``; '' if the content is shorter."""
    digest = hashlib.sha256()
    with open_content(path) as fh:
        if start:
            fh.seek(start)
        left = stop - start
        while left > 0:
            data = fh.read(min(left, _BLOCK))
            if not data:
                return ""
            digest.update(data)
            left -= len(data)
    return digest.hexdigest()
