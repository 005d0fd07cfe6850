"""Record identity: which decoded records a dataset already holds, whatever file brought them.

**The rule** (docs/dataset.md).  Two records are the same record when their bytes are
the same and so is their host (the ``header_ex`` address, else the ``--host`` label;
without either, the bytes alone).  Byte-identical records *within one input* (a process
calling ``stat`` twice in one millisecond writes two equal records) are distinct
occurrences, so a dataset keeps each distinct record as many times as the one input
holding it most often.  File names, offsets, compression and the order of conversions
play no part.

**How it costs O(1) a record.**  Every record gets a 128-bit *record id*: the MD5 of its
bytes (computed in DuckDB's C++ over a zero-copy Arrow view of the chunk, no Python per
record), XOR the MD5 of its host scope, XOR a mix of its *occurrence number* (how many
identical records came before it in the same input).  The first occurrence's id is
the host-scoped content hash itself.  The dataset keeps the ids it holds in an on-disk
index partitioned like the records, by host and date (:class:`IdIndex`): sorted files
read through ``mmap`` and binary-searched, so a lookup touches only the pages of the
hash ranges the chunk asks about, and a host or day the dataset has never seen costs
nothing.  A record whose id the index holds is dropped; every other record is written.

A hash match decides (no byte comparison): two different records share an id with
probability about n^2 / 2^129 (n records of one host and day).  MD5 is not collision
resistant against a chosen-prefix attacker, but here the prefix is a kernel-written
header (time to the millisecond, event, subject) the attacker does not control.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from knox_analytics.store import npyfiles
from knox_analytics.store.machines import hosts_of
from knox_analytics.store.npyfiles import key_ranges, rows_of, slices, write_array
from knox_analytics.store.occurrences import Occurrences

#: An id on disk and in memory: two little-endian uint64 (the 16 digest bytes).
ID_DTYPE = np.dtype([("hi", "<u8"), ("lo", "<u8")])
RECORD_ID_TYPE = pa.binary(16)
#: How identical records of one input are told apart: occurrence k's id is the first's
#: XOR k * this odd constant (in the first half; the second half gets k itself).
_OCC_MIX = np.uint64(0x9E3779B97F4A7C15)


# --- hashing ------------------------------------------------------------------------

class Hasher:
    """MD5 of many byte strings at once (one DuckDB connection, one thread)."""

    def __init__(self) -> None:
        self._con = duckdb.connect(config={"threads": 1})

    def digests(self, values: pa.Array) -> np.ndarray:
        """The MD5 of every value of a binary array, as :data:`ID_DTYPE` (n,)."""
        if len(values) == 0:
            return np.zeros(0, ID_DTYPE)
        rel = self._con.from_arrow(pa.table({"b": values}))
        out = rel.project("md5_number(b)").to_arrow_table()
        # md5_number's 16 bytes are the digest's bytes as hashlib gives them
        col = out.column(0).combine_chunks()
        raw = np.frombuffer(col.buffers()[1], dtype=np.uint8,
                            count=16 * (len(col) + col.offset))[16 * col.offset:]
        return raw.view(ID_DTYPE).copy()

    def close(self) -> None:
        self._con.close()


def record_bytes(offsets: np.ndarray, lengths: np.ndarray, raw: bytes | memoryview,
                 raw_base: int) -> tuple[pa.Array, np.ndarray]:
    """A zero-copy binary array over ``raw`` holding each record's bytes, and which of
    its values are the records (gaps between records -- damage -- are values too)."""
    starts = offsets.astype(np.int64) - raw_base
    ends = starts + lengths.astype(np.int64)
    n = len(starts)
    if n == 0 or np.array_equal(starts[1:], ends[:-1]):
        bounds = np.concatenate((starts[:1], ends)) if n else np.zeros(1, np.int64)
        pick = np.arange(n)
    else:
        bounds = np.empty(2 * n, np.int64)
        bounds[0::2], bounds[1::2] = starts, ends
        pick = np.arange(0, 2 * n - 1, 2)
    buf = pa.py_buffer(raw)
    values = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(bounds) - 1,
                                              [None, pa.py_buffer(bounds), buf])
    return values, pick


def scope_digests(hosts: pa.Array) -> np.ndarray:
    """Per record, the MD5 of its host scope (zero for records without one), to XOR into
    its content hash: the same bytes of two labelled hosts are two records."""
    enc = hosts.dictionary_encode() if not pa.types.is_dictionary(hosts.type) else hosts
    names = enc.dictionary.to_pylist()
    table = np.zeros(len(names) + 1, ID_DTYPE)
    for i, name in enumerate(names):
        if name:
            table[i] = np.frombuffer(hashlib.md5(name.encode()).digest(), ID_DTYPE)[0]
    idx = enc.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)
    return table[idx]


def with_occurrence(base: np.ndarray, occ: np.ndarray) -> np.ndarray:
    """The ids of the ``occ``-th repetitions of records whose first id is ``base``."""
    out = base.copy()
    o = occ.astype(np.uint64)
    with np.errstate(over="ignore"):
        out["hi"] ^= o * _OCC_MIX
    out["lo"] ^= o
    return out


def ids_to_array(ids: np.ndarray) -> pa.Array:
    """The ``record_id`` column (16 bytes each) from ids."""
    return pa.FixedSizeBinaryArray.from_buffers(
        RECORD_ID_TYPE, len(ids), [None, pa.py_buffer(np.ascontiguousarray(ids).view(np.uint8))])


def ids_from_array(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Ids from a ``record_id`` column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    raw = np.frombuffer(column.buffers()[1], dtype=np.uint8,
                        count=16 * (len(column) + column.offset))[16 * column.offset:]
    return raw.view(ID_DTYPE)


def parse_id(text: str) -> bytes:
    """A record id as users write it (32 hex digits) -> its 16 bytes."""
    value = bytes.fromhex(text.strip())
    if len(value) != 16:
        raise ValueError(f"{text!r}: a record id is 32 hex digits")
    return value


# --- sorted id sets -------------------------------------------------------------------

def _sorted(ids: np.ndarray) -> np.ndarray:
    # by the first half only: :func:`contains` looks at every id sharing it; timsort
    # ("stable") merges already sorted runs (concatenated levels) in linear time
    return ids[np.argsort(ids["hi"], kind="stable")]


def contains(sorted_ids: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Which ``queries`` are in ``sorted_ids`` (sorted by hi; may be a memmap).

    A binary search on the first half; the second compared where it hits.  Equal first
    halves of different ids (a 64-bit collision) are resolved one by one: practically
    never.
    """
    if len(sorted_ids) == 0 or len(queries) == 0:
        return np.zeros(len(queries), dtype=bool)
    his = sorted_ids["hi"]
    pos = np.searchsorted(his, queries["hi"])
    inside = pos < len(his)
    pos_c = np.where(inside, pos, 0)
    hit = inside & (his[pos_c] == queries["hi"])
    found = hit & (sorted_ids["lo"][pos_c] == queries["lo"])
    for i in np.flatnonzero(hit & ~found):  # same first half, different id
        j = int(pos_c[i]) + 1
        while j < len(his) and his[j] == queries["hi"][i]:
            if sorted_ids["lo"][j] == queries["lo"][i]:
                found[i] = True
                break
            j += 1
    return found


# --- the on-disk index ------------------------------------------------------------------

@dataclass
class IndexStats:
    """Work the index did (the fleet benchmark prints these; they must not grow with
    the number of hosts already in the dataset)."""

    slices_loaded: int = 0  # index files opened for a lookup
    ids_looked_up: int = 0
    ids_known: int = 0
    records_reread: int = 0  # records of the dataset read back to compare: none, ever
    seconds: float = 0.0  # CPU time (thread) spent giving records ids and looking them up


class IdIndex:
    """The ids a dataset holds, by partition (``host=…/date=…``): committed files
    (``_knox_ids/host=…/date=…/ids-*.npy``, each sorted) plus ids added since the last
    commit (sorted levels in memory)."""

    def __init__(self, root: Path, files: Iterable[str]) -> None:
        self.root = root
        self.files: dict[str, list[str]] = {}
        for f in files:
            self.files.setdefault(slice_of(f), []).append(f)
        self._open: dict[str, np.ndarray] = {}  # tiny files, read whole
        self._seen: set[str] = set()  # files looked up (stats)
        self.pending: dict[str, list[np.ndarray]] = {}
        self.pending_ids = 0
        self.stats = IndexStats()

    def _load(self, rel: str) -> np.ndarray:
        """The ids of one index file: mapped afresh for each lookup, not kept mapped.
        A lookup of random ids touches nearly every page of the file, and pages kept
        mapped count in the process's memory: it grew 16 bytes a record converted."""
        arr = self._open.get(rel)
        if arr is None:
            path = self.root / rel
            if rel not in self._seen:
                self._seen.add(rel)
                self.stats.slices_loaded += 1
            arr = _open_ids(path)
            if isinstance(arr, np.memmap):
                return arr
            self._open[rel] = arr
        return arr

    def known(self, key: str, ids: np.ndarray) -> np.ndarray:
        """Which of ``ids`` (records of partition ``key``) the dataset holds."""
        found = np.zeros(len(ids), dtype=bool)
        self.stats.ids_looked_up += len(ids)
        for rel in self.files.get(key, ()):
            found |= contains_sliced(self._load(rel), ids)
        for level in self.pending.get(key, ()):
            found |= contains(level, ids)
        self.stats.ids_known += int(found.sum())
        return found

    def add(self, key: str, ids: np.ndarray) -> None:
        """Ids just written (not committed yet)."""
        if len(ids) == 0:
            return
        levels = self.pending.setdefault(key, [])
        levels.append(_sorted(ids))
        self.pending_ids += len(ids)
        while len(levels) > 1 and len(levels[-2]) <= 2 * len(levels[-1]):
            b, a = levels.pop(), levels.pop()
            levels.append(_sorted(np.concatenate((a, b))))

    def take_pending(self) -> dict[str, np.ndarray]:
        """The ids added since the last call, one sorted array per partition."""
        out = {key: levels[0] if len(levels) == 1 else _sorted(np.concatenate(levels))
               for key, levels in self.pending.items() if levels}
        self.pending = {}
        self.pending_ids = 0
        return out

    def committed(self, key: str, rel: str) -> None:
        """A file of ids of partition ``key`` is now part of the dataset (or staged for
        the next commit: looked up all the same)."""
        self.files.setdefault(key, []).append(rel)

    def replace(self, key: str, old: list[str], new: str) -> None:
        """Files merged into one."""
        for rel in old:
            self._open.pop(rel, None)
        self.files[key] = [f for f in self.files.get(key, []) if f not in old] + [new]

    def close(self) -> None:
        self._open.clear()


def slice_of(rel: str) -> str:
    """``_knox_ids/host=H/date=D/ids-….npy`` -> ``host=H/date=D``."""
    parts = rel.split("/")
    return f"{parts[-3]}/{parts[-2]}"


def write_ids(path: Path, ids: np.ndarray) -> None:
    """Write sorted ids (or occurrence counts; may be a memory map), fsynced, a slice at
    a time."""
    write_array(path, ids.dtype, len(ids), slices(ids))


def write_merged(paths: list[Path], dest: Path) -> None:
    """The ids of several index files as one sorted file, merged a key range at a time
    (ids are uniform hashes: a range of keys is its share of every file)."""
    arrays = [_open_ids(p) for p in paths]

    def pieces() -> Iterator[np.ndarray]:
        # a search touches a few pages; the rows are mapped apart
        for cuts in key_ranges([a["hi"] for a in arrays], npyfiles.SLICE_ROWS):
            got = [np.array(rows_of(a, i, j)) for a, (i, j) in zip(arrays, cuts, strict=True)
                   if j > i]
            if got:
                yield _sorted(np.concatenate(got))

    write_array(dest, ID_DTYPE, sum(len(a) for a in arrays), pieces())


def _open_ids(path: Path) -> np.ndarray:
    """An index file: mapped, or read whole when it is tiny (a header and a few ids)."""
    return np.load(path, mmap_mode="r") if path.stat().st_size > 128 else np.load(path)


def contains_sliced(sorted_ids: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """:func:`contains` over a memory map a slice at a time: the queries of each slice's
    key range are looked up in a mapping of that slice alone.  (A 64-bit collision of
    first halves that straddles two slices would be missed: practically never.)"""
    if len(sorted_ids) <= npyfiles.SLICE_ROWS or len(queries) == 0:
        return contains(sorted_ids, queries)
    order = np.argsort(queries["hi"], kind="stable")
    qhi = queries["hi"][order]
    found = np.zeros(len(queries), dtype=bool)
    for part in slices(sorted_ids):
        lo = int(np.searchsorted(qhi, part["hi"][0], "left"))
        hi = int(np.searchsorted(qhi, part["hi"][-1], "right"))
        if hi > lo:
            pick = order[lo:hi]
            found[pick] |= contains(part, queries[pick])
    return found


# --- one input's records ---------------------------------------------------------------

class RecordFilter:
    """Gives the records of one input their ids and keeps those the dataset does not
    hold.  Feed the chunks in input order with the bytes they were decoded from; the
    occurrence numbers go on across chunks (and across commits: a capture is one input
    whatever its flushes)."""

    def __init__(self, index: IdIndex, label: str | None, hasher: Hasher | None = None,
                 prior: np.ndarray | None = None, *, keep_added: bool = False,
                 spill: Path | None = None) -> None:
        """``keep_added``: also keep the ids of the records kept, in :attr:`added` (a
        worker hands them to the writer).  Not by default: they are already in ``index``
        (which writes them out at a bound), and a copy of them all would grow with the
        input, 16 bytes a record, until it ends.  ``spill``: where the input's occurrence
        counts go past a bound (:mod:`.occurrences`); None: all in memory."""
        self.index = index
        self.label = label
        self.hasher = hasher or Hasher()
        # an input resumed goes on counting
        self.occurrences = Occurrences.of(prior, spill)
        self.known = 0  # records dropped: the dataset held them
        self.keep_added = keep_added
        self.added: dict[str, list[np.ndarray]] = {}  # ids kept, by partition
        #: the hive host keys this input's records name: one machine (:mod:`.machines`)
        self.hosts: set[str] = set()

    def ids(self, table: pa.Table, raw: bytes | memoryview, raw_base: int,
            spans: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """The record ids of ``table``'s rows (decoded from ``raw`` at ``raw_base``;
        ``spans``: (offsets, lengths) of the rows in ``raw`` when not their columns)."""
        offsets, lengths = spans if spans is not None else (
            table.column("offset").to_numpy(), table.column("length").to_numpy())
        values, pick = record_bytes(offsets, lengths, raw, raw_base)
        base = self.hasher.digests(values)[pick]
        scope = scope_digests(_scope_hosts(table, self.label))
        base["hi"] ^= scope["hi"]
        base["lo"] ^= scope["lo"]
        return with_occurrence(base, self.occurrences.number(base))

    def feed(self, table: pa.Table, raw: bytes | memoryview, raw_base: int,
             spans: Sequence[np.ndarray] | None = None) -> pa.Table:
        """The rows of ``table`` the dataset does not hold, with their ``record_id``;
        their ids are added to the index at once (later chunks and inputs see them)."""
        if table.num_rows == 0:
            return table
        self.hosts |= hosts_of(table, self.label)
        started = time.thread_time()
        try:
            return self._feed(table, raw, raw_base, spans)
        finally:
            self.index.stats.seconds += time.thread_time() - started

    def _feed(self, table: pa.Table, raw: bytes | memoryview, raw_base: int,
              spans: Sequence[np.ndarray] | None) -> pa.Table:
        ids = self.ids(table, raw, raw_base, spans)
        keep = np.ones(len(ids), dtype=bool)
        groups = _by_partition(table, self.label)
        for key, rows in groups.items():
            keep[rows] = ~self.index.known(key, ids[rows])
        for key, rows in groups.items():
            new = ids[rows[keep[rows]]]
            self.index.add(key, new)
            if self.keep_added:
                self.added.setdefault(key, []).append(new)
        self.known += int((~keep).sum())
        table = set_record_ids(table, ids)
        return table if keep.all() else table.filter(pa.array(keep))


def set_record_ids(table: pa.Table, ids: np.ndarray) -> pa.Table:
    """``table`` with its ``record_id`` column filled."""
    at = table.schema.get_field_index("record_id")
    return table.set_column(at, table.schema.field(at), ids_to_array(ids))


def _scope_hosts(table: pa.Table, label: str | None) -> pa.Array:
    host = table.column("host").combine_chunks()
    if label is not None:
        host = host.fill_null(label)
    return host


def _by_partition(table: pa.Table, label: str | None) -> dict[str, np.ndarray]:
    from knox_analytics.store.partition import partition_keys

    keys = partition_keys(table, label)
    codes = keys.indices.to_numpy(zero_copy_only=False)
    names = keys.dictionary.to_pylist()
    if len(names) == 1:
        return {names[0]: np.arange(len(codes))}
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(names)))))
    return {name: order[bounds[i]:bounds[i + 1]] for i, name in enumerate(names)
            if bounds[i + 1] > bounds[i]}
