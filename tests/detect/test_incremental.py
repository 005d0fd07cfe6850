"""``knox detect DATASET --new``: successive incremental runs report exactly the alerts of
one full run, a correlation spanning two conversions once, a host converted late whole,
nothing when nothing was committed; each rule set keeps its own position; a read-only
dataset still answers (docs/detect.md, "Incremental runs")."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from random import Random

import pytest

pytest.importorskip("sigma")

from detect_scenarios import NEAR_MISS, POSITIVE, START_MS
from typer.testing import CliRunner

from knox_analytics.bsm.reader import read_trail
from knox_analytics.catalog import Catalog
from knox_analytics.cli.main import app
from knox_analytics.convert import convert
from knox_analytics.detect import detect, load_ruleset
from knox_analytics.detect.incremental import (
    STATE_DIR,
    alert_key,
    detect_new,
    lookback_ms,
    state_key,
    state_path,
)
from knox_analytics.detect.rules import pack_dir
from knox_analytics.store.cache import CACHE_DIR
from knox_analytics.testing.machine import Machine
from knox_analytics.testing.simulation import Simulation

BRUTE = "Brute Force Then Successful Login"
GAP_MS = 150_000  # between two stories: the trail spans ~80 min, more than the look-back
LEVEL = "informational"  # every rule that can alert does: more alerts to compare
runner = CliRunner()


def story_trail(path: Path, start_ms: int = START_MS, address: str = "10.0.0.5") -> Path:
    """Every scenario, positive and near miss, one after the other on one simulated Mac."""
    rng = Random(7)
    with open(path, "wb") as out:
        m = Machine(out, None, rng, start_ms, (address,))
        sim = Simulation(m, rng, pace_ms=1000)
        for n, scenario in enumerate([*POSITIVE.values(), *NEAR_MISS.values()]):
            sim.spawn(scenario(sim), delay=n * GAP_MS)
        sim.run()
        m.flush()
    return path


def record_ends(trail: Path) -> list[tuple[dt.datetime, int]]:
    """(time, end offset) of each record of ``trail``."""
    out = []
    for res in read_trail(trail):
        t = res.table
        out += [(time, off + n) for time, off, n in zip(
            t.column("time").to_pylist(), t.column("offset").to_pylist(),
            t.column("length").to_pylist(), strict=True)]
    return out


def keys(table) -> list[str]:
    return sorted(alert_key(a["rule_id"], a["evidence"]) for a in table.to_pylist())


def full_keys(dataset: Path, ruleset) -> list[str]:
    with Catalog([dataset]) as cat:
        return keys(detect(cat, ruleset, min_level=LEVEL))


@pytest.fixture(scope="module")
def pack():
    return load_ruleset()


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Path:
    return story_trail(tmp_path_factory.mktemp("story") / "story.bsm")


def grown(story: Path, tmp: Path, cuts: list[int]) -> Iterator[tuple[Path, Path]]:
    """A dataset and the trail converted into it in steps: the story cut after each of
    ``cuts`` records (a trail that grew, as auditd's ``current`` does)."""
    ends = record_ends(story)
    data = story.read_bytes()
    trail, dataset = tmp / "current", tmp / "dataset"
    for n in cuts:
        trail.write_bytes(data[:ends[n - 1][1]])
        convert([trail], dataset)
        yield trail, dataset


def test_successive_runs_are_one_full_run(story, tmp_path, pack):
    """Three conversions, a --new run after each: together exactly the alerts of one full
    run; the brute force, whose failures were in the first conversion and its success in
    the second, fires once, in the second run."""
    ends = record_ends(story)
    brute = START_MS + list(POSITIVE).index(BRUTE) * GAP_MS
    between = dt.datetime.fromtimestamp((brute + 13_500) / 1000, dt.UTC)  # 5 failures, no success
    first = sum(1 for t, _ in ends if t < between)
    cuts = [first, (first + len(ends)) // 2, len(ends)]
    seen: list[str] = []
    titles = []
    for _, dataset in grown(story, tmp_path, cuts):
        run = detect_new(dataset, pack, min_level=LEVEL)
        assert run.saved and run.new_parts
        seen += keys(run.alerts)
        titles.append(run.alerts.column("title").to_pylist())
    assert BRUTE not in titles[0] and titles[1].count(BRUTE) == 1 and BRUTE not in titles[2]
    assert all(titles), "each run has alerts of its own"
    assert sorted(seen) == full_keys(dataset, pack)
    # the third run read only its look-back: the first stories are before it
    assert min(run.since.values()) - lookback_ms(pack) > START_MS + 10 * 60_000
    assert detect_new(dataset, pack, min_level=LEVEL).alerts.num_rows == 0


def test_a_host_converted_late_is_examined(story, tmp_path, pack):
    """Host B's trail, a day older than host A's, converted after A was examined: its
    alerts are all reported, A's none again."""
    dataset = tmp_path / "fleet"
    convert([story], dataset, host="mac-a")
    first = detect_new(dataset, pack, min_level=LEVEL)
    assert first.alerts.num_rows and set(first.alerts.column("host").to_pylist()) <= {
        "mac-a", "10.0.0.5"}
    late = story_trail(tmp_path / "b.bsm", START_MS - 86_400_000, address="10.0.0.6")
    convert([late], dataset, host="mac-b")
    second = detect_new(dataset, pack, min_level=LEVEL)
    hosts = set(second.alerts.column("host").to_pylist())
    assert hosts and hosts <= {"mac-b", "10.0.0.6"}
    assert BRUTE in second.alerts.column("title").to_pylist()
    assert sorted(keys(first.alerts) + keys(second.alerts)) == full_keys(dataset, pack)


def test_nothing_new_reports_nothing(story, tmp_path):
    dataset = tmp_path / "dataset"
    convert([story], dataset)
    first = runner.invoke(app, ["detect", str(dataset), "--new", "-f", "ndjson"])
    assert first.exit_code == 0, first.output
    assert BRUTE in first.stdout
    state = next((dataset / CACHE_DIR / STATE_DIR).glob("*.json"))
    before = state.stat().st_mtime_ns
    again = runner.invoke(app, ["detect", str(dataset), "--new", "-f", "ndjson"])
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == ""
    assert "no new records since the last --new run" in again.stderr
    assert state.stat().st_mtime_ns == before
    # --fail-on still exits 4 only for what is new
    assert runner.invoke(app, ["detect", str(dataset), "--new", "--fail-on", "high"]
                         ).exit_code == 0


def test_each_rule_set_keeps_its_own_position(story, tmp_path, pack):
    dataset = tmp_path / "dataset"
    convert([story], dataset)
    assert detect_new(dataset, pack).alerts.num_rows
    knox_only = load_ruleset([pack_dir() / "knox"])
    own = detect_new(dataset, knox_only)
    assert own.alerts.num_rows and BRUTE in own.alerts.column("title").to_pylist()
    assert detect_new(dataset, pack).alerts.num_rows == 0
    assert detect_new(dataset, knox_only).alerts.num_rows == 0
    # and --min-level is part of the position: lower alerts were never reported
    assert detect_new(dataset, pack, min_level=LEVEL).alerts.num_rows
    names = {p.name for p in (dataset / CACHE_DIR / STATE_DIR).iterdir()}
    assert names == {f"{state_key(rs, lv)}.json" for rs, lv in
                     ((pack, "low"), (knox_only, "low"), (pack, LEVEL))}


def test_read_only_dataset_answers_and_says_so(story, tmp_path, monkeypatch):
    dataset = tmp_path / "dataset"
    convert([story], dataset)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))  # derived state
    if os.geteuid() == 0:  # root may write anywhere: a dataset root does not own
        for d, dirs, files in os.walk(dataset):
            for name in [d, *(os.path.join(d, x) for x in dirs + files)]:
                os.chown(name, 12345, 12345)
    else:
        for d, _, _ in os.walk(dataset):
            os.chmod(d, 0o555)
    try:
        for _ in range(2):  # nothing saved: the same alerts again
            res = runner.invoke(app, ["detect", str(dataset), "--new", "-f", "ndjson"])
            assert res.exit_code == 0, res.output
            assert BRUTE in res.stdout
            [note] = [x for x in res.stderr.splitlines() if "--new" in x]
            assert "could not be saved" in note and "reports these alerts again" in note
        assert not (dataset / CACHE_DIR / STATE_DIR).exists()
    finally:
        for d, _, _ in os.walk(dataset):
            os.chmod(d, 0o755)


def test_compaction_keeps_the_position(story, tmp_path, pack):
    """A compaction rewrites examined parts: nothing in them is new."""
    from knox_analytics.store import DatasetWriter, load_manifest

    n = len(record_ends(story))
    *_, (_, dataset) = grown(story, tmp_path, [n // 3, 2 * n // 3, n])
    assert detect_new(dataset, pack).alerts.num_rows
    parts = load_manifest(dataset).parts
    with DatasetWriter(dataset) as writer:
        assert writer.compact({p.rsplit("/", 1)[0] for p in parts})
    assert load_manifest(dataset).parts != parts
    again = detect_new(dataset, pack)
    assert again.new_parts == [] and again.alerts.num_rows == 0


def test_compaction_of_examined_and_new_parts(story, tmp_path, pack):
    """A compaction merging examined parts with new ones: the merged part is read again
    from its start, and what was reported is not reported twice."""
    from knox_analytics.store import DatasetWriter, load_manifest

    n = len(record_ends(story))
    steps = grown(story, tmp_path, [n // 2, n])
    _, dataset = next(steps)
    first = detect_new(dataset, pack, min_level=LEVEL)
    next(steps)
    parts = load_manifest(dataset).parts
    with DatasetWriter(dataset) as writer:
        assert writer.compact({p.rsplit("/", 1)[0] for p in parts})
    second = detect_new(dataset, pack, min_level=LEVEL)
    assert second.new_parts and first.alerts.num_rows and second.alerts.num_rows
    assert sorted(keys(first.alerts) + keys(second.alerts)) == full_keys(dataset, pack)


def test_new_needs_one_dataset(story):
    res = runner.invoke(app, ["detect", str(story), "--new"])
    assert res.exit_code != 0
    assert "--new reads one DATASET" in str(res.exception)


def test_lookback_is_twice_the_longest_chain(pack):
    # Brute Force Then Successful Login: a 5 min event_count read by a 10 min
    # temporal_ordered; no chain of the pack is longer
    assert lookback_ms(pack) == 2 * (5 + 10) * 60_000
    assert lookback_ms(load_ruleset([pack_dir() / "sigmahq"])) == 0


def test_state_file_is_where_the_docs_say(tmp_path, pack):
    assert state_path(tmp_path, "k") == tmp_path / "_knox_cache" / "detect-new" / "k.json"
