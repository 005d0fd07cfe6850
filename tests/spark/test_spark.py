"""knox on Spark (local[2]): the same dataset as ``knox convert``, the same view answers.

Needs the ``spark`` extra (pyspark, pandas, sqlglot) and Java 17+; skipped, with the
reason, when pyspark is not installed.  Run only these: ``pytest -m spark``; skip them:
``pytest -m "not spark"``.

Fixtures: ``sample_trails/`` (see its README: real macOS/FreeBSD trails and a generated
workday) and a fleet written here by :mod:`knox_analytics.workload`: 3 hosts x 7 daily
trails (seeds 100*h + d, 150 records each, the host's address in header32_ex tokens).
One SparkSession for the module; the data is small so that the whole file runs in about
two minutes on 2 cores.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark", reason="pyspark not installed: pip install -e '.[spark]'")
pytest.importorskip("sqlglot", reason="sqlglot not installed: pip install -e '.[spark]'")

from knoxtest import SAMPLES

from knox_analytics.bsm.reader import read_trail
from knox_analytics.catalog import Catalog
from knox_analytics.convert import convert as knox_convert
from knox_analytics.errors import NotBSMError
from knox_analytics.spark import convert, local_session, register_views
from knox_analytics.spark.sqlgen import spark_views
from knox_analytics.store import PART_GLOB
from knox_analytics.workload import generate

pytestmark = pytest.mark.spark

HOSTS = ("10.0.0.1", "10.0.0.2", "2001:db8::7")
DAYS = 7
#: Small enough that the generated workday (461 KB) is cut into several ranges and the
#: fleet's trails (~25 KB) are packed several to a task.
SPLIT = 64 << 10


@pytest.fixture(scope="module")
def spark() -> Any:
    session = local_session("local[2]", conf={"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 hosts x 7 days of generated trails (see module docstring).

    Each host starts its day a minute after the one before (and after the sample
    workday, which starts at 08:00): the generator opens every
    trail with the same boot-time records, and records with the same bytes from
    different files are one record to `knox convert` (docs/dataset.md) -- which the
    Spark engine does not drop (it converts by byte ranges), so the two would differ."""
    root = tmp_path_factory.mktemp("fleet")
    for h, host in enumerate(HOSTS):
        for d in range(DAYS):
            start = dt.datetime(2026, 3, 2 + d, 8, 1 + h, tzinfo=dt.UTC)
            with open(root / f"{h}-{d:02d}.bsm", "wb") as fh:
                generate(fh, None, seed=100 * h + d, records=150, start=start, hosts=[host])
    return root


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory, spark: Any,
             fleet: Path) -> tuple[Path, Path]:
    """The same inputs converted by knox convert and by Spark."""
    base = tmp_path_factory.mktemp("datasets")
    inputs = [str(fleet), str(SAMPLES)]
    knox_convert(inputs, base / "knox")
    convert(spark, inputs, base / "spark", split_bytes=SPLIT)
    return base / "knox", base / "spark"


def _rows(root: Path) -> pa.Table:
    """Every record of a dataset, read file by file (no hive keys), in (source, offset)
    order."""
    table = pa.concat_tables([pq.read_table(p, partitioning=None)
                              for p in sorted(root.glob(PART_GLOB))])
    keys = pa.table({"s": table["source"].cast(pa.string()), "o": table["offset"]})
    return table.take(pc.sort_indices(keys, [("s", "ascending"), ("o", "ascending")]))


def _manifest(root: Path) -> dict:
    return json.loads((root / "_knox_manifest.json").read_text())


# -- convert ------------------------------------------------------------------------------
def test_spark_dataset_equals_knox_convert_row_for_row(datasets: tuple[Path, Path]) -> None:
    knox, spark_out = datasets
    want, got = _rows(knox), _rows(spark_out)
    assert got.num_rows == want.num_rows > 3 * DAYS * 150
    assert got.schema.equals(want.schema)
    assert got.to_pylist() == want.to_pylist()


def test_same_partitions_and_file_metadata(datasets: tuple[Path, Path]) -> None:
    knox, spark_out = datasets
    dirs = {p.parent.relative_to(knox).as_posix() for p in knox.glob(PART_GLOB)}
    assert dirs == {p.parent.relative_to(spark_out).as_posix()
                    for p in spark_out.glob(PART_GLOB)}
    assert {f"host={h}" for h in HOSTS} <= {d.split("/")[0] for d in dirs}
    for part in spark_out.glob(PART_GLOB):
        meta = pq.read_metadata(part).metadata
        assert meta[b"knox_analytics.schema_version"] == \
            pq.read_metadata(next(knox.glob(PART_GLOB))).metadata[
                b"knox_analytics.schema_version"]


def test_same_manifest(datasets: tuple[Path, Path]) -> None:
    knox, spark_out = datasets
    a, b = _manifest(knox), _manifest(spark_out)
    assert a["schema_version"] == b["schema_version"]
    fields = ("paths", "head_len", "head_sha", "end_offset", "prefix_sha", "records", "damaged")

    def sources(m: dict) -> list[tuple]:
        return sorted(tuple(json.dumps(s[f]) for f in fields) for s in m["sources"])

    assert sources(a) == sources(b)
    assert a["machines"] == b["machines"] and a["machines"]  # each input's hosts, one machine
    assert sorted(b["parts"]) == sorted(p.relative_to(spark_out).as_posix()
                                        for p in spark_out.glob(PART_GLOB))


def test_reconvert_skips_and_grown_trail_resumes(tmp_path: Path, spark: Any) -> None:
    """Manifest semantics: a second run converts nothing; a trail that grew is
    converted from where the first run stopped, and the result equals knox convert's."""
    full = tmp_path / "full.bsm"
    with open(full, "wb") as fh:
        generate(fh, None, seed=3, records=400)
    data = full.read_bytes()
    cut = next(o for o in _offsets(full) if o > len(data) // 2)  # a record boundary
    trail = tmp_path / "in" / "20260302080000.not_terminated"
    trail.parent.mkdir()
    trail.write_bytes(data[:cut])
    out, ref = tmp_path / "spark", tmp_path / "knox"
    first = convert(spark, [trail], out, split_bytes=4096)
    ref_first = knox_convert([trail], ref)
    again = convert(spark, [trail], out, split_bytes=4096)
    assert [f.action for f in first.files] == ["converted"]
    assert [f.action for f in again.files] == ["skipped"] and again.records == 0
    trail.write_bytes(data)
    grown = convert(spark, [trail], out, split_bytes=4096)
    ref_grown = knox_convert([trail], ref)
    assert [f.action for f in grown.files] == ["resumed"]
    # counted as knox convert counts (file tokens are rows, not records)
    assert (first.records, grown.records) == (ref_first.records, ref_grown.records)
    assert first.records + grown.records == 400
    assert _rows(out).to_pylist() == _rows(ref).to_pylist()


def test_identity_rule_on_spark_equals_knox_convert(tmp_path: Path, spark: Any) -> None:
    """Issue 19's rule on Spark: a trail holding one record twice (its two copies cut
    into different ranges) and its doubled copy, into a dataset already holding another
    host: the same rows and record ids as knox convert's, counted by the multiset rule."""
    other, single = tmp_path / "other.bsm", tmp_path / "single.bsm"
    with open(other, "wb") as fh:
        generate(fh, None, seed=7, records=300, hosts=["10.0.9.1"])
    with open(single, "wb") as fh:
        generate(fh, None, seed=8, records=300)
    data, offs = single.read_bytes(), _offsets(single)
    w = data[:offs[151]] + data[offs[150]:offs[151]] + data[offs[151]:]  # #150 twice
    (tmp_path / "W").write_bytes(w)
    (tmp_path / "WW").write_bytes(w + w)
    inputs = [tmp_path / "W", tmp_path / "WW"]
    out, ref = tmp_path / "spark", tmp_path / "knox"
    convert(spark, [other], out, split_bytes=4096)
    knox_convert([other], ref)
    convert(spark, inputs, out, split_bytes=4096)
    knox_convert(inputs, ref)
    got, want = _rows(out), _rows(ref)
    # no --host and the hosts' addresses are in the header_ex bytes: bytes alone decide
    union: Counter = Counter()
    for path in (other, *inputs):
        blob = path.read_bytes()
        union |= Counter(blob[o:o + n] for r in read_trail(path) for o, n in
                         zip(r.table["offset"].to_pylist(), r.table["length"].to_pylist(),
                             strict=True))
    assert got.num_rows == sum(union.values()) > len(data) // 400
    assert sorted(got["record_id"].to_pylist()) == sorted(want["record_id"].to_pylist())
    assert got.to_pylist() == want.to_pylist()


def _offsets(path: Path) -> list[int]:
    return [o for r in read_trail(path) for o in r.table["offset"].to_pylist()]


def test_not_bsm_named_raises_found_in_directory_is_skipped(tmp_path: Path,
                                                             spark: Any) -> None:
    junk = tmp_path / "trails" / "README.txt"
    junk.parent.mkdir()
    junk.write_text("not a trail\n")
    shutil.copy(SAMPLES / "macos-10.9-apple.bsm", junk.parent)
    summary = convert(spark, [junk.parent], tmp_path / "out")
    assert sorted(f.action for f in summary.files) == ["converted", "skipped"]
    with pytest.raises(NotBSMError, match=r"README\.txt"):
        convert(spark, [junk], tmp_path / "out2")
    assert not list((tmp_path / "out2").glob(PART_GLOB))  # nothing half-committed


# -- views --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engines(spark: Any, datasets: tuple[Path, Path]) -> tuple[Any, Catalog]:
    """Spark views over the Spark-written dataset, DuckDB's over knox convert's."""
    knox, spark_out = datasets
    register_views(spark, [spark_out], users=SAMPLES / "passwd")
    catalog = Catalog([knox], users=SAMPLES / "passwd")
    yield spark, catalog
    catalog.close()


def _norm(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):  # Spark reads u64 as decimal(20, 0)
        return int(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _answer(table: pa.Table, drop: set[str]) -> list[str]:
    rows = ({k: _norm(v) for k, v in row.items() if k not in drop}
            for row in table.to_pylist())
    return sorted(repr(row) for row in rows)


@pytest.mark.parametrize("view", [v.name for v in spark_views()])
def test_every_view_same_answer_on_both_engines(engines: tuple[Any, Catalog],
                                                view: str) -> None:
    spark, catalog = engines
    got = spark.sql(f"SELECT * FROM {view}").toArrow()
    want = catalog.query(f"SELECT * FROM {view}")
    assert got.column_names == want.column_names
    assert got.num_rows == want.num_rows
    # every column: "latest exec" breaks same-millisecond ties by file offset, so the
    # attributed command does not depend on an engine's tie order
    assert _answer(got, set()) == _answer(want, set())


def test_views_over_an_empty_dataset(tmp_path: Path, spark: Any) -> None:
    """A dataset with no records yet (nothing converted) still answers, with no rows."""
    empty = tmp_path / "empty"
    knox_convert([], empty)
    register_views(spark, [empty], cache=False)
    assert spark.sql("SELECT count(*) AS n FROM processes").collect()[0]["n"] == 0
    assert spark.sql("SELECT * FROM records").columns[-2:] == ["date", "machine"]


def test_cli_engine_spark(tmp_path: Path, spark: Any) -> None:
    """knox convert / knox query --engine spark (reusing this module's session)."""
    from typer.testing import CliRunner

    from knox_analytics.cli.main import app

    runner = CliRunner()
    out = tmp_path / "cli"
    done = runner.invoke(app, ["convert", "--engine", "spark", str(SAMPLES), "-o", str(out)])
    assert done.exit_code in (0, 3), done.output
    answer = runner.invoke(app, ["query", "--engine", "spark", "--format", "csv",
                                 "SELECT count(*) AS n FROM logins", str(out)])
    assert answer.exit_code == 0, answer.output
    with Catalog([out]) as catalog:
        want = catalog.query("SELECT count(*) AS n FROM logins")["n"][0].as_py()
    assert answer.stdout.splitlines()[-1] == str(want)
    bad = runner.invoke(app, ["query", "--engine", "spark", "SELECT nosuch FROM events",
                              str(out)])
    assert bad.exit_code != 0 and "nosuch" in bad.output
