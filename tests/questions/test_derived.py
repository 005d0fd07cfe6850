"""Derived process state grows with the dataset and answers exactly like a full pass.

A trail is cut at record boundaries into pieces that are converted one at a time (in
time order, and shuffled: a trail of an earlier period converted later); after each
addition every process view read from the derived state must equal the same SQL run over
all the records at once.  Fixtures: ``tests/data/trails/synthetic-workload.bsm`` and
``sample_trails/generated-workday.bsm`` (provenance in tests/data/trails/README.md).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from knoxtest import WORKDAY, WORKLOAD

from knox_analytics import Catalog
from knox_analytics.bsm.reader import read_trail
from knox_analytics.convert import convert as knox_convert
from knox_analytics.store import DatasetWriter, derived
from knox_analytics.store.derived import Epoch, State, plan


def convert(*args: object, **kwargs: object) -> object:
    """knox convert without deriving at convert time: these tests watch the questions
    derive (convert's own derivation is tested in test_catalog.py)."""
    return knox_convert(*args, derive=False, **kwargs)

VIEWS = ["process_instances", "execs", "commands", "processes", "record_process",
         "activity", "process_events", "instance_commands"]


def record_offsets(trail: Path) -> list[int]:
    """Offsets at which a trail can be cut into pieces that are trails themselves."""
    tables = [r.table for r in read_trail(trail)]
    return sorted(set(pa.concat_tables(tables).column("offset").to_pylist()))[1:]


def cut(trail: Path, cuts: list[int], out: Path) -> list[Path]:
    data = trail.read_bytes()
    bounds = [0, *sorted(cuts), len(data)]
    out.mkdir(parents=True, exist_ok=True)
    pieces = []
    for n, (a, b) in enumerate(itertools.pairwise(bounds)):
        piece = out / f"piece{n}.bsm"
        piece.write_bytes(data[a:b])
        pieces.append(piece)
    return pieces


def rows(cat: Catalog, query: str) -> list[tuple]:
    return sorted(cat.sql(query).fetchall(), key=repr)


def full(root: Path) -> Catalog:
    """The same SQL over every record at once, no derived state (today's computation)."""
    cat = Catalog([root])
    cat._derived = None
    return cat


def assert_like_full(root: Path) -> Catalog:
    with Catalog([root]) as inc, full(root) as whole:
        for view in VIEWS:
            assert rows(inc, f"SELECT * FROM {view}") == rows(whole, f"SELECT * FROM {view}"), view
        tree = "SELECT * FROM process_forest([1, 100, 501])"
        assert rows(inc, tree) == rows(whole, tree)
        return inc


OFFSETS = {trail: record_offsets(trail) for trail in (WORKLOAD, WORKDAY) if trail.exists()}


@pytest.mark.slow
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_added_pieces_answer_like_a_full_pass(tmp_path_factory: pytest.TempPathFactory,
                                              data: st.DataObject) -> None:
    trail = data.draw(st.sampled_from(sorted(OFFSETS)))
    n = data.draw(st.integers(2, 4))
    cuts = data.draw(st.lists(st.sampled_from(OFFSETS[trail]), min_size=n - 1,
                              max_size=n - 1, unique=True))
    work = tmp_path_factory.mktemp("pieces")
    pieces = cut(trail, cuts, work / "in")
    if data.draw(st.booleans()):
        random.Random(data.draw(st.integers(0, 99))).shuffle(pieces)
    root = work / "ds"
    with pytest.MonkeyPatch.context() as patch:
        if data.draw(st.booleans()):  # keep every epoch: carries read from several files
            patch.setattr(derived, "_merge_tail", lambda *args: None)
        for piece in pieces:
            convert([piece], root, host="mac")
            assert_like_full(root)


def test_a_later_trail_is_derived_from_its_own_parts(tmp_path: Path) -> None:
    offsets = OFFSETS[WORKLOAD]
    early, late = cut(WORKLOAD, [offsets[len(offsets) // 2]], tmp_path / "in")
    root = tmp_path / "ds"
    convert([early], root, host="mac")
    with Catalog([root]) as cat:
        cat.sql("SELECT count(*) FROM processes").fetchall()
        assert len(cat.derived_parts) == 1
    before = set(derived.committed_parts(root))
    convert([late], root, host="mac")
    new = set(derived.committed_parts(root)) - before
    inc = assert_like_full(root)
    assert [set(p) for p in inc.derived_parts] == [new]  # the old parts were not read
    # the new epoch's rows are exactly the new records' (record_process: one per record)
    # (the two epochs, of similar size, were then merged into one segment: seg-2)
    state = json.loads(next(root.glob("_knox_cache/derived-*/state.json")).read_text())
    assert [(len(e["parts"]), e["segment"]) for e in state["epochs"]] \
        == [(len(before) + len(new), "seg-2")]
    segment = next(root.glob("_knox_cache/derived-*")) / "seg-1"
    got = pq.read_table(segment / "record_process.parquet-cache").num_rows
    with Catalog([root]) as cat:
        files = ", ".join(f"'{root / p}'" for p in new)
        want = cat.sql(f"SELECT count(*) FROM read_parquet([{files}]) "
                       "WHERE header_token <> 17").fetchall()[0][0]
    assert got == want
    with Catalog([root]) as cat:  # up to date: nothing derived again
        cat.sql("SELECT count(*) FROM processes").fetchall()
        assert cat.derived_parts == []


def test_an_earlier_trail_rederives_from_the_epoch_it_overlaps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derived, "_merge_tail", lambda *args: None)  # keep every epoch
    offsets = OFFSETS[WORKLOAD]
    first, second, third = cut(WORKLOAD, [offsets[2000], offsets[2500]], tmp_path / "in")
    root = tmp_path / "ds"
    parts: dict[Path, set[str]] = {}
    for piece in (first, third, second):
        before = set(derived.committed_parts(root)) if root.exists() else set()
        convert([piece], root, host="mac")
        parts[piece] = set(derived.committed_parts(root)) - before
        with Catalog([root]) as cat:
            cat.sql("SELECT count(*) FROM processes").fetchall()
            read = set(cat.derived_parts[0])
    assert read == parts[second] | parts[third]  # not the first piece's parts
    assert_like_full(root)


def test_read_only_dataset_derives_once_in_the_user_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    if os.geteuid() == 0:  # root writes anywhere: make the dataset read-only for us too
        monkeypatch.setattr(derived, "_can_write", lambda path: False)
    try:
        with Catalog([root]) as cat:
            first = rows(cat, "SELECT * FROM processes")
            assert cat.derived_parts
        state = next((tmp_path / "xdg" / "knox-analytics").glob("*/derived-*/state.json"))
        stamp = state.stat().st_mtime_ns
        with Catalog([root]) as cat:
            assert rows(cat, "SELECT * FROM processes") == first
            assert cat.derived_parts == []  # not rebuilt
        assert state.stat().st_mtime_ns == stamp
        assert not (root / "_knox_cache").exists()
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


def test_compaction_keeps_the_derived_epochs() -> None:
    state = State("k", [Epoch(["a", "b"], ["1", "2"], 0, 10, "seg-0"),
                        Epoch(["c"], ["3"], 11, 20, "seg-1")])
    current = {"ab": "9", "c": "3"}
    first, redo = plan(state, current, lambda p: (0, 10), [(["a", "b"], ["ab"])])
    assert (first, redo) == (2, [])  # nothing to derive: the records live on in "ab"
    assert state.epochs[0].parts == ["ab"]
    # a part that vanished without a compaction re-derives its epoch and the later ones
    state = State("k", [Epoch(["a", "b"], ["1", "2"], 0, 10, "seg-0"),
                        Epoch(["c"], ["3"], 11, 20, "seg-1")])
    first, redo = plan(state, {"a": "1", "c": "3"}, lambda p: (0, 10))
    assert (first, redo) == (0, ["a", "c"])


def test_update_derived_after_a_commit(tmp_path: Path) -> None:
    from knox_analytics.catalog import update_derived

    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac")
    assert set(update_derived(root)) == set(derived.committed_parts(root))
    assert update_derived(root) == []
    with Catalog([root]) as cat:  # the question finds it ready
        assert cat.sql("SELECT count(*) FROM processes").fetchall()[0][0] > 0
        assert cat.derived_parts == []


def test_compaction_across_epochs_derives_nothing(tmp_path: Path) -> None:
    offsets = OFFSETS[WORKLOAD]
    early, late = cut(WORKLOAD, [offsets[2600]], tmp_path / "in")
    root = tmp_path / "ds"
    for piece in (early, late):
        convert([piece], root, host="mac")
        with Catalog([root]) as cat:
            cat.sql("SELECT count(*) FROM processes").fetchall()
    state = next(root.glob("_knox_cache/derived-*/state.json"))
    assert len(json.loads(state.read_text())["epochs"]) == 2
    # the store compacts the partition: one part from each epoch becomes one part
    with DatasetWriter(root) as writer:
        assert writer.compact(["host=mac/date=2026-03-01"]) == 2
    merged, = [p for p in derived.committed_parts(root)
               if p.startswith("host=mac/date=2026-03-01/")]
    inc = assert_like_full(root)
    assert inc.derived_parts == []  # the two epochs' rows were merged, not derived again
    epochs = json.loads(state.read_text())["epochs"]
    assert len(epochs) == 1 and merged in epochs[0]["parts"]


def test_nowhere_to_keep_state_computes_in_memory(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac")
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    monkeypatch.setattr(derived, "_can_write", lambda path: False)
    with Catalog([root]) as cat, full(root) as whole:
        assert rows(cat, "SELECT * FROM processes") == rows(whole, "SELECT * FROM processes")
        assert cat.derived_parts == [] and cat._derived is None
    assert not (root / "_knox_cache").exists()
