"""Spark-free parts of knox_analytics.spark: the SQL generator and what one task does.

These run without pyspark (only sqlglot for the generator tests).  Fixtures: the trails
in tests/data/trails (see its README for provenance).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from knoxtest import TRAILS

from knox_analytics.bsm.ranges import split_trail
from knox_analytics.errors import SqlGenError

# end-to-end: in `make test`, not in the fast `make check` loop
pytestmark = pytest.mark.slow


# -- the SQL generator ------------------------------------------------------------------
@pytest.fixture(scope="module")
def sqlgen() -> ModuleType:  # or a skip
    pytest.importorskip("sqlglot", reason="sqlglot not installed: pip install -e '.[spark]'")
    from knox_analytics.spark import sqlgen

    return sqlgen


def test_every_view_file_renders_for_spark(sqlgen: ModuleType) -> None:
    import re

    from knox_analytics.engine import sql_files

    views = sqlgen.spark_views()
    # every view of the catalog (table macros are inlined where a view uses them)
    create_view = re.compile(r"CREATE\s+OR\s+REPLACE\s+VIEW\s+(\w+)", re.IGNORECASE)
    defined = {v for f in sql_files() for v in create_view.findall(f.text)}
    assert {v.name for v in views} == defined
    for view in views:
        assert "ASOF " not in view.sql.upper()
        assert view.sql.startswith(f"CREATE OR REPLACE TEMPORARY VIEW {view.name} AS")


@pytest.mark.parametrize(("duckdb", "spark"), [
    ("SELECT paths[1] FROM r", "GET(paths, 0)"),
    ("SELECT format('{}@{}', pid, epoch_ms(t)) FROM r",
     "CONCAT(CAST(pid AS STRING), '@', CAST(UNIX_MILLIS(t) AS STRING))"),
    ("SELECT regexp_full_match(a, '[a-z]+') FROM r", "a RLIKE '^(?:[a-z]+)$'"),
    ("SELECT len(sockets) FROM r", "SIZE(sockets)"),
    ("SELECT CAST(x AS UINTEGER) FROM r", "CAST(x AS BIGINT)"),
    ("SELECT list_has_any(a, ['x']) FROM r", "ARRAYS_OVERLAP(a, ARRAY('x'))"),
    ("SELECT list(x ORDER BY t, o) FROM r",
     "TRANSFORM(ARRAY_SORT(COLLECT_LIST(STRUCT(t AS k0, o AS k1, x AS v))), e -> e.v)"),
])
def test_rewrite_rules(sqlgen: ModuleType, duckdb: str, spark: str) -> None:
    assert spark in " ".join(sqlgen.translate(duckdb).split())


def test_asof_join_becomes_an_equi_join_with_a_validity_interval(sqlgen: ModuleType) -> None:
    sql = " ".join(sqlgen.translate(
        "SELECT a.x, b.y FROM a ASOF LEFT JOIN b ON b.k = a.k AND a.t >= b.t").split())
    assert "LEAD(b.t) OVER (PARTITION BY b.k ORDER BY b.t NULLS LAST) AS __asof_next" in sql
    assert "( b.__asof_next IS NULL OR a.t < b.__asof_next )" in sql
    strict = " ".join(sqlgen.translate(
        "SELECT 1 FROM a ASOF LEFT JOIN b ON a.k = b.k AND a.t > b.t").split())
    assert "a.t <= b.__asof_next" in strict


def test_unsupported_sql_fails_loudly(sqlgen: ModuleType) -> None:
    with pytest.raises(SqlGenError, match="latest right row"):
        sqlgen.translate("SELECT 1 FROM a ASOF LEFT JOIN b ON a.k = b.k AND a.t <= b.t")
    with pytest.raises(SqlGenError, match="DESC"):
        sqlgen.translate("SELECT list(x ORDER BY t DESC) FROM r")


def test_spark_tasks_report_record_ids(tmp_path: Path) -> None:
    """What Spark converts enters the id index, so a later `knox convert` of an
    overlapping trail (here: the same trail, renamed and cut) adds nothing twice."""
    import json

    from knox_analytics.convert import convert
    from knox_analytics.spark.tasks import decode_ids, run_task
    from knox_analytics.store import DatasetWriter

    trail = TRAILS / "synthetic-workload.bsm"
    ranges = [r.__dict__ for r in split_trail(str(trail), 0, trail.stat().st_size,
                                              split_bytes=100_000)]
    out = tmp_path / "ds"
    with DatasetWriter(out) as writer:  # what spark/convert.py does around the tasks
        report = json.loads(json.dumps(run_task({"root": str(out), "label": None,
                                                 "prefix": "t1", "ranges": ranges})))
        assert all(r["added"] and r["counts"] for r in report["ranges"])
        writer.adopt(tuple(p) for p in report["parts"])
        for r in report["ranges"]:
            for key, ids in r["added"].items():
                writer.index.add(key, decode_ids(ids))
    cut = tmp_path / "copy.bsm"
    cut.write_bytes(trail.read_bytes()[:250_000])
    assert convert([cut], out).records == 0
