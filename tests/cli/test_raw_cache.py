"""Questions on raw trails go through a dataset in the user's cache: converted once, keyed
by the trails' content, reused by the next question, evicted oldest-first past the size
limit; records counted once, exactly as ``knox convert`` of the same inputs counts them.

Fixture: ``sample_trails/generated-workday.bsm`` (provenance in tests/data/trails/README.md),
cut and copied here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from knoxtest import ROOT, WORKDAY
from typer.testing import CliRunner

from knox_analytics.catalog import Catalog
from knox_analytics.cli.main import app
from knox_analytics.convert import convert
from knox_analytics.rawcache import ENTRY_FILE, evict, raw_dataset
from knox_analytics.summary import summarize_records


def _summary(args: list[str], cache: Path, limit: str = "") -> dict:
    env = {"KNOX_CACHE_DIR": str(cache), "KNOX_RAW_CACHE_LIMIT": limit}
    result = CliRunner().invoke(app, ["summary", "-f", "json", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "raw").iterdir() if (p / ENTRY_FILE).is_file())


def test_the_next_question_on_the_same_trails_reuses_the_dataset(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    trail = tmp_path / "trail.bsm"
    trail.write_bytes(WORKDAY.read_bytes())
    first = _summary([str(trail)], cache)
    (entry,) = _entries(cache)
    parts = sorted(p.stat().st_ino for p in entry.rglob("*.parquet"))
    assert _summary([str(trail)], cache) == first
    assert _entries(cache) == [entry]
    assert sorted(p.stat().st_ino for p in entry.rglob("*.parquet")) == parts  # not rewritten
    with trail.open("ab") as fh:  # the trail grew: its content is another key
        fh.write(WORKDAY.read_bytes())
    _summary([str(trail)], cache)
    assert len(_entries(cache)) == 2


def test_a_trail_under_another_name_is_named_by_it(tmp_path: Path) -> None:
    """The records' source column names the path given: a copy is another entry."""
    copy = tmp_path / "renamed.bsm"
    copy.write_bytes(WORKDAY.read_bytes())
    env = {"KNOX_CACHE_DIR": str(tmp_path / "cache"), "KNOX_RAW_CACHE_LIMIT": ""}
    runner = CliRunner()
    for trail in (WORKDAY, copy):
        sql = "SELECT DISTINCT source FROM records"
        result = runner.invoke(app, ["query", sql, str(trail), "-f", "csv"], env=env)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[1:] == [f'"{trail}"']


def test_overlapping_trails_count_each_record_once_as_convert_does(tmp_path: Path) -> None:
    data = WORKDAY.read_bytes()
    half = tmp_path / "first-half.bsm"  # the start of the same trail, cut at a record
    offsets = sorted(set(load_offsets(WORKDAY)))
    half.write_bytes(data[:offsets[len(offsets) // 2]])
    converted = tmp_path / "ds"
    convert([WORKDAY, half], converted, derive=False)
    with Catalog([converted]) as cat:
        expected = summarize_records(cat).to_dict()
    got = _summary([str(WORKDAY), str(half)], tmp_path / "cache")
    assert got["records"] == _summary([str(WORKDAY)], tmp_path / "cache")["records"]
    assert got == expected


def load_offsets(trail: Path) -> list[int]:
    from knox_analytics.bsm.reader import read_trail

    return [o for r in read_trail(trail) for o in r.table.column("offset").to_pylist()][1:]


def test_the_damage_of_a_reused_entry_is_reported_again(tmp_path: Path) -> None:
    data = bytearray(WORKDAY.read_bytes())
    data[5000:5040] = b"\xff" * 40
    one, two = tmp_path / "one.bsm", tmp_path / "two.bsm"
    one.write_bytes(bytes(data))
    two.write_bytes(bytes(data))
    first = raw_dataset([one, two], root=tmp_path / "raw")
    again = raw_dataset([one, two], root=tmp_path / "raw")
    assert again.reused and not first.reused and again.path == first.path
    assert first.damage and {d.source for d in first.damage} <= {str(one), str(two)}
    assert again.damage == first.damage  # as knox convert reported it


def test_the_least_recently_used_entries_go_past_the_limit(tmp_path: Path) -> None:
    data = WORKDAY.read_bytes()
    root = tmp_path / "raw"
    trails = []
    for n in range(3):  # three different contents
        trail = tmp_path / f"t{n}.bsm"
        trail.write_bytes(data[: len(data) - 997 * (n + 1)])
        trails.append(trail)
    entries = []
    for n, trail in enumerate(trails):
        entries.append(raw_dataset([trail], root=root, limit=1 << 40).path)
        os.utime(entries[-1] / ENTRY_FILE, (1000 + n, 1000 + n))  # t0 used first
    raw_dataset([trails[0]], root=root, limit=1 << 40)  # t0 used again: t1 is now oldest
    def size(entry: Path) -> int:
        return sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())

    removed = evict(root, limit=size(entries[0]) + size(entries[2]), keep=entries[2])
    assert removed == [entries[1]]
    assert not entries[1].exists() and entries[0].exists() and entries[2].exists()
    assert evict(root, limit=0, keep=entries[2]) == [entries[0]]  # the kept one stays


def test_a_cache_that_cannot_be_written_reads_the_trails_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    env = {"KNOX_CACHE_DIR": str(blocker / "cache"), "KNOX_RAW_CACHE_LIMIT": ""}
    result = CliRunner().invoke(app, ["summary", "-f", "json", str(WORKDAY)], env=env)
    assert result.exit_code == 0, result.output
    assert "cannot be written" in result.stderr and "read in memory" in result.stderr
    assert json.loads(result.stdout)["records"] == 3000


def test_limit_zero_turns_the_cache_off(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert _summary([str(WORKDAY)], cache, limit="0")["records"] == 3000
    assert not (cache / "raw").exists()


def test_a_bad_limit_is_a_usage_error(tmp_path: Path) -> None:
    env = {**os.environ, "KNOX_CACHE_DIR": str(tmp_path), "KNOX_RAW_CACHE_LIMIT": "lots"}
    result = subprocess.run([sys.executable, "-m", "knox_analytics", "summary", str(WORKDAY)],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "knox: KNOX_RAW_CACHE_LIMIT='lots': expected bytes, e.g. 10G or 0 (no cache)"]


@pytest.mark.parametrize("question", [["commands", "-n", "5"], ["tree", "--pid", "304"]])
def test_questions_on_raw_trails_answer_as_on_the_converted_dataset(
        question: list[str], tmp_path: Path) -> None:
    converted = tmp_path / "ds"
    convert([WORKDAY], converted, derive=False)
    env = {"KNOX_CACHE_DIR": str(tmp_path / "cache"), "KNOX_RAW_CACHE_LIMIT": ""}
    runner = CliRunner()
    raw = runner.invoke(app, [question[0], str(WORKDAY), *question[1:], "-f", "csv"], env=env)
    ds = runner.invoke(app, [question[0], str(converted), *question[1:], "-f", "csv"], env=env)
    assert raw.exit_code == 0 and ds.exit_code == 0, raw.output + ds.output
    assert raw.stdout == ds.stdout
