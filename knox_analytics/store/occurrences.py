"""How many times each record came before in one input: the occurrence counts of the
multiset rule (:mod:`.identity`), in memory that does not grow with the input.

The first half of each distinct record id is kept with its count (12 bytes a distinct
record) in sorted levels merged like a binary counter.  Past :data:`IN_MEMORY` distinct
records the levels are written to a sorted **run** on disk, and runs of similar size are
merged the same way, slice of key range by slice (ids are uniform hashes, so a slice of
the key range holds its share of every run).  A chunk's lookup maps each run afresh and
drops the mapping after: a lookup of random keys touches nearly every page of a run, and
pages kept mapped count in the process's memory.

Keyed by 64 bits: two different records of one input sharing them (odds ~n^2/2^65)
would number the second as a repetition; its id is still unique.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knox_analytics.store.npyfiles import key_ranges, rows_of, slices

#: An input's occurrence counts on disk (kept with its manifest entry, so that the input
#: grown goes on counting where it stopped): first halves of ids, how often each came.
OCC_DTYPE = np.dtype([("key", "<u8"), ("count", "<u4")])
#: Distinct records whose counts stay in memory before they are written to a run.
IN_MEMORY = 1_000_000
#: Keys a merge of runs holds at once (a slice of the key range of every run).
MERGE_SLICE = 1_000_000

Level = tuple[np.ndarray, np.ndarray]  # sorted keys (u64), their counts (u32)


@dataclass
class _Run:
    """Sorted keys and their counts in two raw files."""

    keys: Path
    counts: Path
    size: int

    def counts_for(self, sorted_keys: np.ndarray) -> np.ndarray:
        """The count of each of ``sorted_keys`` in the run (0 where absent), a slice of
        the run mapped at a time."""
        out = np.zeros(len(sorted_keys), np.uint32)
        all_keys, all_counts = self.arrays()  # mapped, not read: only slices are
        for lo in range(0, self.size, MERGE_SLICE):
            hi = min(self.size, lo + MERGE_SLICE)
            keys = rows_of(all_keys, lo, hi)
            a = int(np.searchsorted(sorted_keys, keys[0], "left"))
            b = int(np.searchsorted(sorted_keys, keys[-1], "right"))
            if b > a:
                out[a:b] = _counts_of((keys, rows_of(all_counts, lo, hi)), sorted_keys[a:b])
        return out

    def arrays(self) -> Level:
        """A fresh mapping of the whole run (dropped with the arrays): for merges, which
        copy it a key range at a time."""
        if not self.size:
            return np.zeros(0, np.uint64), np.zeros(0, np.uint32)
        return (np.memmap(self.keys, np.uint64, "r", shape=(self.size,)),
                np.memmap(self.counts, np.uint32, "r", shape=(self.size,)))


@dataclass
class Occurrences:
    """The occurrence counts of one input so far.  ``spill``: a directory where runs
    may be written (made on first need, removed by :meth:`close`); None keeps every
    count in memory (a worker's range, bounded by the range)."""

    levels: list[Level] = field(default_factory=list)
    spill: Path | None = None
    runs: list[_Run] = field(default_factory=list)
    _dir: Path | None = None
    _written: int = 0  # runs written so far (their file names)

    @classmethod
    def of(cls, table: np.ndarray | None, spill: Path | None = None) -> Occurrences:
        """The counts of an input so far (:meth:`table` of its earlier conversion; may
        be a memory map)."""
        occ = cls(spill=spill)
        if table is None or len(table) == 0:
            return occ
        if spill is not None and len(table) > IN_MEMORY:
            occ.runs.append(occ._write_run(
                (np.ascontiguousarray(part["key"]), np.ascontiguousarray(part["count"]))
                for part in slices(table, MERGE_SLICE)))
        else:
            occ.levels.append((np.ascontiguousarray(table["key"]),
                               np.ascontiguousarray(table["count"])))
        return occ

    def number(self, base: np.ndarray) -> np.ndarray:
        """The occurrence number of each record (``base``: first-occurrence ids, in
        input order), and remember them."""
        keys = base["hi"]
        n = len(keys)
        if n == 0:
            return np.zeros(0, np.uint32)
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        first = np.ones(n, dtype=bool)
        first[1:] = sk[1:] != sk[:-1]
        group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        within = np.arange(n) - group_start
        prior = np.zeros(n, np.uint32)
        for run in self.runs:
            prior += run.counts_for(sk)
        for level in self.levels:
            prior += _counts_of(level, sk)
        occ = np.empty(n, np.uint32)
        occ[order] = prior + within
        uniq = sk[first]
        counts = np.diff(np.append(np.flatnonzero(first), n)).astype(np.uint32)
        self._push(uniq, counts)
        return occ

    def table(self) -> np.ndarray:
        """The counts as one sorted table (:data:`OCC_DTYPE`): in memory while they fit
        there, else a memory map of a file in the spill directory (valid until
        :meth:`close`)."""
        if not self.runs:
            return _as_table(*merge_levels(self.levels))
        path = self._directory() / f"table-{len(self.runs)}.occ"
        size = 0
        with open(path, "wb") as fh:
            for keys, counts in self._merged_slices([r.arrays() for r in self.runs]
                                                    + self.levels):
                fh.write(_as_table(keys, counts).tobytes())
                size += len(keys)
        if not size:
            return np.zeros(0, OCC_DTYPE)
        return np.memmap(path, OCC_DTYPE, "r", shape=(size,))

    def close(self) -> None:
        """Remove the runs."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir, self.runs = None, []

    # -- keeping it bounded ---------------------------------------------------------------
    def _push(self, keys: np.ndarray, counts: np.ndarray) -> None:
        self.levels.append((keys, counts))
        while len(self.levels) > 1 and len(self.levels[-2][0]) <= 2 * len(self.levels[-1][0]):
            b, a = self.levels.pop(), self.levels.pop()
            self.levels.append(merge_levels([a, b]))
        if self.spill is not None and sum(len(k) for k, _ in self.levels) > IN_MEMORY:
            self.runs.append(self._write_run([merge_levels(self.levels)]))
            self.levels = []
            while len(self.runs) > 1 and self.runs[-2].size <= 2 * self.runs[-1].size:
                b, a = self.runs.pop(), self.runs.pop()
                self.runs.append(self._write_run(self._merged_slices([a.arrays(),
                                                                      b.arrays()])))
                for old in (a, b):
                    old.keys.unlink()
                    old.counts.unlink()

    def _merged_slices(self, sources: list[Level]) -> Iterator[Level]:
        """The sources added up, as sorted pieces of at most about :data:`MERGE_SLICE`
        keys each, in key order."""
        for cuts in key_ranges([k for k, _ in sources], MERGE_SLICE):
            pieces = [(np.array(rows_of(keys, a, b)), np.array(rows_of(counts, a, b)))
                      for (keys, counts), (a, b) in zip(sources, cuts, strict=True) if b > a]
            if pieces:
                yield merge_levels(pieces)

    def _write_run(self, pieces: Iterable[Level]) -> _Run:
        directory = self._directory()
        self._written += 1
        n = self._written
        run = _Run(directory / f"run-{n}.keys", directory / f"run-{n}.counts", 0)
        with open(run.keys, "wb") as fk, open(run.counts, "wb") as fc:
            for keys, counts in pieces:
                fk.write(np.ascontiguousarray(keys, np.uint64).tobytes())
                fc.write(np.ascontiguousarray(counts, np.uint32).tobytes())
                run.size += len(keys)
        return run

    def _directory(self) -> Path:
        if self._dir is None:
            from knox_analytics.store.safefs import fresh_private_dir, private_dir

            assert self.spill is not None
            self._dir = fresh_private_dir(private_dir(self.spill), "occ-")
        return self._dir


def _counts_of(level: Level, sorted_keys: np.ndarray) -> np.ndarray:
    """The count in ``level`` of each of ``sorted_keys`` (0 where absent)."""
    keys, counts = level
    if len(keys) == 0:
        return np.zeros(len(sorted_keys), np.uint32)
    pos = np.minimum(np.searchsorted(keys, sorted_keys), len(keys) - 1)
    return np.where(keys[pos] == sorted_keys, counts[pos], 0).astype(np.uint32)


def merge_levels(levels: list[Level]) -> Level:
    """Levels added up into one (:func:`merge_counts` adds up tables with it), on the
    two arrays of each and freeing each temporary as soon as it is used: the end of a big input
    merges all its counts at once, and 12-byte rows copied whole cost 4-5 times them."""
    levels = [lv for lv in levels if len(lv[0])]
    if not levels:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint32)
    keys = np.concatenate([k for k, _ in levels])
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    counts = np.concatenate([c for _, c in levels])[order]
    del order
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    keys = keys[first]
    del first
    counts = np.add.reduceat(counts, starts).astype(np.uint32, copy=False) \
        if len(starts) < len(counts) else counts.astype(np.uint32, copy=False)
    return keys, counts


def _as_table(keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
    out = np.empty(len(keys), OCC_DTYPE)
    out["key"], out["count"] = keys, counts
    return out


def merge_counts(tables: list[np.ndarray]) -> np.ndarray:
    """Occurrence tables added up, as one sorted table."""
    return _as_table(*merge_levels([(t["key"], t["count"]) for t in tables]))
