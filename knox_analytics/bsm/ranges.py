"""Split a trail into byte ranges that tasks decode independently, each owning the records
that *start* inside it.

The parallel readers use it: the worker processes of ``knox convert --jobs``
(:mod:`knox_analytics.parallel`) and Spark tasks (:mod:`knox_analytics.spark`).  A range
``[start, stop)`` is decoded by the one streaming decoder
(:class:`~knox_analytics.bsm.reader.StreamDecoder`) from a window that begins ``overlap``
bytes earlier and ends a little after ``stop``:

* before ``start``: framing is chosen the way a sequential reader would choose it from
  the window's first byte; nested false candidates (an 0x14 byte in a field, a record
  quoted in an opaque token) end inside their real record, so the choice has re-joined the
  true record chain by the first record that starts before ``start`` -- the range insists
  on seeing one (it widens the overlap until it does);
* after ``stop``: the record that starts before ``stop`` is finished (the window grows
  until it is), and rows from ``stop`` on belong to the next range.

So every record is decoded by exactly one range, with the same decoder and the same bytes
as ``knox convert`` reading the trail sequentially.  Compressed trails cannot be entered
in the middle: they are one range, streamed through :func:`read_trail` (flat memory).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.reader import Batch, StreamDecoder, open_trail, read_trail
from knox_analytics.bsm.result import DecodeResult
from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.schema import SCHEMA

#: Record identity applied to decoded rows: (table, raw bytes, their offset) -> the rows
#: to keep, with their ids.
Identify = Callable[[pa.Table, bytes, int], pa.Table]

#: Bytes per range (and so per task read), the one size of ``knox convert --jobs`` and
#: Spark.  Measured (``knox convert --jobs 2`` of a 300 MB trail): 64 MiB costs the same
#: CPU time as 16 MiB and ~300 MB more peak RSS per process, so 16 MiB.
DEFAULT_SPLIT = 16 << 20
#: Bytes decoded before a range to re-join the record chain (records are ~100 B - 10 KiB).
OVERLAP = 1 << 20
#: Bytes read after a range to finish its last record (doubled while a record runs on).
TAIL = 256 << 10


@dataclass(frozen=True)
class TrailRange:
    """Bytes ``[start, stop)`` of ``path`` (``stop`` None: to the end of the content).

    ``first``: the range starts where the conversion of this trail starts (a record
    boundary: byte 0 or where the last conversion stopped); ``open_ended``: auditd is
    still writing the trail, so an unfinished last record is left for next time.
    """

    path: str
    start: int
    stop: int | None
    first: bool
    open_ended: bool = False
    compressed: bool = False

    @property
    def last(self) -> bool:
        return self.stop is None


@dataclass
class RangeResult:
    """Rows and report of one range; ``end`` is where the trail's conversion ended (last
    range only: the resume point written to the manifest)."""

    table: pa.Table
    damage: list[Damage] = field(default_factory=list)
    end: int | None = None
    #: The bytes the rows were decoded from (starting at input offset ``raw_base``), for
    #: record identity.
    raw: bytes = b""
    raw_base: int = 0
    #: Rows decoded (``table`` holds fewer when record identity dropped known ones).
    decoded: int = 0


def split_trail(path: str, start: int, size: int, *, split_bytes: int | None = None,
                open_ended: bool = False) -> list[TrailRange]:
    """The ranges of one trail from ``start`` (a record boundary) to its end, of
    ``split_bytes`` each (default :data:`DEFAULT_SPLIT`).

    A compressed trail (recognised by content, as the reader does) is one range.

    >>> [(r.start, r.stop) for r in split_trail("t.bsm", 0, 150, split_bytes=64)]  # doctest: +SKIP
    [(0, 64), (64, 128), (128, None)]
    """
    split_bytes = split_bytes or DEFAULT_SPLIT
    trail = open_trail(path)
    trail.stream.close()
    compressed = trail.compressed
    if compressed or size - start <= split_bytes:
        return [TrailRange(path, start, None, True, open_ended, compressed)]
    cuts = list(range(start, size, split_bytes))
    stops: list[int | None] = [*cuts[1:], None]
    return [TrailRange(path, lo, hi, lo == start, open_ended) for lo, hi in zip(cuts, stops,
                                                                               strict=True)]


def decode_range(rng: TrailRange, tables: Tables | None = None,
                 identify: Identify | None = None) -> RangeResult:
    """Decode the records that start in ``rng`` (see the module docstring).

    ``identify(table, raw, raw_base)`` (record identity: the rows the dataset does not
    hold, with their ids) is applied to the rows while their bytes are at hand; a
    compressed trail is streamed, a chunk at a time.

    Raises :class:`~knox_analytics.errors.NotBSMError` when a first range holds no record at all.
    """
    tables = tables or load_tables()
    if rng.compressed:
        return _decode_stream(rng, tables, identify)
    size = os.path.getsize(rng.path)
    overlap, tail = (0 if rng.first else OVERLAP), TAIL
    while True:
        lo = max(0, rng.start - overlap)
        hi = size if rng.stop is None else min(size, rng.stop + tail)
        result = _decode_window(rng, lo, hi, size, tables)
        table = result.table
        if not rng.first and lo > 0 and not _has_record_before(table, rng.start):
            overlap *= 2  # the window began inside one huge record: look further back
            continue
        if rng.stop is not None and hi < size and lo + result.consumed < rng.stop:
            tail *= 2  # a record that starts before stop runs past the window
            continue
        owned = _owned(rng, result.table, result.damage,
                       lo + result.consumed if rng.last else None)
        owned.raw, owned.raw_base = result.raw or b"", lo
        owned.decoded = owned.table.num_rows
        if identify is not None:
            owned.table = identify(owned.table, owned.raw, lo)
        return owned


def _decode_window(rng: TrailRange, lo: int, hi: int, size: int,
                   tables: Tables) -> DecodeResult:
    """Bytes ``[lo, hi)`` through the stream decoder, read straight into its buffer; the
    end of the content ends the stream (left open for a trail auditd still writes)."""
    decoder = StreamDecoder(rng.path, offset=lo, tables=tables, chunk_size=max(hi - lo, 1),
                            require_bsm=rng.first and rng.start == 0)
    with open(rng.path, "rb") as fh:
        fh.seek(lo)
        decoder.fill(fh)
    batches = decoder.close(keep_tail=rng.open_ended) if hi >= size else decoder.decode()
    return _joined(batches, lo)


def _joined(batches: list[Batch], lo: int) -> DecodeResult:
    if not batches:
        return DecodeResult(_empty(), [], 0, raw=b"", raw_base=lo)
    table = batches[0].table if len(batches) == 1 else \
        pa.concat_tables([b.table for b in batches])
    return DecodeResult(table, [d for b in batches for d in b.damage],
                        sum(b.length for b in batches), raw=b"".join(b.data for b in batches),
                        raw_base=lo)


def _has_record_before(table: pa.Table, start: int) -> bool:
    offsets = table.column("offset")
    return len(offsets) > 0 and pc.min(offsets).as_py() < start


def _owned(rng: TrailRange, table: pa.Table, damage: list[Damage],
           end: int | None) -> RangeResult:
    """Keep the rows and damage that start inside the range."""
    offsets = table.column("offset")
    keep = pc.greater_equal(offsets, rng.start)
    if rng.stop is not None:
        keep = pc.and_(keep, pc.less(offsets, rng.stop))
    mine = [d for d in damage
            if d.offset >= rng.start and (rng.stop is None or d.offset < rng.stop)]
    return RangeResult(table.filter(keep), mine, end)


def _decode_stream(rng: TrailRange, tables: Tables, identify: Identify | None) -> RangeResult:
    tables_out: list[pa.Table] = []
    damage: list[Damage] = []
    consumed = decoded = 0
    for result in read_trail(rng.path, start_offset=rng.start, tables=tables,
                             open_ended=rng.open_ended, keep_raw=identify is not None):
        decoded += result.table.num_rows
        table = result.table if identify is None else \
            identify(result.table, result.raw or b"", result.raw_base)
        tables_out.append(table)
        damage.extend(result.damage)
        consumed += result.consumed
    table = pa.concat_tables(tables_out) if tables_out else _empty()
    out = RangeResult(table, damage, rng.start + consumed)
    out.decoded = decoded
    return out


def _empty() -> pa.Table:
    return SCHEMA.empty_table()

