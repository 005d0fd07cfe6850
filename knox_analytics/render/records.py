"""The records of the inputs as a stream of tables, in input order: what ``knox print``
renders and ``knox reduce`` writes, from trail files, stdin, or a converted dataset.

The one module of the render package that opens files.  What an input is comes from
:func:`knox_analytics.inputs.discover`, the rule every command shares (a directory of
trails: its trails, a README beside them skipped and listed); :func:`iter_inputs` takes
the paths or the inputs discovered already.  Trails go through
:func:`knox_analytics.bsm.reader.read_trail` (chunked, decompressing, stdin-aware); a
dataset or ``.parquet`` file is read back with pyarrow and put in input order: each
input's records in that input's order, the inputs merged by time (:func:`input_order`),
so a dataset of one trail prints exactly like the trail.

Example::

    >>> for table in iter_inputs(["trail.bsm"], print):  # doctest: +SKIP
    ...     table.num_rows
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.reader import TrailInput, read_trail
from knox_analytics.errors import InputError, NotBSMError
from knox_analytics.inputs import Given, Input, Inputs, discover, skip_or_raise
from knox_analytics.schema import SCHEMA

#: Bytes read from stdin at a time: small, so output starts while input still arrives.
STDIN_CHUNK = 64 * 1024
PARQUET_BATCH_ROWS = 65536


def iter_parquet(path: Path, batch_rows: int = PARQUET_BATCH_ROWS) -> Iterator[pa.Table]:
    """Rows of a dataset directory / Parquet file, in input order (:func:`input_order`),
    in slices, in memory bounded by the part files open at once, not by the dataset.

    Part files are read in the order they were written (by name).  A first pass over
    three columns (source, offset, time) finds where each file's rows stand in their
    input (the state :func:`input_order` carries from row to row); the second merges
    the files' rows, each file already in order, a window of keys at a time.
    """
    files = [path] if path.is_file() else sorted(
        (p for p in path.rglob("*.parquet") if not p.name.startswith(".")),
        key=lambda p: (p.name, str(p)))
    if not files:
        return  # a dataset without records yet (an empty trail converts to none)
    try:
        parts = [pq.ParquetFile(f) for f in files]
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot read as Parquet ({_first_line(exc)})") from None
    for part in parts:
        missing = [n for n in SCHEMA.names if n not in part.schema_arrow.names]
        if missing:
            raise InputError(f"{path}: not knox records (no column {missing[0]!r}): knox "
                             "print reads trails and datasets written by knox convert; an "
                             "export of a question (knox events -f parquet) holds only its "
                             "columns")
    try:
        yield from _merge(parts, _first_pass(parts), batch_rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot read as a knox Parquet dataset "
                         f"({_first_line(exc)})") from None


#: Rows decoded per file at a time while merging.
_MERGE_BATCH = 4096
_KEY_COLUMNS = ["source", "offset", "time"]


class _Carry:
    """Where the row order stands after some rows: the last row's source and offset, its
    stretch number and its stretch's running maximum time, and rows seen."""

    def __init__(self) -> None:
        self.source: str | None = None
        self.offset = -1
        self.stretch = -1
        self.running = 0
        self.rows = 0

    def copy(self) -> _Carry:
        out = _Carry()
        out.__dict__.update(self.__dict__)
        return out


def _keys(batch: pa.RecordBatch | pa.Table, carry: _Carry, low: int) -> np.ndarray:
    """The sort keys of ``batch``'s rows (running time, offset, stretch, row number), as
    :func:`input_order` computes them over the whole dataset; ``carry`` moves on."""
    n = batch.num_rows
    source = batch.column("source")
    offsets = batch.column("offset").to_numpy(zero_copy_only=False).astype(np.int64)
    new = np.ones(n, dtype=bool)
    if n > 1:
        new[1:] = (pc.not_equal(source.slice(1), source.slice(0, n - 1))
                   .fill_null(True).to_numpy(zero_copy_only=False)
                   | (offsets[1:] <= offsets[:-1]))
    new[0] = source[0].as_py() != carry.source or offsets[0] <= carry.offset
    local = np.cumsum(new)  # 0: the stretch the carry is in
    ms = pc.fill_null(pc.cast(batch.column("time"), pa.int64()), low)
    times = ms.to_numpy(zero_copy_only=False).astype(np.int64) - low
    times = np.where(local == 0, np.maximum(times, carry.running), times)
    span = int(times.max()) + 1
    lifted = times + local * span
    running = np.maximum.accumulate(lifted) - local * span
    keys = np.empty(n, dtype=_KEY)
    keys["running"], keys["offset"] = running, offsets
    keys["stretch"] = carry.stretch + local
    keys["row"] = carry.rows + np.arange(n)
    carry.source, carry.offset = source[n - 1].as_py(), int(offsets[-1])
    carry.stretch, carry.running = int(keys["stretch"][-1]), int(running[-1])
    carry.rows += n
    return keys


_KEY = np.dtype([("running", np.int64), ("offset", np.int64), ("stretch", np.int64),
                 ("row", np.int64)])


def _first_pass(parts: list[pq.ParquetFile]) -> list[tuple[int, int, int, _Carry, tuple]]:
    """The stretches of rows, each in order: ``(file, first row, end row, carry at its
    first row, key of its first row)`` (a file holding several inputs holds several)."""
    low = None
    for part in parts:
        for batch in part.iter_batches(batch_size=65536, columns=["time"]):
            m = pc.min(pc.cast(batch.column("time"), pa.int64())).as_py()
            if m is not None:
                low = m if low is None else min(low, m)
    low = low or 0
    carry, runs = _Carry(), []
    for f, part in enumerate(parts):
        row = 0
        for batch in part.iter_batches(batch_size=65536, columns=_KEY_COLUMNS):
            if not batch.num_rows:
                continue
            before = carry.copy()
            keys = _keys(batch, carry, low)
            starts = np.flatnonzero(np.diff(keys["stretch"], prepend=before.stretch))
            starts = np.union1d(starts, [0]) if row == 0 else starts
            source, offsets = batch.column("source"), batch.column("offset")
            for j in starts.tolist():
                at = before.copy() if j == 0 else _Carry()
                if j:
                    at.source, at.offset = source[j - 1].as_py(), offsets[j - 1].as_py()
                    at.stretch = int(keys["stretch"][j - 1])
                    at.running = int(keys["running"][j - 1])
                    at.rows = int(keys["row"][j])
                if runs and runs[-1][0] == f:
                    runs[-1] = (*runs[-1][:2], row + j, *runs[-1][3:])
                runs.append((f, row + j, -1, at, tuple(keys[j].tolist())))
            row += batch.num_rows
        if runs and runs[-1][0] == f:
            runs[-1] = (*runs[-1][:2], row, *runs[-1][3:])
    return [(f, lo, hi, c, k) for f, lo, hi, c, k in runs if hi > lo], low


class _Stream:
    """One stretch of a part file's rows with their keys, read a batch at a time."""

    def __init__(self, part: pq.ParquetFile, first: int, end: int, carry: _Carry,
                 low: int) -> None:
        self.batches = _rows(part, first, end)
        self.carry, self.low = carry, low
        self.table = SCHEMA.empty_table()
        self.keys = np.empty(0, dtype=_KEY)
        self.done = False

    def fill(self) -> None:
        """Read until some row is held (or the stretch ends)."""
        while not len(self.keys) and not self.done:
            batch = next(self.batches, None)
            if batch is None:
                self.done = True
            elif batch.num_rows:
                self.table = batch.cast(SCHEMA)
                self.keys = _keys(batch, self.carry, self.low)

    def last(self) -> tuple:
        return tuple(self.keys[-1].tolist())

    def take_until(self, bound: tuple) -> tuple[pa.Table, np.ndarray]:
        """The held rows whose key is at most ``bound`` (a prefix: the rows are sorted)."""
        count = int(np.searchsorted(self.keys, np.array([bound], dtype=_KEY)[0],
                                    side="right"))
        out, keys = self.table.slice(0, count), self.keys[:count]
        self.table, self.keys = self.table.slice(count), self.keys[count:]
        return out, keys


def _rows(part: pq.ParquetFile, first: int, end: int) -> Iterator[pa.Table]:
    """Rows ``first`` to ``end`` of a part file, a batch at a time."""
    at = 0
    for g in range(part.metadata.num_row_groups):
        n = part.metadata.row_group(g).num_rows
        if at + n > first and at < end:
            pos = at
            for batch in part.iter_batches(batch_size=_MERGE_BATCH, row_groups=[g],
                                           columns=SCHEMA.names):
                lo, hi = max(first - pos, 0), min(end - pos, batch.num_rows)
                if hi > lo:
                    yield pa.Table.from_batches([batch.slice(lo, hi - lo)])
                pos += batch.num_rows
                if pos >= end:
                    return
        at += n


def _merge(parts: list[pq.ParquetFile],
           found: tuple[list[tuple[int, int, int, _Carry, tuple]], int],
           batch_rows: int) -> Iterator[pa.Table]:
    """Merge the stretches' rows by key: each round emits every held row up to the
    smallest of the open stretches' last held keys (no row still unread can come before
    it); a stretch is opened only once that bound reaches its first row, so only the
    stretches that overlap in time are held at once."""
    runs, low = found
    waiting = sorted(range(len(runs)), key=lambda i: runs[i][4])
    open_: list[_Stream] = []
    pending: list[pa.Table] = []
    held = 0
    while True:
        for stream in open_:
            stream.fill()
        open_ = [s for s in open_ if len(s.keys)]
        bound = min((s.last() for s in open_), default=None)
        while waiting and (bound is None or runs[waiting[0]][4] <= bound):
            f, first, end, carry, _key = runs[waiting.pop(0)]
            stream = _Stream(parts[f], first, end, carry.copy(), low)
            stream.fill()
            if len(stream.keys):
                open_.append(stream)
                bound = stream.last() if bound is None else min(bound, stream.last())
        if not open_:
            break
        tables, keys = [], []
        for stream in open_:
            t, k = stream.take_until(bound)
            if t.num_rows:
                tables.append(t)
                keys.append(k)
        table = pa.concat_tables(tables)
        order = np.argsort(np.concatenate(keys), kind="stable")
        pending.append(table.take(pa.array(order)))
        held += table.num_rows
        if held >= batch_rows:
            yield from _slices(pending, batch_rows)
            pending, held = [], 0
    if held:
        yield from _slices(pending, batch_rows)


def _slices(tables: list[pa.Table], rows: int) -> Iterator[pa.Table]:
    whole = pa.concat_tables(tables)
    for start in range(0, whole.num_rows, rows):
        yield whole.slice(start, rows)


def input_order(table: pa.Table) -> np.ndarray:
    """Row order that keeps each input's records in that input's order and merges the
    inputs by time.

    Rows come in the order they were written (part files by name, rows as written); an
    input's records are a stretch of one source with rising offsets, a new stretch
    starting where the source changes or the offset falls back (two trails named
    ``current``, before and after rotation).  Stretches are merged on the running
    maximum of their times, then on offsets, which keeps every stretch in its order and
    the records of one input that went to several partitions in the input's order (the
    input's own order exactly while its times do not run backwards).
    """
    n = table.num_rows
    if n == 0:
        return np.zeros(0, np.int64)
    source = table.column("source").combine_chunks()
    codes = (source.indices if pa.types.is_dictionary(source.type)
             else source.dictionary_encode().indices).to_numpy(zero_copy_only=False)
    offsets = table.column("offset").to_numpy(zero_copy_only=False)
    new = np.ones(n, dtype=bool)
    new[1:] = (codes[1:] != codes[:-1]) | (offsets[1:] <= offsets[:-1])
    stretch = np.cumsum(new) - 1
    ms = pc.cast(table.column("time"), pa.int64())
    low = pc.min(ms).as_py() or 0
    times = pc.fill_null(ms, low).to_numpy(zero_copy_only=False) - low  # no time: first
    span = int(times.max()) + 1
    # running maximum within each stretch: one accumulate over stretches lifted apart
    lifted = times + stretch * span
    running = np.maximum.accumulate(lifted) - stretch * span
    # ties (the same running time) by offset: the stretches of one input in different
    # partitions (header_ex addresses, days) interleave as they were in the input
    return np.lexsort((np.arange(n), stretch, offsets, running))


def iter_trail(name: str, on_damage: Callable[[Damage], None],
               stdin: BinaryIO | None = None) -> Iterator[pa.Table]:
    """Decoded chunks of one trail file, or of stdin for ``-``."""
    if name == "-":
        source = TrailInput(stdin, "<stdin>", None) if stdin is not None else "-"
        results = read_trail(source, chunk_size=STDIN_CHUNK, live=True)
    else:
        results = read_trail(name)
    for result in results:
        for damage in result.damage:
            on_damage(damage)
        yield result.table


def iter_inputs(names: Given, on_damage: Callable[[Damage], None],
                stdin: BinaryIO | None = None,
                skipped: list[tuple[str, str]] | None = None) -> Iterator[pa.Table]:
    """Tables of every input in order; no names means stdin (like praudit).  Files found
    in a directory that are not trails are appended to ``skipped``, not an error."""
    skipped = [] if skipped is None else skipped
    found = discover(names if isinstance(names, Inputs) else list(names) or ["-"])
    for item in found.items:
        yield from iter_input(item, on_damage, stdin, skipped)


def iter_input(item: Input, on_damage: Callable[[Damage], None],
               stdin: BinaryIO | None = None,
               skipped: list[tuple[str, str]] | None = None) -> Iterator[pa.Table]:
    """Tables of one input (see :func:`iter_inputs`)."""
    if item.kind in ("dataset", "parquet"):
        yield from iter_parquet(Path(item.path))
        return
    try:
        yield from iter_trail(item.path, on_damage, stdin)
    except NotBSMError as exc:
        skip_or_raise(exc, item, [] if skipped is None else skipped)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
