"""Record identity: which decoded records a dataset already holds, whatever file brought them.

**The rule.**  Two records are the same record when they have the same bytes -- which
include the time to the millisecond, the event, the subject (audit user, pids, session,
terminal) and, in ``header_ex`` records, the host's address.  Byte-identical records
*within one input* (a process calling ``stat`` twice in one millisecond writes two equal
records) are distinct occurrences, so a dataset keeps each distinct record as many times
as the input that holds it most often.  File names, offsets, compression, ``--host``
labels and the order of conversions play no part (docs/dataset.md).

**How it stays cheap.**  Hashing every record would be a per-record loop; instead the
records of an input are cut into *runs* at content-defined anchors (a record whose time,
length and event hash to 0 modulo :data:`ANCHOR_EVERY`), so a copy, a prefix, a renamed,
grown or concatenated trail cuts the same runs wherever its bytes sit.  A run is hashed
whole (SHA-256 over its contiguous bytes, one call per ~64 records) and looked up in the
dataset's *run index*.  Known runs are dropped; an unknown run whose time span touches
nothing the dataset holds is new; only an unknown run that overlaps known
time (the cut end of a truncated copy, the edge of damage, a trail partly converted
before) is checked record by record against the known records of that span, rebuilt
byte for byte from the dataset (:func:`knox_analytics.bsm.encode.table_to_trail`).
Byte equality decides there, so a hash collision can never hide a record.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: One record in this many (on average) starts a run.
ANCHOR_EVERY = 64
_MIX = np.uint64(0x9E3779B97F4A7C15)

#: Schema of the run index files (``_knox_ids/*.ids``, Parquet).
RUN_SCHEMA = pa.schema([
    ("digest", pa.binary(16)),
    ("occurrences", pa.uint32()),  # most times the run occurred in one input
    ("records", pa.uint32()),
    ("tmin", pa.int64()),  # ms since the epoch
    ("tmax", pa.int64()),
])

KnownBytes = Callable[[int, int], Counter]


def anchors(time_ms: np.ndarray, length: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Which records start a run: a property of the record's own header, so every copy
    of the same records cuts the same runs."""
    with np.errstate(over="ignore"):
        mixed = (time_ms.astype(np.uint64) * _MIX) ^ (length.astype(np.uint64) << np.uint64(17))
        mixed = (mixed ^ event.astype(np.uint64)) * _MIX
    return (mixed >> np.uint64(40)) % np.uint64(ANCHOR_EVERY) == 0


@dataclass
class Run:
    """A run of contiguous records of one input (rows of the table it came from)."""

    digest: bytes
    records: int
    tmin: int
    tmax: int


class RunIndex:
    """Runs the dataset holds: digests with their occurrence counts, and the time the
    known runs cover (merged intervals), to tell which unknown runs need a
    record-by-record check."""

    def __init__(self) -> None:
        self._counts: dict[bytes, int] = {}
        self._spans: list[tuple[int, int]] = []
        self._starts: list[int] = []
        self.unsaved: list[dict] = []

    @classmethod
    def from_tables(cls, tables: Iterable[pa.Table]) -> RunIndex:
        index = cls()
        for table in tables:
            index._absorb(table.to_pylist())
        index._merge()
        return index

    def _absorb(self, rows: list[dict]) -> None:
        for r in rows:
            self._counts[r["digest"]] = max(self._counts.get(r["digest"], 0), r["occurrences"])
            self._spans.append((r["tmin"], r["tmax"]))

    def _merge(self) -> None:
        self._spans.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in self._spans:
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self._spans = merged
        self._starts = [lo for lo, _ in merged]

    def occurrences(self, digest: bytes) -> int:
        """How many times the dataset holds this run (0: unknown)."""
        return self._counts.get(digest, 0)

    def covers(self, tmin: int, tmax: int) -> bool:
        """Does any known run span time within ``[tmin, tmax]``?"""
        i = bisect.bisect_right(self._starts, tmax) - 1
        return i >= 0 and self._spans[i][1] >= tmin

    def add(self, runs: Iterable[tuple[Run, int]]) -> None:
        """Remember runs of an input just written (with their occurrence numbers)."""
        rows = [{"digest": r.digest, "occurrences": occ, "records": r.records,
                 "tmin": r.tmin, "tmax": r.tmax} for r, occ in runs]
        rows = [r for r in rows if r["occurrences"] > self.occurrences(r["digest"])]
        self._absorb(rows)
        self._merge()
        self.unsaved.extend(rows)

    def take_unsaved(self) -> pa.Table:
        """The runs added since the last call, as a table for the index files."""
        rows, self.unsaved = self.unsaved, []
        return pa.Table.from_pylist(rows, schema=RUN_SCHEMA)


@dataclass
class _Open:
    """The run still open at the end of the data fed so far."""

    tmin: int
    tmax: int
    end: int  # input offset just past its last record
    hasher: Any = field(default_factory=hashlib.sha256)  # SHA-NI makes it the fastest here
    raw: bytearray = field(default_factory=bytearray)  # its bytes from earlier chunks
    here: memoryview | None = None  # its bytes in the current chunk
    lengths: list[np.ndarray] = field(default_factory=list)
    held: list[pa.Table] = field(default_factory=list)  # its rows from earlier chunks
    lo: int = 0  # its rows in the current chunk: [lo, hi)
    hi: int = 0


@dataclass
class RecordFilter:
    """Decides, run by run, which records of one input the dataset does not hold yet.

    Feed each decoded chunk with the input bytes it came from; rows come back in input
    order, the rows of the run still open at the chunk's end one chunk later, and only
    when they are new.  ``known`` counts the rows dropped.  ``known_bytes(tmin,
    tmax)`` returns the bytes of the records the dataset holds in that span (a Counter),
    for the record-by-record check.
    """

    index: RunIndex
    known_bytes: KnownBytes
    known: int = 0
    runs: list[tuple[Run, int]] = field(default_factory=list)
    _open: _Open | None = None
    _seen: Counter = field(default_factory=Counter)

    def feed(self, table: pa.Table, raw: bytes | memoryview, raw_base: int) -> pa.Table:
        """New rows among ``table`` (decoded from ``raw``, which starts at input offset
        ``raw_base``), preceded by those of the run the chunk closed."""
        n = table.num_rows
        if n == 0:
            return table
        offsets = table.column("offset").to_numpy()
        lengths = table.column("length").to_numpy().astype(np.int64)
        times = pc.fill_null(pc.cast(table.column("time"), pa.int64()), 0).to_numpy()
        starts = anchors(times, lengths, pc.fill_null(table.column("event"), 0).to_numpy())
        starts[1:] |= offsets[1:] != offsets[:-1] + lengths[:-1]  # damage ends a run
        run = self._open
        starts[0] = not (run is not None and offsets[0] == run.end and not starts[0])
        keep = np.ones(n, dtype=bool)
        out: list[pa.Table] = []
        bounds = [*np.flatnonzero(starts).tolist(), n]
        if run is not None:
            run.lo = run.hi = 0
            if not starts[0]:
                self._extend(table, raw, raw_base, 0, bounds[0], offsets, lengths, times)
            if bounds[0] < n or starts[0]:
                out.extend(self._decide(keep, table))
        for lo, hi in itertools.pairwise(bounds):
            self._open = _Open(int(times[lo]), int(times[lo]), int(offsets[lo]))
            self._extend(table, raw, raw_base, lo, hi, offsets, lengths, times)
            if hi < n:
                self._decide(keep, table)
        if self._open is not None:  # the last run may go on in the next chunk
            open_run = self._open
            open_run.held.append(table.slice(open_run.lo, open_run.hi - open_run.lo))
            if open_run.here is not None:
                open_run.raw += open_run.here  # the chunk's bytes go away with it
                open_run.here = None
            cut = open_run.lo
        else:
            cut = n
        out.append(_kept(table.slice(0, cut), keep[:cut]))
        return _concat(out, table.schema)

    def finish(self) -> pa.Table | None:
        """Decide the last run (the input ended, or the caller must publish now)."""
        if self._open is None:
            return None
        pieces = self._decide(np.ones(0, dtype=bool), None)
        return _concat(pieces, pieces[0].schema) if pieces else None

    def _extend(self, table: pa.Table, raw: bytes | memoryview, raw_base: int, lo: int,
                hi: int, offsets: np.ndarray, lengths: np.ndarray, times: np.ndarray) -> None:
        run = self._open
        assert run is not None
        if hi <= lo:
            return
        first = int(offsets[lo]) - raw_base
        last = int(offsets[hi - 1] + lengths[hi - 1]) - raw_base
        data = memoryview(raw)[first:last]
        run.hasher.update(data)
        run.here = data
        run.lengths.append(lengths[lo:hi])
        run.end = int(offsets[hi - 1] + lengths[hi - 1])
        run.tmin = min(run.tmin, int(times[lo:hi].min()))
        run.tmax = max(run.tmax, int(times[lo:hi].max()))
        run.lo, run.hi = lo, hi

    def _decide(self, keep: np.ndarray, table: pa.Table | None) -> list[pa.Table]:
        """Close the open run: mark its rows of the current chunk in ``keep`` and return
        its held rows from earlier chunks that are new."""
        run, self._open = self._open, None
        assert run is not None
        lengths = np.concatenate(run.lengths) if run.lengths else np.zeros(0, np.int64)
        digest = run.hasher.digest()[:16]
        occurrence = self._seen[digest]
        self._seen[digest] += 1
        self.runs.append((Run(digest, len(lengths), run.tmin, run.tmax), occurrence + 1))
        if occurrence < self.index.occurrences(digest):
            mask = np.zeros(len(lengths), dtype=bool)
        elif not self.index.covers(run.tmin, run.tmax):
            mask = np.ones(len(lengths), dtype=bool)
        else:
            mask = self._check_records(run, lengths)
        self.known += int((~mask).sum())
        held_rows = sum(t.num_rows for t in run.held)
        pieces = []
        at = 0
        for held in run.held:
            pieces.append(_kept(held, mask[at:at + held.num_rows]))
            at += held.num_rows
        if table is not None:
            keep[run.lo:run.hi] = mask[held_rows:]
        return pieces

    def _check_records(self, run: _Open, lengths: np.ndarray) -> np.ndarray:
        """Which records of ``run`` the dataset does not hold (byte equality)."""
        known = self.known_bytes(run.tmin, run.tmax)
        keep = np.zeros(len(lengths), dtype=bool)
        seen: Counter = Counter()
        raw = bytes(run.raw) + (bytes(run.here) if run.here is not None else b"")
        pos = 0
        for i, n in enumerate(lengths.tolist()):
            record = raw[pos:pos + n]
            pos += n
            seen[record] += 1
            keep[i] = seen[record] > known[record]
        return keep


def runs_of(table: pa.Table, raw: bytes | memoryview, raw_base: int) -> list[tuple[Run, int]]:
    """The runs (with occurrence numbers) of records known to be new: what an index must
    learn about rows written without a filter (Spark tasks, a dataset from before record
    identity)."""
    filt = RecordFilter(RunIndex(), lambda _lo, _hi: Counter())
    filt.feed(table, raw, raw_base)
    filt.finish()
    return filt.runs


def _kept(table: pa.Table, keep: np.ndarray) -> pa.Table:
    """``table`` filtered by ``keep``, without copying when all or none are kept (the
    usual case: filtering copies every nested column)."""
    if keep.all():
        return table
    if not keep.any():
        return table.slice(0, 0)
    return table.filter(pa.array(keep))


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def split_records(data: bytes, lengths: Iterable[int]) -> Counter:
    """Count the records in ``data`` (consecutive records of the given lengths)."""
    out: Counter = Counter()
    pos = 0
    for n in lengths:
        out[data[pos:pos + n]] += 1
        pos += n
    return out
