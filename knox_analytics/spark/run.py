"""One-call entry points for the CLI: start a session, do one thing, stop it.

``knox convert --engine spark`` → :func:`convert_on`; ``knox query --engine spark`` →
:func:`query_on`.  Errors come back as :class:`~knox_analytics.errors.KnoxError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from knox_analytics.convert import ConvertSummary
from knox_analytics.errors import UsageError
from knox_analytics.spark.session import DEFAULT_MASTER, local_session, require_pyspark


def convert_on(inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], *,
               master: str = DEFAULT_MASTER, overwrite: bool = False, strict: bool = False,
               host: str | None = None) -> ConvertSummary:
    """:func:`knox_analytics.spark.convert` in a session on ``master``.

    >>> convert_on(["/fleet"], "audit-parquet", master="local[2]")  # doctest: +SKIP
    """
    from knox_analytics.spark.convert import convert

    with _session(master) as spark:
        return convert(spark, inputs, output, overwrite=overwrite, strict=strict, host=host)


def query_on(sql: str, datasets: Sequence[str | Path], *, master: str = DEFAULT_MASTER,
             users: str | None = None) -> pa.Table:
    """Run ``sql`` -- written for DuckDB, as for ``knox query`` -- on Spark over
    ``datasets``, with every view defined; the answer as an Arrow table.

    >>> query_on("SELECT count(*) AS n FROM commands", ["audit-parquet"])  # doctest: +SKIP
    """
    from sqlglot.errors import ParseError

    from knox_analytics.errors import SqlGenError
    from knox_analytics.spark.sqlgen import translate
    from knox_analytics.spark.views import register_views

    try:
        spark_sql = translate(sql)
    except (ParseError, SqlGenError) as exc:
        raise UsageError(f"SQL: {str(exc).strip().splitlines()[0]}") from exc
    with _session(master) as spark:
        register_views(spark, datasets, users=users, cache=False)
        try:
            return spark.sql(spark_sql).toArrow()
        except Exception as exc:  # pyspark's AnalysisException & co: the user's SQL
            raise UsageError(f"SQL on Spark: {str(exc).strip().splitlines()[0]}") from exc


@contextmanager
def _session(master: str) -> Iterator[Any]:
    """A session on ``master``, stopped afterwards -- unless one was already running in
    this process (a notebook, a test): that one is used and left running."""
    active = require_pyspark().SparkSession.getActiveSession()
    spark = active or local_session(master)
    if active is None:  # a CLI run: our own message for a bad query, not Spark's log
        spark.sparkContext.setLogLevel("OFF")
    try:
        yield spark
    finally:
        if active is None:
            spark.stop()
