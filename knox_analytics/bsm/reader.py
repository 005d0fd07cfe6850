"""Read trails from files, compressed files or streams, and decode them chunk by chunk.

The I/O edge of the decoder: it opens, decompresses and tails; :mod:`decode` only ever
sees bytes.  :class:`StreamDecoder` is the one streaming decoder (push bytes in any
pieces, get batches of whole records and their damage); :func:`read_trail` pulls a file
through it.  Memory stays flat whatever the trail size: one reusable buffer of
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
import pyarrow as pa

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.bytesview import PAD, ByteView
from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.decode import DecodeResult, decode_view
from knox_analytics.bsm.framing import file_token_length, frame
from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.errors import DamagedTrailError, InputError, NotBSMError

#: Bytes decoded at once: large enough to amortise numpy calls, small enough for flat
#: RSS.  Convert holds about 20× a chunk at its peak (one decoded ahead): 4 MiB took 45-75
#: MiB off its peak against 8 MiB (300 MB and 1 GB trails) at the same CPU (12.3-13.5 s
#: both, 300 MB); 2 MiB took 95 MiB more but cost a fifth more CPU.
DEFAULT_CHUNK = 4 << 20
#: Magic numbers of the compressions auditd trails are commonly kept in.
_MAGIC = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))
STDIN = "-"
_HEADER_IDS = frozenset(T.HEADER_IDS)


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
        raise InputError(f"{name}: is a directory (knox_analytics.inputs expands directories)") \
            from None
    head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            return TrailInput(opener(raw), name, _size(p), compressed=True)  # type: ignore[arg-type]
    return TrailInput(raw, name, _size(p))


def _stdin() -> BinaryIO:
    """stdin, decompressed when its first bytes are a gzip/bzip2/xz magic number."""
    head = sys.stdin.buffer.read(6)  # the longest magic; blocks only until 6 bytes arrive
    stream = io.BufferedReader(_Replay(head, sys.stdin.buffer))
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            return opener(stream)  # type: ignore[return-value]
    return stream


class _Replay(io.RawIOBase):
    """The bytes already read from a pipe, then the rest of the pipe (never closed)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(target), len(self._head))
            target[:n], self._head = self._head[:n], self._head[n:]
            return n
        rest = self._rest
        data = rest.read1(len(target)) if hasattr(rest, "read1") else rest.read(len(target))
        target[: len(data)] = data
        return len(data)


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

    def _room(self, count: int) -> None:
        if len(self.arr) < self.filled + count + PAD:
            grown = np.zeros(self.filled + max(count, self.chunk) + PAD, dtype=np.uint8)
            grown[: self.filled] = self.arr[: self.filled]
            self.arr = grown

    def fill(self, stream: BinaryIO, live: bool) -> int:
        """Append up to one chunk; ``live`` returns as soon as some bytes arrived."""
        self._room(self.chunk)
        target = memoryview(self.arr)[self.filled : self.filled + self.chunk]
        got = _read_into(stream, target, live)
        self.filled += got
        return got

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` (a copy)."""
        self._room(len(data))
        self.arr[self.filled : self.filled + len(data)] = np.frombuffer(data, dtype=np.uint8)
        self.filled += len(data)

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


@dataclass
class Batch:
    """Decoded records of a stream: rows, damage, and the bytes they came from.

    The batch accounts for ``length`` bytes from stream offset ``offset`` (whole records,
    file tokens, damaged spans).  ``data`` holds them when the decoder keeps data: a tool
    passing records through writes ``data[row.offset - offset :][: row.length]``.
    """

    table: pa.Table
    damage: list[Damage]
    offset: int
    length: int
    data: bytes = b""
    source: str = ""  # the name the stream was decoded under

    @property
    def records(self) -> int:
        return self.table.num_rows

    @property
    def end(self) -> int:
        """Stream offset just past this batch."""
        return self.offset + self.length


class StreamDecoder:
    """The streaming decoder: push bytes in any pieces, get decoded batches back.

    An unfinished record at the end is held until the rest arrives; :meth:`close` ends
    the stream (what is still held is reported as damage, or kept with ``keep_tail``).
    Every byte is in exactly one batch, in order, so ``offset`` is always where the next
    batch starts.  Trails (:func:`read_trail`), the live sources, ``--follow`` and
    ``knox capture`` all decode through it.

    >>> dec = StreamDecoder("<pipe>")
    >>> dec.feed(b"\x14")  # one byte of a header: nothing complete yet
    []
    >>> dec.pending
    1
    """

    def __init__(self, source: str, *, offset: int = 0, tables: Tables | None = None,
                 chunk_size: int = DEFAULT_CHUNK, require_bsm: bool = False,
                 keep_data: bool = True) -> None:
        self.source = source
        self.keep_data = keep_data
        self.offset = offset  # stream offset of the first byte not yet in a batch
        self.tables = tables or load_tables()
        self.require_bsm = require_bsm
        self.records = 0
        self._buf = _Buffer(chunk_size)

    @property
    def pending(self) -> int:
        """Bytes held back: an unfinished record (or a tail not yet known to be junk)."""
        return self._buf.filled

    @property
    def needed(self) -> int:
        """How many more bytes the held-back record needs, when its header says (else 0)."""
        return tail_need(memoryview(self._buf.arr)[: self._buf.filled])

    def feed(self, data: bytes | bytearray | memoryview) -> list[Batch]:
        """Append ``data``; return the batch of the whole records it completed (if any)."""
        if len(data):
            self._buf.append(data)
        return self._decode(final=False)

    def fill(self, stream: BinaryIO, live: bool = False) -> int:
        """Read up to one chunk from ``stream`` straight into the buffer (no copy)."""
        return self._buf.fill(stream, live)

    def decode(self, *, final: bool = False) -> list[Batch]:
        """Decode what :meth:`fill` brought in (``final``: as :meth:`close`)."""
        return self._decode(final)

    def close(self, *, keep_tail: bool = False) -> list[Batch]:
        """End of stream: the held-back bytes become damage (a truncated record) — or
        stay unreported with ``keep_tail`` (a trail still being written: next time)."""
        return self._decode(final=not keep_tail)

    def _decode(self, final: bool) -> list[Batch]:
        batches = self._decode_once(final, self._buf.filled)
        if not final and self._buf.filled:
            # auditd ends a trail with a file token: complete, it need not wait for more
            token = file_token_length(ByteView(self._buf.arr, self._buf.filled), 0,
                                      self._buf.filled)
            if token:
                batches += self._decode_once(True, token)
        return batches

    def _decode_once(self, final: bool, size: int) -> list[Batch]:
        buf = self._buf
        if size == 0:
            return []
        # a prefix is copied: a view pads (zeroes) the bytes after its end
        view = ByteView(buf.arr, size) if size == buf.filled else \
            ByteView(buf.arr[:size].tobytes())
        result = decode_view(view, self.source, base_offset=self.offset, final=final,
                             tables=self.tables, require_bsm=self.require_bsm
                             and self.records == 0)
        if not result.consumed:
            return []
        data = buf.arr[: result.consumed].tobytes() if self.keep_data else b""
        batch = Batch(result.table, result.damage, self.offset, result.consumed, data,
                      self.source)
        self.records += result.records
        self.offset += result.consumed
        buf.drop(result.consumed)
        return [batch]


def tail_need(tail: bytes | bytearray | memoryview | np.ndarray) -> int:
    """Bytes still missing from the record that ``tail`` begins, by its header's length
    field (0 when ``tail`` is empty, complete, or does not begin with a header)."""
    if len(tail) == 0 or tail[0] not in _HEADER_IDS:
        return 0
    if len(tail) < 5:
        return 5 - len(tail)  # the length field first
    length = int.from_bytes(bytes(tail[1:5]), "big")
    return max(length - len(tail), 0) if length >= T.MIN_RECORD else 0


def record_boundary(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """Where the whole records (and junk) at the start of ``data`` end, and how many bytes
    the unfinished record after them still needs (0 when ``data`` ends on a boundary or
    the header does not say): rotation of capture segments, without decoding."""
    view = ByteView(np.frombuffer(data, dtype=np.uint8) if len(data) else b"")
    boundary = frame(view, "<boundary>", final=False).consumed
    return boundary, tail_need(memoryview(data)[boundary:])


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
    decoder = StreamDecoder(trail.name, offset=start_offset, tables=tables,
                            chunk_size=min(chunk_size, 1 << 20) if live else chunk_size,
                            require_bsm=start_offset == 0, keep_data=keep_raw)
    try:
        if start_offset:
            _skip(trail.stream, start_offset)
        while True:
            at_end = decoder.fill(trail.stream, live) == 0
            batches = decoder.close(keep_tail=open_ended) if at_end else decoder.decode()
            for batch in batches:
                if strict and batch.damage:
                    d = batch.damage[0]
                    raise DamagedTrailError(d.source, d.offset, d.length, d.reason)
                if on_bytes:
                    on_bytes(batch.length)
                if batch.records or batch.damage:
                    yield DecodeResult(batch.table, batch.damage, batch.length,
                                       raw=batch.data if keep_raw else None,
                                       raw_base=batch.offset)
            if at_end:
                return
    except NotBSMError:
        raise
    except OSError as exc:  # e.g. a corrupt .gz
        raise InputError(f"{trail.name}: read error at byte {decoder.offset}: {exc}") \
            from None
    finally:
        if trail.stream is not sys.stdin.buffer:
            trail.stream.close()
