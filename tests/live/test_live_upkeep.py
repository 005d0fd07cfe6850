"""Capture keeps the derived process state up to date, so questions only read it.

Fixture: tests/data/trails/synthetic-workload.bsm (see tests/data/trails/README.md), fed
through a FIFO in pieces so that the capture commits several times.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from knoxtest import TRAILS

from knox_analytics import Catalog
from knox_analytics.bsm.reader import record_boundary
from knox_analytics.derived import upkeep as upkeep_module
from knox_analytics.derived.upkeep import DerivedUpkeep
from knox_analytics.live.capture import Capture, CaptureConfig
from knox_analytics.live.source import open_source
from knox_analytics.store.manifest import load_manifest

TRAIL = TRAILS / "synthetic-workload.bsm"


def feed_in_pieces(fifo: Path, data: bytes, pieces: int, pause: float) -> threading.Thread:
    """Write ``data`` into ``fifo`` in ``pieces`` cut at record boundaries."""
    cuts = sorted({record_boundary(data[:len(data) * k // pieces])[0] for k in range(pieces)})

    def run() -> None:
        fd = os.open(fifo, os.O_WRONLY)
        try:
            for a, b in zip(cuts, [*cuts[1:], len(data)], strict=True):
                view = memoryview(data)[a:b]
                while view:
                    view = view[os.write(fd, view):]
                time.sleep(pause)
        finally:
            os.close(fd)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def rows(cat: Catalog, view: str) -> list[tuple]:
    return sorted(cat.sql(f"SELECT * FROM {view}").fetchall(), key=repr)


@pytest.mark.slow
def test_a_stopped_capture_leaves_the_state_up_to_date(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    derived_by_upkeep: list[str] = []
    real_update = upkeep_module._update

    def update(root: Path) -> object:
        parts = real_update(root)
        derived_by_upkeep.extend(parts)  # type: ignore[arg-type]
        return parts

    monkeypatch.setattr(upkeep_module, "_update", update)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    feeder = feed_in_pieces(fifo, TRAIL.read_bytes(), pieces=4, pause=0.3)
    # small segments: compactions at rotations, and on stop
    cap = Capture(out, CaptureConfig(flush_seconds=0.05, rotate_bytes=100_000))
    cap.run(open_source(str(fifo)), install_signals=False)
    feeder.join()
    assert cap.upkeep is not None and cap.upkeep.passes >= 2 and cap.upkeep.failed is None
    root = out / "dataset"
    # a compaction retires only parts the state covers: its result is never derived again
    manifest = load_manifest(root)
    assert manifest is not None
    compacted = {p for c in manifest.commits if c.kind == "compact" for p in c.added}
    assert len(compacted) >= 2 and not compacted & set(derived_by_upkeep)
    with Catalog([root]) as cat:
        assert cat.sql("SELECT count(*) FROM records").fetchall()[0][0] == 3006
        got = {view: rows(cat, view) for view in ("processes", "commands", "execs")}
        assert cat.derived_parts == []  # nothing left for the question to derive
    with Catalog([root], derived=False) as whole:  # the same SQL over every record at once
        for view, answer in got.items():
            assert answer == rows(whole, view), view


def test_questions_during_capture_find_it_derived(tmp_path: Path) -> None:
    """A question after a commit the upkeep has handled derives nothing itself."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    data = TRAIL.read_bytes()
    half = record_boundary(data[:len(data) // 2])[0]
    opened = threading.Event()
    more = threading.Event()

    def feed() -> None:
        fd = os.open(fifo, os.O_WRONLY)
        opened.set()
        os.write(fd, data[:half])
        more.wait(60)
        os.write(fd, data[half:])
        os.close(fd)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    cap = Capture(out, CaptureConfig(flush_seconds=0.05))
    runner = threading.Thread(target=cap.run, args=(open_source(str(fifo)),),
                              kwargs={"install_signals": False}, daemon=True)
    runner.start()
    root = out / "dataset"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the first half committed and derived
        parts = load_manifest(root).parts if (root / "_knox_manifest.json").exists() else []
        state = next(root.glob("_knox_cache/derived-*/state.json"), None)
        if parts and state is not None and all(p in state.read_text() for p in parts):
            break
        time.sleep(0.05)
    with Catalog([root]) as cat:
        assert 0 < cat.sql("SELECT count(*) FROM records").fetchall()[0][0] < 3006
        cat.sql("SELECT count(*) FROM processes").fetchall()
        assert cat.derived_parts == []
    more.set()
    feeder.join()
    runner.join(60)
    assert not runner.is_alive()


def test_no_derive_leaves_it_to_the_questions(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cap = Capture(out, CaptureConfig(derive=False))
    cap.run(open_source(str(TRAIL)), install_signals=False)
    assert cap.upkeep is None
    assert not (out / "dataset" / "_knox_cache").exists()
    with Catalog([out / "dataset"]) as cat:
        cat.sql("SELECT count(*) FROM processes").fetchall()
        assert cat.derived_parts != []


def test_a_failing_upkeep_is_reported_once_and_capture_goes_on(tmp_path: Path) -> None:
    said: list[str] = []

    def broken(_root: Path) -> None:
        raise OSError(28, "No space left on device")

    upkeep = DerivedUpkeep(tmp_path, said.append, update=broken, merge=broken)
    upkeep.start()
    for _ in range(3):
        upkeep.poke()
        time.sleep(0.05)
    upkeep.stop()
    assert upkeep.passes >= 2 and upkeep.merges >= 1 and len(said) == 1
    assert "No space left on device" in said[0] and "questions derive it" in said[0]


@pytest.mark.parametrize("final", [True, False])
def test_stop_runs_one_last_derivation_when_asked(tmp_path: Path, final: bool) -> None:
    seen: list[Path] = []
    upkeep = DerivedUpkeep(tmp_path, update=seen.append, merge=seen.append)
    upkeep.start()
    upkeep.stop(final=final)
    assert seen == ([tmp_path] if final else [])


def test_a_long_merge_does_not_hold_up_the_derivations(tmp_path: Path) -> None:
    """Merging runs in a thread of its own: commits made while it works are derived."""
    merging, release = threading.Event(), threading.Event()
    derived_at: list[float] = []

    def merge(_root: Path) -> None:
        merging.set()
        release.wait(30)

    upkeep = DerivedUpkeep(tmp_path, update=lambda _r: derived_at.append(time.monotonic()),
                           merge=merge)
    upkeep.start()
    upkeep.poke()
    assert merging.wait(10)  # the first derivation done, its merge running
    for _ in range(3):  # three more commits meanwhile
        upkeep.poke()
        time.sleep(0.1)
    assert len(derived_at) >= 3
    release.set()
    upkeep.stop(final=False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice: Linux")
def test_the_merge_thread_runs_at_a_lower_priority(tmp_path: Path) -> None:
    seen: list[int] = []

    def merge(_root: Path) -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    upkeep = DerivedUpkeep(tmp_path, update=lambda _r: None, merge=merge)
    upkeep.start()
    upkeep.poke()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    upkeep.stop(final=False)
    assert seen == [max(mine, upkeep_module.MERGE_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # not ours
