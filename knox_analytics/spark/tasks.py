"""What one Spark task does: decode its byte ranges, write their parts, report back.

Plain Python over JSON-able dicts (no pyspark): the driver ships task specs as strings in
a DataFrame, ``mapInArrow`` hands them to :func:`task_batches` on the executors, and the
reports come back as strings.  Testable, and runnable, without Spark.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict

import pyarrow as pa

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.tables import load_tables
from knox_analytics.errors import NotBSMError
from knox_analytics.spark.parts import write_parts
from knox_analytics.spark.ranges import TrailRange, decode_range
from knox_analytics.store.identity import runs_of

#: The schema of the task reports coming back to the driver (Spark DDL).
REPORT_DDL = "task INT, report STRING"


def run_task(spec: dict) -> dict:
    """Decode ``spec["ranges"]`` and write their rows under ``spec["root"]``.

    Returns ``{"parts": [...], "ranges": [{"path", "start", "rows", "end", "damage",
    "not_bsm"}]}``.  A first range that is not BSM at all is reported (``not_bsm``: the
    error's detail, else null), not raised: the driver decides (a README beside trails in
    a directory is skipped).
    """
    tables = load_tables()
    decoded, reports = [], []
    for raw in spec["ranges"]:
        rng = TrailRange(**raw)
        report = {"path": rng.path, "start": rng.start, "rows": 0, "end": None,
                  "damage": [], "not_bsm": None}
        try:
            result = decode_range(rng, tables)
        except NotBSMError as exc:
            report["not_bsm"] = exc.detail
        else:
            decoded.append(result.table)
            report.update(rows=result.table.num_rows, end=result.end,
                          damage=[asdict(d) for d in result.damage],
                          runs=identity_runs(result.table, result.raw, result.raw_base))
        reports.append(report)
    parts = write_parts(spec["root"], decoded, label=spec["label"], prefix=spec["prefix"])
    return {"parts": parts, "ranges": reports}


def identity_runs(table: pa.Table, raw: bytes, raw_base: int) -> list[list]:
    """The record-identity runs of a range's rows (``[digest hex, records, tmin, tmax,
    occurrence]``), so that the driver's run index knows what Spark converted and a later
    ``knox convert`` of overlapping trails adds nothing twice."""
    if not raw:  # a compressed trail is streamed whole; its bytes are not kept
        return []
    return [[r.digest.hex(), r.records, r.tmin, r.tmax, occ]
            for r, occ in runs_of(table, raw, raw_base)]


def task_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: rows ``(task, spec)`` in, ``(task, report)`` out."""
    for batch in batches:
        tasks = batch.column("task").to_pylist()
        specs = batch.column("spec").to_pylist()
        reports = [json.dumps(run_task(json.loads(s))) for s in specs]
        yield pa.RecordBatch.from_pydict({"task": pa.array(tasks, pa.int32()),
                                          "report": pa.array(reports, pa.string())})


def damage_from(report: dict) -> list[Damage]:
    """The Damage objects of one range report."""
    return [Damage(**d) for d in report["damage"]]
