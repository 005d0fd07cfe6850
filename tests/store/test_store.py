"""DatasetWriter: partitions, manifest, idempotent / incremental / rename-aware plans.

Fixtures: ``tests/data/trails/synthetic-workload.bsm`` (3006 records, written with libbsm)
and its truth sidecar, whose offsets/lengths/times give record boundaries; the tables
written here are built from that sidecar (the store does not look at other columns).
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from knoxtest import TRAILS

from knox_analytics.errors import OutputExistsError, UsageError
from knox_analytics.schema import SCHEMA, SCHEMA_VERSION
from knox_analytics.store import MANIFEST_NAME, DatasetWriter, load_manifest

DATA = TRAILS
TRAIL = DATA / "synthetic-workload.bsm"
TRUTH = [json.loads(line) for line in
         (DATA / "synthetic-workload.truth.jsonl").read_text().splitlines()]


def truth_table(source: str, rows: list[dict], host: str | None = None) -> pa.Table:
    """A SCHEMA table with provenance, time and subject filled from truth rows."""
    def one(r: dict) -> dict:
        t = datetime.fromtimestamp(r["sec"] + r["msec"] / 1000, UTC)
        return {"source": source, "offset": r["offset"], "length": r["length"],
                "event": r["event"], "event_name": r["event_name"], "time": t,
                "host": host, "pid": r["subject"]["pid"]}
    return pa.Table.from_pylist([one(r) for r in rows], schema=SCHEMA)


def convert(writer: DatasetWriter, path: Path, host: str | None = None) -> str:
    """What the converter does: plan, write the records past start, commit."""
    plan = writer.plan(path)
    if plan.needs_work:
        rows = [r for r in TRUTH if plan.start_offset <= r["offset"]
                and r["offset"] + r["length"] <= plan.size]
        writer.write(truth_table(str(path), rows, host))
        end = rows[-1]["offset"] + rows[-1]["length"] if rows else plan.start_offset
        writer.commit_source(path, end_offset=end, records=len(rows), damaged=0)
    return plan.action


def count(root: Path) -> int:
    return duckdb.sql(f"select count(*) from read_parquet('{root}/host=*/date=*/*.parquet')"
                      ).fetchall()[0][0]


def test_partitions_and_metadata(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with DatasetWriter(root, host="mac1") as w:
        assert convert(w, TRAIL) == "full"
    parts = sorted(p.relative_to(root).as_posix() for p in root.glob("**/*.parquet"))
    assert parts and all(p.startswith("host=mac1/date=2026-03-01/part-") for p in parts)
    meta = pq.read_metadata(root / parts[0]).metadata
    assert meta[b"knox_analytics.schema_version"] == str(SCHEMA_VERSION).encode()
    assert pq.read_schema(root / parts[0]).equals(SCHEMA, check_metadata=False)
    assert pq.ParquetFile(root / parts[0]).metadata.row_group(0).column(0).compression \
        == "ZSTD"
    assert count(root) == len(TRUTH)
    manifest = load_manifest(root)
    assert manifest.parts == parts
    assert manifest.sources[0].end_offset == TRAIL.stat().st_size


def test_host_from_header_address_wins_over_label(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with DatasetWriter(root, host="lab") as w:
        w.write(truth_table("a", TRUTH[:10], host="10.0.0.7"))
        w.write(truth_table("b", TRUTH[10:15]))
    hosts = duckdb.sql(f"select host, count(*) from read_parquet('{root}/**/*.parquet', "
                       "hive_partitioning=true) group by 1 order by 1").fetchall()
    assert hosts == [("10.0.0.7", 10), ("lab", 5)]


def test_unknown_host_and_date_split(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    rows = [dict(TRUTH[0]), dict(TRUTH[1])]
    rows[1]["sec"] += 86400  # next day
    with DatasetWriter(root) as w:
        w.write(truth_table("a", rows))
    dirs = sorted(p.parent.relative_to(root).as_posix() for p in root.glob("**/*.parquet"))
    assert dirs == ["host=unknown/date=2026-03-01", "host=unknown/date=2026-03-02"]


def test_rerun_converts_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with DatasetWriter(root) as w:
        convert(w, TRAIL)
    with DatasetWriter(root) as w:
        plan = w.plan(TRAIL)
        assert (plan.action, plan.reason) == ("skip", "already converted")
    assert count(root) == len(TRUTH)


def test_grown_trail_converts_only_new_records(tmp_path: Path) -> None:
    root, live = tmp_path / "ds", tmp_path / "current"
    data = TRAIL.read_bytes()
    cut = TRUTH[1000]["offset"]
    live.write_bytes(data[:cut])
    with DatasetWriter(root) as w:
        convert(w, live)
    assert count(root) == 1000
    live.write_bytes(data)  # auditd appended the rest
    with DatasetWriter(root) as w:
        plan = w.plan(live)
        assert (plan.action, plan.start_offset) == ("resume", cut)
        convert(w, live)
    assert count(root) == len(TRUTH)
    offsets = duckdb.sql(f"select count(distinct \"offset\") from read_parquet("
                         f"'{root}/**/*.parquet')").fetchall()[0][0]
    assert offsets == len(TRUTH)
    assert load_manifest(root).sources[0].records == len(TRUTH)


def test_small_trail_that_grows_past_the_head(tmp_path: Path) -> None:
    root, live = tmp_path / "ds", tmp_path / "current"
    data = TRAIL.read_bytes()
    live.write_bytes(data[: TRUTH[3]["offset"]])  # a few hundred bytes only
    with DatasetWriter(root) as w:
        convert(w, live)
    live.write_bytes(data)
    with DatasetWriter(root) as w:
        assert w.plan(live).action == "resume"


def test_rotated_trail_is_recognised(tmp_path: Path) -> None:
    root, live = tmp_path / "ds", tmp_path / "current"
    data = TRAIL.read_bytes()
    cut = TRUTH[2000]["offset"]
    live.write_bytes(data[:cut])
    with DatasetWriter(root) as w:
        convert(w, live)
    rotated = tmp_path / "20260301090000.20260301091715"
    live.rename(rotated)
    rotated.write_bytes(data)  # the rest was written before the rename
    with DatasetWriter(root) as w:
        plan = w.plan(rotated)
        assert plan.action == "resume"
        assert plan.reason.startswith(f"renamed from {live}")
        convert(w, rotated)
    gz = tmp_path / (rotated.name + ".gz")
    gz.write_bytes(gzip.compress(data))
    with DatasetWriter(root) as w:
        assert w.plan(gz).action == "skip"
        assert w.plan(rotated).action == "skip"
    assert count(root) == len(TRUTH)
    assert load_manifest(root).sources[0].paths == [str(live), str(rotated)]


def test_different_trail_is_converted(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    other = tmp_path / "other.bsm"
    shutil.copy(DATA / "macos-10.9-apple.bsm", other)
    with DatasetWriter(root) as w:
        convert(w, TRAIL)
        assert w.plan(other).action == "full"


def test_refuses_foreign_directory(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        DatasetWriter(root)
    with DatasetWriter(root, overwrite=True) as w:
        convert(w, TRAIL)
    assert (root / "notes.txt").read_text() == "mine"  # overwrite spares foreign files


def test_overwrite_replaces_dataset(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with DatasetWriter(root) as w:
        convert(w, TRAIL)
    with DatasetWriter(root, overwrite=True) as w:
        assert w.plan(TRAIL).action == "full"
        convert(w, TRAIL)
    assert count(root) == len(TRUTH)


def test_interrupted_run_leaves_no_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    w = DatasetWriter(root)
    w.write(truth_table(str(TRAIL), TRUTH))
    w._parts.flush(next(iter(w._parts._tables)))  # a part reached disk, then the process died
    w._lock_fh.close()
    assert list(root.glob("**/*.parquet")) == []  # staged parts are invisible
    assert list((root / "_staging").glob("*/*.staged"))
    with DatasetWriter(root) as w:  # the staged part is removed, the trail redone
        assert not (root / "_staging").exists()
        assert convert(w, TRAIL) == "full"
    assert count(root) == len(TRUTH)


def test_bad_table_and_label(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        DatasetWriter(tmp_path / "x", host="a/b")
    with DatasetWriter(tmp_path / "y") as w, pytest.raises(UsageError):
        w.write(pa.table({"x": [1]}))


def test_readable_by_polars_and_pyarrow(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with DatasetWriter(root, host="mac1") as w:
        convert(w, TRAIL)
    assert (root / MANIFEST_NAME).exists()
    lf = pl.scan_parquet(root / "host=*" / "date=*" / "*.parquet", hive_partitioning=True)
    got = lf.group_by("host").len().collect()
    assert got.rows() == [("mac1", len(TRUTH))]
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(TRUTH)
    assert set(table.column("host").to_pylist()) == {"mac1"}
