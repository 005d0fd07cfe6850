"""Read trails from files, compressed files or streams, and decode them chunk by chunk.

The I/O edge of the decoder: it opens, decompresses and tails; :mod:`decode` only ever
sees bytes.  Memory stays flat whatever the trail size: one reusable buffer of
``chunk_size`` (plus an unfinished record carried over) is decoded at a time.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from knox_analytics.bsm.bytesview import PAD, ByteView
from knox_analytics.bsm.decode import DecodeResult, decode_view
from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.errors import DamagedTrailError, InputError, NotBSMError

DEFAULT_CHUNK = 8 << 20  # large enough to amortise numpy calls, small enough for flat RSS
#: Magic numbers of the compressions auditd trails are commonly kept in.
_MAGIC = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))
STDIN = "-"


@dataclass
class TrailInput:
    """An opened input: its stream, the name used in messages, and its size if known."""

    stream: BinaryIO
    name: str
    size: int | None  # bytes on disk (compressed size for compressed files)
    compressed: bool = False


def open_trail(path: str | os.PathLike[str]) -> TrailInput:
    """Open a trail file (or ``-`` for stdin), decompressing .gz/.bz2/.xz transparently.

    Compression is recognised by content, not by name.  An unreadable input raises
    :class:`InputError` that says why (a trail is usually readable by root only).
    """
    name = os.fspath(path)
    if name == STDIN:
        return TrailInput(_stdin(), "<stdin>", None)
    p = Path(name)
    try:
        raw = open(p, "rb")  # noqa: SIM115 - handed to the caller inside TrailInput
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied (audit trails are usually readable "
                         "by root only: run with sudo, or copy the trail)") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory (use expand_inputs for directories)") \
            from None
    head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            return TrailInput(opener(raw), name, _size(p), compressed=True)  # type: ignore[arg-type]
    return TrailInput(raw, name, _size(p))


def _stdin() -> BinaryIO:
    return sys.stdin.buffer


def _size(p: Path) -> int | None:
    try:
        return p.stat().st_size if p.is_file() else None
    except OSError:
        return None


def _skip(stream: BinaryIO, count: int) -> None:
    """Move ``count`` bytes forward in a stream that may not be seekable."""
    try:
        stream.seek(count, io.SEEK_CUR)
        return
    except (OSError, io.UnsupportedOperation):
        pass
    while count > 0:
        got = stream.read(min(count, 1 << 20))
        if not got:
            return
        count -= len(got)


class _Buffer:
    """One growable, padded byte buffer: the carried tail stays at its front."""

    def __init__(self, chunk_size: int) -> None:
        self.chunk = chunk_size
        self.arr = np.zeros(2 * chunk_size + PAD, dtype=np.uint8)
        self.filled = 0

    def fill(self, stream: BinaryIO, live: bool) -> int:
        """Append up to one chunk; ``live`` returns as soon as some bytes arrived."""
        if len(self.arr) < self.filled + self.chunk + PAD:
            grown = np.zeros(self.filled + self.chunk + PAD, dtype=np.uint8)
            grown[: self.filled] = self.arr[: self.filled]
            self.arr = grown
        target = memoryview(self.arr)[self.filled : self.filled + self.chunk]
        got = _read_into(stream, target, live)
        self.filled += got
        return got

    def drop(self, count: int) -> None:
        """Forget the first ``count`` bytes, keeping the rest at the front."""
        rest = self.filled - count
        if rest > 0 and count:
            self.arr[:rest] = self.arr[count : self.filled].copy()
        self.filled = max(rest, 0)


def _read_into(stream: BinaryIO, target: memoryview, live: bool) -> int:
    if live and hasattr(stream, "read1"):
        data = stream.read1(len(target))  # whatever is there now: print before EOF
        target[: len(data)] = data
        return len(data)
    total = 0
    while total < len(target):
        n = stream.readinto(target[total:]) if hasattr(stream, "readinto") else None  # type: ignore[attr-defined]
        if n is None:
            data = stream.read(len(target) - total)
            n = len(data)
            target[total : total + n] = data
        if not n:
            break
        total += n
    return total


def read_trail(path: str | os.PathLike[str] | TrailInput, *, chunk_size: int = DEFAULT_CHUNK,
               start_offset: int = 0, tables: Tables | None = None, strict: bool = False,
               live: bool | None = None, open_ended: bool = False,
               on_bytes: Callable[[int], None] | None = None,
               keep_raw: bool = False) -> Iterator[DecodeResult]:
    """Decode a trail chunk by chunk, yielding one :class:`DecodeResult` per chunk.

    ``start_offset`` skips bytes already converted (a trail that grew).  ``strict`` raises
    :class:`DamagedTrailError` at the first damaged range instead of reporting it.
    ``live`` (default: for stdin) yields as soon as records arrive, for pipes.
    ``open_ended``: the trail is still being written (auditd's ``current``), so an
    unfinished record at its end is left for next time, not reported as damage.
    ``on_bytes`` is called with the number of input bytes consumed (progress bars).
    ``keep_raw`` gives each result a copy of the bytes it consumed (``result.raw``).

    >>> for result in read_trail("/var/audit/current"):  # doctest: +SKIP
    ...     print(result.records, [str(d) for d in result.damage])
    """
    trail = path if isinstance(path, TrailInput) else open_trail(path)
    live = (trail.name == "<stdin>") if live is None else live
    tables = tables or load_tables()
    buf = _Buffer(min(chunk_size, 1 << 20) if live else chunk_size)
    offset = start_offset
    rows = 0
    try:
        if start_offset:
            _skip(trail.stream, start_offset)
        while True:
            got = buf.fill(trail.stream, live)
            at_end = got == 0
            view = ByteView(buf.arr, buf.filled)
            result = decode_view(view, trail.name, base_offset=offset,
                                 final=at_end and not open_ended, tables=tables,
                                 require_bsm=rows == 0 and start_offset == 0)
            if strict and result.damage:
                d = result.damage[0]
                raise DamagedTrailError(d.source, d.offset, d.length, d.reason)
            rows += result.records
            if keep_raw:
                result.raw = bytes(buf.arr[: result.consumed])
                result.raw_base = offset
            offset += result.consumed
            buf.drop(result.consumed)
            if on_bytes and result.consumed:
                on_bytes(result.consumed)
            if result.records or result.damage:
                yield result
            if at_end:
                return
    except NotBSMError:
        raise
    except OSError as exc:  # e.g. a corrupt .gz
        raise InputError(f"{trail.name}: read error at byte {offset}: {exc}") from None
    finally:
        if trail.stream is not sys.stdin.buffer:
            trail.stream.close()


#: Names auditd gives trails in /var/audit: START.END, START.not_terminated,
#: START.crash_recovery, and the `current` symlink to the open one.
_NOT_TRAILS = {"audit_control", "audit_user", "audit_class", "audit_event", "audit_warn"}


def expand_inputs(paths: list[str]) -> list[str]:
    """Files to read for the given paths: directories expand to the trails inside.

    ``current`` (a symlink to a trail that is also listed under its own name) is read
    once; hidden files and auditd's configuration files are skipped.
    """
    return [p for p, _found in expand_inputs_found(paths)]


def expand_inputs_found(paths: list[str]) -> list[tuple[str, bool]]:
    """Like :func:`expand_inputs`, with whether each file was *found* in a directory
    (rather than named): a found file that is not a trail is skipped, not an error."""
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for p in paths:
        if p == STDIN or not Path(p).is_dir():
            out.append((p, False))
            continue
        for child in sorted(Path(p).iterdir()):
            if child.name.startswith(".") or child.name in _NOT_TRAILS or child.is_dir():
                continue
            real = os.path.realpath(child)
            if real in seen:
                continue
            seen.add(real)
            out.append((str(child), True))
    return out
