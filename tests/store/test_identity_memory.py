"""Record identity holds bounded memory while an input is fed chunk after chunk: no
copy of the kept ids beside the index (it writes them out at a bound), no per-chunk
copy of the input's occurrence counts (a lookup touches only what the chunk asks
about), counts past a bound on disk, and index files not kept mapped.  All of these
used to grow with the input (``knox convert`` of 2 GB: 1.9 GiB)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
from knoxtest import WORKLOAD

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.store import DatasetWriter
from knox_analytics.store import occurrences as occ_module
from knox_analytics.store.identity import ID_DTYPE, IdIndex, RecordFilter
from knox_analytics.store.occurrences import OCC_DTYPE, Occurrences, merge_counts

DATA = WORKLOAD.read_bytes()
TABLE = decode_bytes(DATA).table


def test_a_filter_keeps_no_copy_of_the_ids_it_kept() -> None:
    index = IdIndex(Path("/nonexistent"), [])
    filt = RecordFilter(index, "h")
    for _ in range(20):  # the same records again: repeats, all kept
        kept = filt.feed(TABLE, DATA, 0)
        assert kept.num_rows == TABLE.num_rows
    assert index.pending_ids == 20 * TABLE.num_rows
    assert filt.added == {}  # the index has them; nothing else holds them
    filt.hasher.close()


def test_a_worker_filter_still_hands_over_its_ids() -> None:
    index = IdIndex(Path("/nonexistent"), [])
    filt = RecordFilter(index, "h", keep_added=True)
    for _ in range(3):
        filt.feed(TABLE, DATA, 0)
    assert sum(len(a) for v in filt.added.values() for a in v) == 3 * TABLE.num_rows
    filt.hasher.close()


def _chunk(rng: np.random.Generator, n: int) -> np.ndarray:
    base = np.zeros(n, ID_DTYPE)
    base["hi"] = rng.integers(0, 2**63, n, dtype=np.uint64)
    return base


def test_numbering_a_chunk_does_not_copy_the_counts_so_far() -> None:
    rng = np.random.default_rng(5)
    held = np.zeros(1_000_000, OCC_DTYPE)  # an input resumed: 1M distinct records so far
    held["key"] = np.sort(rng.integers(0, 2**63, len(held), dtype=np.uint64))
    held["count"] = 1
    occ = Occurrences.of(held)
    for _ in range(40):  # levels merged as a binary counter
        occ.number(_chunk(rng, 5_000))
    for keys, counts in occ.levels:
        assert keys.flags.c_contiguous and keys.flags.aligned
        assert counts.flags.c_contiguous
    chunk = _chunk(rng, 1_000)
    tracemalloc.start()
    try:
        occ.number(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the chunk's own arrays, not a copy of the 8 MB of keys held (12 MB with counts)
    assert peak < 1 << 20
    assert len(occ.table()) == len(held) + 40 * 5_000 + 1_000


def test_the_counts_of_an_input_are_merged_in_little_more_than_their_size() -> None:
    rng = np.random.default_rng(6)
    occ = Occurrences()
    for _ in range(64):
        occ.number(_chunk(rng, 10_000))
    tracemalloc.start()
    try:
        table = occ.table()  # the end of every input: all its counts at once
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(table) == 64 * 10_000
    assert peak < 3.5 * table.nbytes  # was 4.8 times: 12-byte rows copied whole


def test_counts_past_the_bound_go_to_runs_and_number_alike(tmp_path: Path,
                                                           monkeypatch) -> None:
    """With a bound of 3,000 distinct records in memory, 40 chunks of 1,000 (a fifth of
    them repeats of earlier chunks) number every record as all-in-memory counting does,
    hold at most the bound in memory, and give the same table."""
    monkeypatch.setattr(occ_module, "IN_MEMORY", 3_000)
    monkeypatch.setattr(occ_module, "MERGE_SLICE", 700)
    rng = np.random.default_rng(7)
    chunks, seen = [], np.zeros(0, np.uint64)
    for _ in range(40):
        chunk = _chunk(rng, 1_000)
        if len(seen):
            chunk["hi"][:200] = rng.choice(seen, 200)  # repeats of earlier records
        seen = np.concatenate((seen, chunk["hi"]))
        chunks.append(chunk)
    spilled, memory = Occurrences(spill=tmp_path / "spill"), Occurrences()
    for chunk in chunks:
        assert (spilled.number(chunk) == memory.number(chunk)).all()
        assert sum(len(k) for k, _ in spilled.levels) <= 3_000
    assert spilled.runs and len(spilled.runs) <= 6  # runs of like size merged
    table = spilled.table()
    assert isinstance(table, np.memmap)
    assert (np.asarray(table) == memory.table()).all()
    # an input resumed from a big table goes on from it through runs
    resumed = Occurrences.of(table, tmp_path / "spill")
    assert resumed.runs and not resumed.levels
    again = _chunk(rng, 500)
    again["hi"][:100] = seen[:100]
    want = Occurrences.of(merge_counts([memory.table()])).number(again)
    assert (resumed.number(again) == want).all()
    for o in (spilled, resumed):
        o.close()
    assert not list((tmp_path / "spill").iterdir())


def test_a_writer_leaves_no_counts_behind(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(occ_module, "IN_MEMORY", 500)
    from knox_analytics.convert import convert

    root = tmp_path / "ds"
    convert([WORKLOAD], root)
    assert not (root / "_staging").exists()
    with DatasetWriter(root) as writer:
        entry = writer.manifest.sources[0]
        table = np.load(root / entry.occurrences)
    assert table["count"].sum() == TABLE.num_rows
