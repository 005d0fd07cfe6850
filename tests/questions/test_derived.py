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
from knoxtest import WORKDAY, WORKLOAD, InProcessSpark

from knox_analytics import Catalog
from knox_analytics.bsm.reader import read_trail
from knox_analytics.convert import convert as knox_convert
from knox_analytics.derived import DerivedState, files
from knox_analytics.derived import plan as planner
from knox_analytics.derived import state as state_module
from knox_analytics.derived.plan import Epoch, State, plan
from knox_analytics.store import DatasetWriter, cache, load_manifest


def update_derived(root: Path, merge: bool = True) -> list[str]:
    """The upkeep a writer runs after its commit: the parts it had to read."""
    state = DerivedState.of(root)
    state.update(merge=merge)
    return [p for parts in state.derived_parts for p in parts]


def merge_derived(root: Path) -> int:
    return DerivedState.of(root).merge()


def committed_parts(root: Path) -> list[str]:
    return list(load_manifest(root).parts)


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
    return Catalog([root], derived=False)


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
    # questions derive and merge; an upkeep derives without merging, then merges (as
    # capture's threads do); small epochs cut every derivation into many (carries read
    # from several files); a capture compacts its parts: shared by the epochs they came
    # from
    mode = data.draw(st.sampled_from(["questions", "upkeep", "small", "compacted"]))
    with pytest.MonkeyPatch.context() as patch:
        if mode == "small":
            patch.setattr(planner, "EPOCH_RECORDS", data.draw(st.integers(50, 800)))
        for piece in pieces:
            convert([piece], root, host="mac")
            if mode == "upkeep":
                update_derived(root, merge=False)
                merge_derived(root)
            inc = assert_like_full(root)
            if mode == "compacted":
                with DatasetWriter(root) as writer:
                    writer.compact({p.rsplit("/", 1)[0] for p in writer.manifest.parts})
                assert inc.derived_parts  # (a question derived before each compaction)
                assert_like_full(root)


def test_a_later_trail_is_derived_from_its_own_parts(tmp_path: Path) -> None:
    offsets = OFFSETS[WORKLOAD]
    early, late = cut(WORKLOAD, [offsets[len(offsets) // 2]], tmp_path / "in")
    root = tmp_path / "ds"
    convert([early], root, host="mac")
    with Catalog([root]) as cat:
        cat.sql("SELECT count(*) FROM processes").fetchall()
        assert len(cat.derived_parts) == 1
    before = set(committed_parts(root))
    convert([late], root, host="mac")
    new = set(committed_parts(root)) - before
    inc = assert_like_full(root)
    assert [set(p) for p in inc.derived_parts] == [new]  # the old parts were not read
    # the new epoch's rows are exactly the new records' (record_process: one per record)
    state_file = next(root.glob("_knox_cache/derived-*/state.json"))
    state = json.loads(state_file.read_text())
    assert [(len(e["parts"]), e["segments"]) for e in state["epochs"]] \
        == [(len(before), ["seg-0"]), (len(new), ["seg-1"])]
    segment = state_file.parent / "seg-1"
    got = pq.read_table(segment / "record_process.parquet-cache").num_rows
    with Catalog([root]) as cat:
        files = ", ".join(f"'{root / p}'" for p in new)
        want = cat.sql(f"SELECT count(*) FROM read_parquet([{files}]) "
                       "WHERE header_token <> 17").fetchall()[0][0]
    assert got == want
    with Catalog([root]) as cat:  # up to date: nothing derived again
        cat.sql("SELECT count(*) FROM processes").fetchall()
        assert cat.derived_parts == []
    # an upkeep leaves the newest epoch alone: the next derivation may start there again
    assert update_derived(root) == []
    assert json.loads(state_file.read_text()) == state


@pytest.mark.slow
def test_an_earlier_trail_rederives_from_the_epoch_it_overlaps(
        tmp_path: Path) -> None:
    offsets = OFFSETS[WORKLOAD]
    first, second, third = cut(WORKLOAD, [offsets[2000], offsets[2500]], tmp_path / "in")
    root = tmp_path / "ds"
    parts: dict[Path, set[str]] = {}
    for piece in (first, third, second):
        before = set(committed_parts(root)) if root.exists() else set()
        convert([piece], root, host="mac")
        parts[piece] = set(committed_parts(root)) - before
        with Catalog([root]) as cat:
            cat.sql("SELECT count(*) FROM processes").fetchall()
            read = set(cat.derived_parts[0])
    assert read == parts[second] | parts[third]  # not the first piece's parts
    assert_like_full(root)


@pytest.mark.slow
def test_an_earlier_trail_after_a_compaction_rederives_only_what_follows_it(
        tmp_path: Path) -> None:
    """A compaction leaves a part shared by the epochs it came from; a trail of an
    earlier period then re-derives from the epoch it overlaps, reading the shared part's
    records after the epoch before it, and the epochs before stay as they were."""
    offsets = OFFSETS[WORKLOAD]
    first, second, third = cut(WORKLOAD, [offsets[2000], offsets[2500]], tmp_path / "in")
    root = tmp_path / "ds"
    for piece in (first, third):
        convert([piece], root, host="mac")
        assert_like_full(root)
    with DatasetWriter(root) as writer:
        assert writer.compact({p.rsplit("/", 1)[0] for p in writer.manifest.parts}) >= 2
    shared = set(committed_parts(root))
    assert assert_like_full(root).derived_parts == []  # bookkeeping only
    state_file = next(root.glob("_knox_cache/derived-*/state.json"))
    before = json.loads(state_file.read_text())["epochs"]
    assert len(before) == 2 and all(set(e["parts"]) == shared for e in before)
    convert([second], root, host="mac")
    new = set(committed_parts(root)) - shared
    inc = assert_like_full(root)
    assert [set(p) for p in inc.derived_parts] == [shared | new]  # from the second epoch
    after = json.loads(state_file.read_text())["epochs"]
    assert after[0] == before[0]  # the first epoch kept, its segment not derived again


def test_read_only_dataset_derives_once_in_the_user_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    if os.geteuid() == 0:  # root writes anywhere: make the dataset read-only for us too
        monkeypatch.setattr(files, "can_write", lambda path: False)
        monkeypatch.setattr(cache, "can_write", lambda path: False)  # the spill directory
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
    state = State("k", [Epoch(["a", "b"], ["1", "2"], 0, 10, ["seg-0"]),
                        Epoch(["c"], ["3"], 11, 20, ["seg-1"])])
    current = {"ab": "9", "c": "3"}
    first, redo = plan(state, current, lambda p: (0, 10), [(["a", "b"], ["ab"])])
    assert (first, redo) == (2, [])  # nothing to derive: the records live on in "ab"
    assert state.epochs[0].parts == ["ab"]
    # a part that vanished without a compaction re-derives its epoch and the later ones
    state = State("k", [Epoch(["a", "b"], ["1", "2"], 0, 10, ["seg-0"]),
                        Epoch(["c"], ["3"], 11, 20, ["seg-1"])])
    first, redo = plan(state, {"a": "1", "c": "3"}, lambda p: (0, 10))
    assert (first, redo) == (0, ["a", "c"])
    # parts of two epochs compacted into one: the part is shared, the epochs stay
    def epochs() -> State:
        return State("k", [Epoch(["host=h/date=2026-03-01/a"], ["1"], 0, 10, ["seg-0"]),
                           Epoch(["host=h/date=2026-03-01/b"], ["2"], 11, 20, ["seg-1"]),
                           Epoch(["host=h/date=2026-03-01/c"], ["3"], 21, 30, ["seg-2"])])
    a, b, c, ac = (f"host=h/date=2026-03-01/{n}" for n in ("a", "b", "c", "ac"))
    state = epochs()
    first, redo = plan(state, {ac: "9", b: "2"}, lambda p: (0, 30), [([a, c], [ac])])
    assert (first, redo) == (3, [])
    assert [(e.parts, e.tmin, e.tmax, e.segments) for e in state.epochs] \
        == [([ac], 0, 10, ["seg-0"]), ([b], 11, 20, ["seg-1"]), ([ac], 21, 30, ["seg-2"])]
    # ... and a later trail reaching into the second epoch re-derives from there only,
    # reading the shared part once (derive's ``after`` keeps the first epoch's records out)
    first, redo = plan(state, {ac: "9", b: "2", "new": "4"},
                       lambda p: (15, 40) if p == "new" else (0, 30))
    assert (first, redo) == (1, [b, ac, "new"])
    # compacted again, with a part of the third epoch: still shared, nothing derived
    state = epochs()
    plan(state, {ac: "9", b: "2"}, lambda p: (0, 30), [([a, c], [ac])])
    first, redo = plan(state, {"abc": "7"}, lambda p: (0, 30), [([ac, b], ["abc"])])
    assert (first, redo) == (3, []) and [e.parts for e in state.epochs] == [["abc"]] * 3
    # records without a time have no range to tell epochs apart: those epochs are joined
    state = State("k", [Epoch([f"host=h/date=__HIVE_DEFAULT_PARTITION__/{n}"], [n], None,
                              None, [f"seg-{n}"]) for n in "xy"])
    null = "host=h/date=__HIVE_DEFAULT_PARTITION__/"
    first, redo = plan(state, {null + "xy": "5"}, lambda p: (None, None),
                       [([null + "x", null + "y"], [null + "xy"])])
    assert (first, redo) == (1, [])
    assert [(e.parts, e.segments) for e in state.epochs] == [([null + "xy"], ["seg-x", "seg-y"])]


@pytest.mark.slow
def test_merge_derived_merges_without_deriving(tmp_path: Path) -> None:
    offsets = OFFSETS[WORKLOAD]
    *pieces, latest = cut(WORKLOAD, [offsets[750], offsets[1500], offsets[2250]],
                          tmp_path / "in")
    root = tmp_path / "ds"
    for piece in pieces:
        convert([piece], root, host="mac")
        update_derived(root, merge=False)
    convert([latest], root, host="mac")  # not derived yet: merging leaves it to questions
    state_file = next(root.glob("_knox_cache/derived-*/state.json"))
    assert len(json.loads(state_file.read_text())["epochs"]) == 3
    assert merge_derived(root) == 2  # the two older ones (of similar size) merged
    epochs = json.loads(state_file.read_text())["epochs"]
    assert [e["segments"] for e in epochs] == [["seg-3"], ["seg-2"]]  # the newest kept
    inc = assert_like_full(root)
    assert len(inc.derived_parts) == 1  # the last piece, derived by the question


@pytest.mark.slow
def test_a_catalog_kept_open_follows_merged_segments(tmp_path: Path) -> None:
    """A notebook or ``knox shell`` keeps its catalog for hours; the segments it read
    are merged by an upkeep and removed later: its next query reads the new ones."""
    import shutil

    offsets = OFFSETS[WORKLOAD]
    pieces = cut(WORKLOAD, [offsets[1000], offsets[2000]], tmp_path / "in")
    root = tmp_path / "ds"
    for piece in pieces:
        convert([piece], root, host="mac")
        update_derived(root, merge=False)
    with Catalog([root]) as cat:
        want = cat.query("SELECT count(*) AS n FROM processes").to_pylist()
        directory = next(root.glob("_knox_cache/derived-*"))
        pinned = [s.name for s in DerivedState.of(root).segments()][:2]
        assert merge_derived(root) == 2  # an upkeep merges the two older ones
        for name in pinned:  # ... and, 10 minutes later, removes what it let go
            shutil.rmtree(directory / name)
        assert cat.query("SELECT count(*) AS n FROM processes").to_pylist() == want
        assert cat.derived_state is not None


def test_a_state_of_another_format_is_derived_again(tmp_path: Path) -> None:
    """Derived state is a cache: an older format is not read (nor upgraded)."""
    (tmp_path / "state.json").write_text(json.dumps({"format": 2, "key": "k", "epochs": [
        {"parts": ["a"], "stamps": ["1"], "tmin": 0, "tmax": 9, "segments": ["seg-4"]}]}))
    assert files.load_state(tmp_path, "k").epochs == []
    files.save_state(tmp_path, State("k", [Epoch(["a"], ["1"], 0, 9, ["seg-4"])]))
    assert [(e.parts, e.segments) for e in files.load_state(tmp_path, "k").epochs] \
        == [(["a"], ["seg-4"])]
    assert files.load_state(tmp_path, "other").epochs == []


def test_merge_plan() -> None:
    merge_plan = planner.merge_plan
    assert merge_plan([]) == (0, 0) and merge_plan([5]) == (1, 1)
    assert merge_plan([100, 10]) == (2, 2)  # a small new segment waits
    assert merge_plan([100, 60]) == (0, 2)  # at least half the one before: merged
    assert merge_plan([100, 30, 20]) == (0, 3)  # 20 >= 30/2, then 50 >= 100/2
    assert merge_plan([300, 30, 20]) == (1, 3)


def test_a_merge_is_dropped_when_its_segments_changed_meanwhile(tmp_path: Path) -> None:
    directory = tmp_path / "d"

    def three_epochs() -> None:
        for n in range(3):
            (directory / f"seg-{n}").mkdir(parents=True, exist_ok=True)
            (directory / f"seg-{n}" / "carry.parquet-cache").write_bytes(b"x" * 10)
        epochs = [Epoch([f"p{n}"], ["s"], 10 * n, 10 * n + 5, [f"seg-{n}"]) for n in range(3)]
        files.save_state(directory, State("k", epochs))

    three_epochs()

    def merge(segments: list[Path], out: Path) -> None:
        assert [s.name for s in segments] == ["seg-0", "seg-1"]  # not the newest epoch
        # meanwhile another process re-derives from the second epoch into seg-9
        other = files.load_state(directory, "k")
        other.epochs[1:] = [Epoch(["p1", "p2"], ["s", "s"], 10, 25, ["seg-9"])]
        files.save_state(directory, other)
        (out / "carry.parquet-cache").write_bytes(b"y")

    state = state_module.compact(directory, "k", merge)
    assert state.segments() == ["seg-0", "seg-9"]  # the stale merge not taken
    assert sorted(p.name for p in directory.glob("seg-*")) == ["seg-0", "seg-1", "seg-2"]

    def honest(segments: list[Path], out: Path) -> None:
        (out / "carry.parquet-cache").write_bytes(b"y" * 30)

    three_epochs()
    state = state_module.compact(directory, "k", honest)
    assert [(e.parts, e.tmin, e.tmax) for e in state.epochs] \
        == [(["p0", "p1"], 0, 15), (["p2"], 20, 25)]
    assert state.segments()[1:] == ["seg-2"] and len(state.segments()) == 2


def test_an_up_to_date_state_is_read_without_the_lock(tmp_path: Path) -> None:
    import fcntl
    import threading

    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac")
    update_derived(root)
    lock = next(root.glob("_knox_cache/derived-*/lock"))
    answers: list[int] = []

    def ask() -> None:
        with Catalog([root]) as cat:
            answers.append(cat.sql("SELECT count(*) FROM processes").fetchall()[0][0])

    with open(lock, "a+") as held:  # another process derives or merges for a long time
        fcntl.flock(held, fcntl.LOCK_EX)
        question = threading.Thread(target=ask, daemon=True)
        question.start()
        question.join(timeout=60)
        assert not question.is_alive() and answers and answers[0] > 0


def test_update_derived_after_a_commit(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac")
    assert set(update_derived(root)) == set(committed_parts(root))
    assert update_derived(root) == []
    with Catalog([root]) as cat:  # the question finds it ready
        assert cat.sql("SELECT count(*) FROM processes").fetchall()[0][0] > 0
        assert cat.derived_parts == []


def test_a_derivation_reports_its_progress(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20: ``progress(done_epochs, total_epochs, done_records, total_records)``
    from (0, n, 0, records) to (n, n, records, records), never going back; records are
    the planner's estimate, which is about what the epochs held."""
    monkeypatch.setattr(planner, "EPOCH_RECORDS", 800)
    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac")
    calls: list[tuple[int, int, int, int]] = []
    merges: list[tuple[tuple[int, ...], int]] = []

    def progress(*counts: int, merging: int = 0) -> None:
        if merging:
            merges.append((counts, merging))
        else:
            calls.append(counts)  # type: ignore[arg-type]

    state = DerivedState.of(root)
    state.update(progress=progress)
    epochs, records = calls[0][1], calls[0][3]
    assert epochs == len(state.held) > 2 and records > 0
    assert calls[0] == (0, epochs, 0, records) and calls[-1] == (epochs, epochs, records,
                                                                 records)
    assert len(calls) == epochs + 1 and all(c[1] == epochs and c[3] == records for c in calls)
    for before, after in itertools.pairwise(calls):
        assert after[0] == before[0] + 1 and after[2] >= before[2]
    derived = sum(h.records for h in state.held)
    assert 0.8 * derived <= records <= 1.25 * derived  # (the estimate counts file tokens)
    # then each merge of segments, with the final counts (the bar stays full meanwhile)
    assert merges and all(c == calls[-1] and 2 <= n < epochs for c, n in merges)
    assert len(state.segments()) == epochs - sum(n - 1 for _, n in merges)
    # a callback of the four counts alone is not told of merges (nor broken by them)
    other = tmp_path / "other"
    convert([WORKLOAD], other, host="mac")
    four: list[tuple[int, int, int, int]] = []
    DerivedState.of(other).update(progress=lambda a, b, c, d: four.append((a, b, c, d)))
    assert four == calls
    called: list[object] = []  # up to date: nothing derived, nothing reported
    DerivedState.of(root).update(progress=lambda *counts: called.append(counts))
    assert called == []


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
    merged, = [p for p in committed_parts(root)
               if p.startswith("host=mac/date=2026-03-01/")]
    inc = assert_like_full(root)
    assert inc.derived_parts == []  # the two epochs' rows were merged, not derived again
    epochs = json.loads(state.read_text())["epochs"]
    # bookkeeping only: the merged part is shared by both epochs, nothing rewritten
    assert [e["segments"] for e in epochs] == [["seg-0"], ["seg-1"]]
    assert all(merged in e["parts"] for e in epochs)


def test_nowhere_to_keep_state_computes_in_memory(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac")
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    monkeypatch.setattr(files, "can_write", lambda path: False)
    monkeypatch.setattr(cache, "can_write", lambda path: False)  # the spill directory
    with Catalog([root]) as cat, full(root) as whole:
        assert rows(cat, "SELECT * FROM processes") == rows(whole, "SELECT * FROM processes")
        assert cat.derived_parts == [] and cat.derived_state is None
    assert not (root / "_knox_cache").exists()


@pytest.mark.slow
def test_derivation_memory_does_not_grow_with_the_number_of_epochs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first derivation is cut into epochs of bounded size: each holds at most about
    EPOCH_RECORDS records and the carried rows of the pids they name, however many
    epochs there are (twice the records: twice the epochs, the same bound per epoch)."""
    monkeypatch.setattr(planner, "EPOCH_RECORDS", 400)
    held = {}
    for name, trails in {"one": [WORKLOAD], "two": [WORKLOAD, WORKDAY]}.items():
        root = tmp_path / name
        convert(trails, root, host="mac")
        state = DerivedState.of(root)
        state.update(merge=False)
        with full(root) as whole:
            records = whole.sql("SELECT count(*) FROM records WHERE header_token <> 17"
                                ).fetchall()[0][0]
        assert sum(h.records for h in state.held) == records  # each record derived once
        assert len(state.held) >= records / 400
        held[name] = state.held
    assert len(held["two"]) >= 2 * len(held["one"]) - 1
    for epochs in held.values():
        assert max(h.records for h in epochs) <= 1.25 * 400  # an estimate from time ranges
        assert all(h.carried <= h.records for h in epochs)


def test_spark_convert_extends_a_kept_state(tmp_path: Path) -> None:
    """Spark's driver runs the writers' rule after its commit: a dataset that keeps a
    state has it extended (the next question derives nothing), one without stays so."""
    from knox_analytics.spark.convert import convert as spark_convert

    offsets = OFFSETS[WORKLOAD]
    early, late = cut(WORKLOAD, [offsets[len(offsets) // 2]], tmp_path / "in")
    root, bare = tmp_path / "ds", tmp_path / "bare"
    convert([early], root, host="mac")
    update_derived(root)  # a process question was asked of it
    summary = spark_convert(InProcessSpark(), [late], root, host="mac")
    assert summary.records > 0 and summary.derive_seconds > 0
    with Catalog([root]) as cat:
        cat.sql("SELECT count(*) FROM processes").fetchall()
        assert cat.derived_parts == []
    assert_like_full(root)
    assert spark_convert(InProcessSpark(), [late], bare, host="mac").derive_seconds == 0
    assert not DerivedState.of(bare).exists()


@pytest.mark.parametrize("sort_rows", [0, 1_000_000])  # rows streamed in order / sorted
def test_only_rows_of_instances_begun_earlier_are_flagged_continued(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sort_rows: int) -> None:
    """Reading ``processes`` keys only the rows flagged as continuing an instance of an
    earlier segment.  The flag must be exact through merges: unset on a continuing row,
    two rows of one instance would be read; set on an instance its segment created, the
    key table grows with every merge.  A merge of segments in the middle (the first one
    before it, the newest after it) is read like the segments it replaces, whether it
    sorts the rows or streams them in order."""
    import duckdb

    from knox_analytics.derived import build
    from knox_analytics.derived.build import merge_segments, segments_sql

    monkeypatch.setattr(build, "SORT_ROWS", sort_rows)
    monkeypatch.setattr(planner, "EPOCH_RECORDS", 300)
    offsets = OFFSETS[WORKLOAD]
    *pieces, latest = cut(WORKLOAD, [offsets[900], offsets[1800]], tmp_path / "in")
    root = tmp_path / "ds"
    for piece in pieces:
        convert([piece], root, host="mac")
    segments = DerivedState.of(root).update(merge=False)
    assert segments is not None and len(segments) >= 5
    merged = tmp_path / "merged"
    merged.mkdir()
    con = duckdb.connect()
    merge_segments(con, segments[1:-1], merged)
    seen: set[str] = set()
    flagged = 0
    for segment in [segments[0], merged, segments[-1]]:
        table = pq.read_table(segment / "processes.parquet-cache",
                              columns=["instance", files.CONTINUED])
        for instance, continued in zip(*(c.to_pylist() for c in table.columns), strict=True):
            assert continued == (instance in seen), (segment.name, instance)
            flagged += continued
        seen.update(table.column("instance").to_pylist())
    assert flagged  # processes alive across an epoch's end
    def read(group: list[Path]) -> list[tuple]:
        return sorted(con.sql(segments_sql("processes", group)).fetchall(), key=repr)
    assert read([segments[0], merged, segments[-1]]) == read(segments)
    convert([latest], root, host="mac")  # then more records, derived and merged
    update_derived(root)
    assert_like_full(root)


@pytest.mark.parametrize("some", [False, True])  # every file linked; some rewritten
def test_a_merge_links_big_files_and_rewrites_small_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, some: bool) -> None:
    """A merge takes the files of the views read as they are (``commands``, ``execs``,
    ...) that are at least LINK_BYTES by a hard link, and rewrites the rest into one.
    Merged again, and with the merged segments' old directories gone, every view still
    answers like a full pass."""
    import shutil

    from knox_analytics.derived import build

    monkeypatch.setattr(planner, "EPOCH_RECORDS", 300)
    offsets = OFFSETS[WORKLOAD]
    first, second, third = cut(WORKLOAD, [offsets[1200], offsets[2000]], tmp_path / "in")
    root = tmp_path / "ds"
    convert([first, second], root, host="mac")
    before = DerivedState.of(root).update(merge=False)
    assert before is not None and len(before) >= 4
    sizes = sorted((s / "record_process.parquet-cache").stat().st_size for s in before[:-1])
    link_bytes = sizes[len(sizes) // 2] if some else 0
    monkeypatch.setattr(build, "LINK_BYTES", link_bytes)
    assert merge_derived(root) < len(before)
    after = DerivedState.of(root).segments()
    merged = [s / "record_process.parquet-cache" for s in set(before) - set(after)]
    big = {f.stat().st_ino for f in merged if f.stat().st_size >= link_bytes}
    new = [s for s in after if s not in before]
    assert big and {f.stat().st_ino for s in new for f in s.glob("record_process-*")} == big
    rewritten = [s / "record_process.parquet-cache" for s in new]
    assert any(f.exists() for f in rewritten) == some  # the small ones, into one file
    for gone in set(before) - set(after):
        shutil.rmtree(gone)
    assert_like_full(root)
    convert([third], root, host="mac")  # and merged again: links of links
    update_derived(root)
    assert_like_full(root)


@pytest.mark.parametrize("sort_rows", [0, 1_000_000])
def test_processes_segments_are_sorted_by_pid_in_small_row_groups(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sort_rows: int) -> None:
    """``knox tree`` reads the rows it shows by pid: a segment's ``processes`` (an
    epoch's, and a merge's) is sorted by pid, written in row groups of PROCESS_ROW_GROUP
    rows, so the scan skips the row groups whose statistics hold none of the pids.  A
    merge of many rows keeps each merged segment's sorted rows in order (no sort again):
    its pids are at most one sorted run per segment merged."""
    import duckdb

    from knox_analytics.derived import build

    monkeypatch.setattr(build, "SORT_ROWS", sort_rows)
    monkeypatch.setattr(planner, "EPOCH_RECORDS", 300)
    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac")
    before = DerivedState.of(root).update(merge=False)
    assert before is not None and len(before) >= 3
    assert merge_derived(root) < len(before)
    after = DerivedState.of(root).segments()
    for segment in {*before, *after}:
        if segment.exists():
            pids = pq.read_table(segment / "processes.parquet-cache",
                                 columns=["pid"])["pid"].to_pylist()
            runs = 1 + sum(b < a for a, b in itertools.pairwise(pids))
            if sort_rows or segment in before:
                assert runs == 1, segment.name
            else:
                assert runs <= len(before), segment.name
    assert_like_full(root)
    build.copy(duckdb.connect(), "SELECT range AS pid FROM range(5000)", tmp_path / "p.parquet",
               2048)  # DuckDB's smallest row group
    meta = pq.ParquetFile(tmp_path / "p.parquet").metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [2048, 2048, 904]


def test_a_streamed_merge_takes_nulls_the_first_file_had_none_of(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB marks a column required (also inside a list of structs) where one file's
    rows allow it; a later file's nulls must still be merged.  A capture's upkeep failed
    on it: "Casting field 'user' with null values to non-nullable"."""
    import duckdb

    from knox_analytics.derived import build

    monkeypatch.setattr(build, "SORT_ROWS", 0)
    execs = pa.list_(pa.field("item", pa.struct([pa.field("path", pa.string(), False)])))
    required = pa.schema([pa.field("instance", pa.string(), False),
                          pa.field("pid", pa.uint32(), False),
                          pa.field("user", pa.string(), False),
                          pa.field("execs", execs, False),
                          pa.field(files.CONTINUED, pa.bool_(), False)])
    first = pa.table({"instance": ["1@5"], "pid": pa.array([1], pa.uint32()),
                      "user": ["root"], "execs": [[{"path": "/bin/sh"}]],
                      files.CONTINUED: [False]}, schema=required)
    loose = pa.schema([f.with_nullable(True) for f in required]).set(
        3, pa.field("execs", pa.list_(pa.struct([pa.field("path", pa.string())]))))
    second = pa.table({"instance": ["2@6", None], "pid": pa.array([2, 3], pa.uint32()),
                       "user": [None, "x"], "execs": [None, [{"path": None}]],
                       files.CONTINUED: [False, False]}, schema=loose)
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for table, path in zip((first, second), paths, strict=True):
        pq.write_table(table, path)
    build.merge_processes(duckdb.connect(), paths, tmp_path / "merged.parquet")
    merged = pq.read_table(tmp_path / "merged.parquet")
    assert merged.to_pylist() == first.to_pylist() + second.to_pylist()
