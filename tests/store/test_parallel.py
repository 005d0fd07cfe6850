"""``knox convert --jobs N``: the same dataset as one job, a big trail split across the
workers at record boundaries, and record identity across inputs of the same run.

Trails: sample_trails/generated-workday.bsm (a generated workday) and
tests/data/trails/synthetic-workload.bsm (libbsm-written), copied and cut here.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from knoxtest import TRAILS, WORKDAY

from knox_analytics.bsm import ranges
from knox_analytics.convert import convert
from knox_analytics.store import PART_GLOB, load_manifest


def records(out: Path) -> pa.Table:
    return duckdb.sql(f"SELECT * EXCLUDE (host, date) FROM read_parquet('{out}/{PART_GLOB}', "
                      "hive_partitioning = true) ORDER BY source, \"offset\"").to_arrow_table()


def test_a_big_trail_is_split_across_workers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ranges, "DEFAULT_SPLIT", 64 << 10)  # the 461 KB workday: 8 ranges
    one, two = tmp_path / "one", tmp_path / "two"
    convert([WORKDAY], one, jobs=1)
    summary = convert([WORKDAY], two, jobs=2)
    # its two stand-alone file tokens are rows but not records (issue 22: summary's count)
    assert summary.records == records(one).num_rows - 2 == 3000
    assert records(two).equals(records(one))
    assert load_manifest(two).sources[0].end_offset == WORKDAY.stat().st_size
    again = convert([WORKDAY], two, jobs=2)
    assert again.records == 0


def test_inputs_of_one_run_that_overlap_are_kept_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ranges, "DEFAULT_SPLIT", 64 << 10)
    trails = tmp_path / "audit"
    trails.mkdir()
    data = (TRAILS / "synthetic-workload.bsm").read_bytes()
    (trails / "20260301.20260302").write_bytes(data)
    (trails / "20260301.20260302.gz").write_bytes(gzip.compress(data, mtime=0))
    (trails / "partial-copy").write_bytes(data[:200_000])
    (trails / "workday").write_bytes(WORKDAY.read_bytes())
    (trails / "README").write_text("not a trail\n")
    summary = convert([trails], tmp_path / "ds", jobs=2)
    assert records(tmp_path / "ds").num_rows == 3006 + 3002
    assert [f.action for f in summary.files].count("skipped") >= 2  # README, a copy


@pytest.mark.parametrize("jobs_n", [1, 2])
def test_cut_record_at_the_end_is_left_for_growth(tmp_path: Path, jobs_n: int) -> None:
    data = WORKDAY.read_bytes()
    trail = tmp_path / "trail.1"
    trail.write_bytes(data[:300_001])
    first = convert([trail], tmp_path / "ds", jobs=jobs_n)
    assert first.damage and first.damage[-1].reason.startswith("truncated record")
    trail.write_bytes(data)
    convert([trail], tmp_path / "ds", jobs=jobs_n)
    assert records(tmp_path / "ds").num_rows == 3002


@pytest.mark.parametrize("jobs_n", [1, 2])
def test_an_unchanged_cut_trail_is_not_read_again(tmp_path: Path, jobs_n: int) -> None:
    """Issue 23 item 9: a .crash_recovery trail whose last record is cut, converted
    again unchanged (a cron job), is skipped; its damage is said again, not an error."""
    data = WORKDAY.read_bytes()
    trail = tmp_path / "20260101000000.crash_recovery"
    trail.write_bytes(data[:300_017])
    first = convert([trail], tmp_path / "ds", jobs=jobs_n)
    assert [d.offset for d in first.damage] == [300_000]
    for _ in range(2):
        again = convert([trail], tmp_path / "ds", jobs=jobs_n)
        assert again.damage == [] and again.bytes == 0
        assert [f.action for f in again.files] == ["skipped"]
        assert [(d.offset, d.length) for d in again.reported] == [(300_000, 17)]
    trail.write_bytes(data[:300_200])  # it grew after all: the cut record is read whole
    grown = convert([trail], tmp_path / "ds", jobs=jobs_n)
    assert grown.records == 1 and [d.offset for d in grown.damage] == [300_133]
    assert convert([trail], tmp_path / "ds", jobs=jobs_n).damage == []
    trail.write_bytes(data[:300_133] + b"\x14" + bytes(66))  # same size, other bytes
    assert convert([trail], tmp_path / "ds", jobs=jobs_n).bytes > 0
