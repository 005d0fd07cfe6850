"""The catalog's views on Spark: ``records``, the lookup tables, then every question.

>>> spark = local_session()                                  # doctest: +SKIP
>>> register_views(spark, ["audit-parquet"])                 # doctest: +SKIP
>>> spark.sql("SELECT command, count(*) FROM commands GROUP BY 1").show()  # doctest: +SKIP

``records`` reads the part files that each dataset's manifest lists (the committed ones),
from any file system Spark reaches (``s3a://bucket/audit-parquet``, ``abfss://…``, a local
path), with the hive keys ``host`` and ``date`` read from the directory names as the
DuckDB catalog reads them.  The views are the DuckDB ``.sql`` files rendered by
:mod:`.sqlgen`, registered as temporary views of the session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from knox_analytics.catalog import MATERIALIZED
from knox_analytics.engine import load_users, lookup_tables
from knox_analytics.errors import InputError
from knox_analytics.schema import SCHEMA
from knox_analytics.spark.sqlgen import SparkView, spark_views
from knox_analytics.store.machines import machine_sql, names_of
from knox_analytics.store.manifest import MANIFEST_NAME, Manifest

#: Spark has no unsigned integers: the lookup tables widen them as Spark reads Parquet's.
_WIDER = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64()}
_NO_INFERENCE = "spark.sql.sources.partitionColumnTypeInference.enabled"


def register_views(spark: Any, datasets: Sequence[str | Path], *,
                   users: Mapping[int, str] | str | Path | None = None,
                   tables: str = "auto", cache: bool = True) -> list[str]:
    """Define ``records``, the lookup tables and every view in ``spark``; their names.

    ``datasets``: roots of datasets written by ``knox convert`` (local paths or URIs).
    ``users`` and ``tables`` as for :class:`knox_analytics.catalog.Catalog`.  ``cache``:
    keep ``records`` and the views the DuckDB catalog materialises (process instances,
    execs, ...) in Spark's cache once computed, as the catalog does -- every process
    question reads them several times.  Turn it off when the records do not fit in the
    executors' memory (Spark then spills, or recomputes).
    """
    records = read_records(spark, datasets)
    records.createOrReplaceTempView("records")
    if cache:
        spark.catalog.cacheTable("records")
    names = ["records"]
    for name, table in {**lookup_tables(tables), "users": _users(users)}.items():
        spark.createDataFrame(_signed(table)).createOrReplaceTempView(name)
        names.append(name)
    for view in spark_views():
        _define(spark, view)
        if cache and view.name in MATERIALIZED:
            spark.catalog.cacheTable(view.name)  # lazy: filled by its first query
        names.append(view.name)
    return names


def read_records(spark: Any, datasets: Sequence[str | Path]) -> Any:
    """One DataFrame of every committed record of ``datasets``: SCHEMA's columns (with
    ``host`` the partition key, as in DuckDB) plus ``date`` and ``machine``
    (:mod:`knox_analytics.store.machines`)."""
    manifests = {str(root): _manifest(spark, str(root)) for root in datasets}
    files = [f"{_uri(root)}/{part}" for root, m in manifests.items() for part in m.parts]
    if not files:
        return _empty_records(spark)
    machine = machine_sql(names_of(manifests.values()))
    frames = []
    for root in datasets:
        mine = [f for f in files if f.startswith(_uri(str(root)) + "/")]
        if mine:
            frames.append(_read_parts(spark, _uri(str(root)), mine, machine))
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other)
    return frame


def _read_parts(spark: Any, root: str, files: list[str], machine: str) -> Any:
    # Hive keys as strings (a --host label of digits must stay a string), then typed here.
    previous = spark.conf.get(_NO_INFERENCE)
    spark.conf.set(_NO_INFERENCE, "false")
    try:
        frame = spark.read.option("basePath", root).parquet(*files)
    finally:
        spark.conf.set(_NO_INFERENCE, previous)
    columns = [f"`{name}`" for name in SCHEMA.names]
    return frame.selectExpr(*columns, "CAST(date AS DATE) AS date", f"{machine} AS machine")


def _manifest(spark: Any, root: str) -> Manifest:
    """The manifest of the dataset at ``root`` (its committed parts, its machines)."""
    base = _uri(root)
    manifest_uri = f"{base}/{MANIFEST_NAME}"
    try:
        text = _read_text(spark, manifest_uri)
    except Exception as exc:  # OSError, or a Py4J error naming the path: say it our way
        raise InputError(f"{root}: not a knox dataset (cannot read {MANIFEST_NAME}: "
                         f"{_first_line(exc)})") from exc
    return Manifest.from_json(text, manifest_uri)


def _read_text(spark: Any, uri: str) -> str:
    """A small text file through Hadoop's file systems (s3a://, abfss://, hdfs://, file:).

    Not ``spark.read.text``: Hadoop input formats skip names starting with ``_``.
    """
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://")).read_text(encoding="utf-8")
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.open(path)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _uri(root: str) -> str:
    """A Hadoop URI for ``root``: local paths become ``file://`` (absolute)."""
    if "://" in root:
        return root.rstrip("/")
    return "file://" + str(Path(root).resolve())


def _empty_records(spark: Any) -> Any:
    empty = _signed(SCHEMA.empty_table())
    frame = spark.createDataFrame(empty)
    return frame.selectExpr("*", "CAST(NULL AS DATE) AS date", "'' AS machine")


def _users(users: Mapping[int, str] | str | Path | None) -> pa.Table:
    mapping = load_users(users)
    return pa.table({"uid": pa.array(list(mapping), pa.int64()),
                     "name": pa.array(list(mapping.values()), pa.string())})


def _signed(table: pa.Table) -> pa.Table:
    """``table`` with the types Spark reads from Parquet: no unsigned, no dictionary."""
    schema = pa.schema([pa.field(f.name, _spark_type(f.type)) for f in table.schema])
    if table.num_rows == 0:  # pyspark cannot take a column of zero chunks: give it one
        return pa.Table.from_batches([pa.RecordBatch.from_pylist([], schema=schema)])
    return table.cast(schema)


def _spark_type(type_: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(type_):
        return _spark_type(type_.value_type)
    if type_ in _WIDER:
        return _WIDER[type_]
    if type_ == pa.uint64():
        return pa.decimal128(20, 0)
    if pa.types.is_list(type_):
        return pa.list_(_spark_type(type_.value_type))
    if pa.types.is_struct(type_):
        return pa.struct([pa.field(f.name, _spark_type(f.type)) for f in type_])
    return type_


def _define(spark: Any, view: SparkView) -> None:
    try:
        spark.sql(view.sql)
    except Exception as exc:  # a bug in the generated SQL, not in the user's input
        raise RuntimeError(f"knox_analytics/sql/{view.file} on Spark: "
                           f"{_first_line(exc)}") from exc

