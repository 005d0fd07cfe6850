"""The id index's sorted sets: membership whatever the order ids were added in, with
first halves shared by different ids (64-bit collisions forced by a tiny alphabet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from knox_analytics.store import npyfiles
from knox_analytics.store.identity import (
    ID_DTYPE,
    IdIndex,
    contains,
    contains_sliced,
    write_ids,
    write_merged,
)

ids_lists = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2**64 - 1)), max_size=60)


def as_ids(pairs: list[tuple[int, int]]) -> np.ndarray:
    out = np.zeros(len(pairs), ID_DTYPE)
    for i, (hi, lo) in enumerate(pairs):
        out[i] = (hi, lo)
    return out


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(ids_lists, max_size=6), queries=ids_lists)
def test_known_is_set_membership(batches: list, queries: list) -> None:
    index = IdIndex(Path("/nonexistent"), [])
    for batch in batches:  # levels merged as a binary counter: runs of sorted ids
        index.add("host=h/date=d", as_ids(batch))
    held = {pair for batch in batches for pair in batch}
    found = index.known("host=h/date=d", as_ids(queries))
    assert found.tolist() == [pair in held for pair in queries]
    merged = index.take_pending().get("host=h/date=d", as_ids([]))
    assert contains(merged, as_ids(queries)).tolist() == [pair in held for pair in queries]


def test_merged_index_files_are_searchable(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    parts = []
    for i in range(3):
        ids = np.zeros(500, ID_DTYPE)
        ids["hi"] = rng.integers(0, 40, 500, dtype=np.uint64)  # many shared first halves
        ids["lo"] = rng.integers(0, 2**63, 500, dtype=np.uint64)
        parts.append(ids)
        write_ids(tmp_path / f"ids-{i}.npy", ids[np.argsort(ids["hi"], kind="stable")])
    write_merged([tmp_path / f"ids-{i}.npy" for i in range(3)], tmp_path / "merged.npy")
    merged = np.load(tmp_path / "merged.npy")
    assert np.all(merged["hi"][1:] >= merged["hi"][:-1])
    everything = np.concatenate(parts)
    assert contains(merged, everything).all()
    absent = everything.copy()
    absent["lo"] ^= np.uint64(1) << np.uint64(63)
    assert not contains(merged, absent).any()


def test_lookups_and_merges_a_slice_at_a_time_answer_as_whole(tmp_path, monkeypatch):
    """Index files are mapped and merged a slice of rows at a time (a lookup of random
    ids touches every mapped page, which counts as the process's memory): with slices of
    64 rows, the answers are those of the whole arrays."""
    monkeypatch.setattr(npyfiles, "SLICE_ROWS", 64)
    rng = np.random.default_rng(11)
    parts = []
    for i in range(3):
        ids = np.zeros(700, ID_DTYPE)
        ids["hi"] = rng.integers(0, 2**64 - 1, 700, dtype=np.uint64)
        ids["hi"][:5] = 12345  # first halves shared inside a slice
        ids["lo"] = rng.integers(0, 2**63, 700, dtype=np.uint64)
        ids = ids[np.argsort(ids["hi"], kind="stable")]
        parts.append(ids)
        write_ids(tmp_path / f"ids-{i}.npy", ids)
        assert (np.load(tmp_path / f"ids-{i}.npy") == ids).all()
    write_merged([tmp_path / f"ids-{i}.npy" for i in range(3)], tmp_path / "merged.npy")
    merged = np.load(tmp_path / "merged.npy", mmap_mode="r")
    everything = np.concatenate(parts)
    assert len(merged) == 2100 and np.all(merged["hi"][1:] >= merged["hi"][:-1])
    assert sorted(map(tuple, np.asarray(merged).tolist())) == sorted(
        map(tuple, everything.tolist()))
    absent = everything.copy()
    absent["lo"] ^= np.uint64(1) << np.uint64(63)
    queries = np.concatenate((everything, absent))[rng.permutation(4200)]
    assert (contains_sliced(merged, queries) == contains(np.asarray(merged), queries)).all()
    assert contains_sliced(merged, queries).sum() == 2100
