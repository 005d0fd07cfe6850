"""What one Spark task does: decode its byte ranges, write their parts, report back.

Plain Python over JSON-able dicts (no pyspark): the driver ships task specs as strings in
a DataFrame, ``mapInArrow`` hands them to :func:`task_batches` on the executors, and the
reports come back as strings.  Testable, and runnable, without Spark.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.ranges import TrailRange, decode_range
from knox_analytics.bsm.tables import load_tables
from knox_analytics.errors import NotBSMError
from knox_analytics.schema import file_tokens
from knox_analytics.spark.parts import write_parts
from knox_analytics.store.identity import ID_DTYPE, IdIndex, RecordFilter
from knox_analytics.store.manifest import load_manifest

#: The schema of the task reports coming back to the driver (Spark DDL).
REPORT_DDL = "task INT, report STRING"


def run_task(spec: dict) -> dict:
    """Decode ``spec["ranges"]`` and write their rows under ``spec["root"]``.

    Returns ``{"parts": [...], "ranges": [{"path", "start", "rows", "known", "end",
    "damage", "not_bsm", "added", "counts", "file_tokens", "hosts"}]}``: ``rows`` the new
    records written,
    ``file_tokens`` how many of those rows are stand-alone file tokens (rows, not
    records), ``known`` those the dataset held (record identity against its index as committed),
    ``added`` the new ids by partition and ``counts`` the range's occurrence counts
    (encoded by :func:`encode_ids`), for the driver's checks and the manifest, and
    ``hosts`` the host keys the range's records name (:mod:`knox_analytics.store.machines`).
    A first range that is not BSM at all is reported (``not_bsm``: the error's detail,
    else null), not raised: the driver decides (a README beside trails in a directory is skipped).
    """
    tables = load_tables()
    root = Path(spec["root"])
    manifest = load_manifest(root)
    index = IdIndex(root, manifest.id_files if manifest else ())
    decoded, reports = [], []
    for raw in spec["ranges"]:
        rng = TrailRange(**raw)
        report = {"path": rng.path, "start": rng.start, "rows": 0, "known": 0, "end": None,
                  "damage": [], "not_bsm": None, "added": {}, "counts": "",
                  "file_tokens": 0}
        filt = RecordFilter(index, spec["label"], keep_added=True)
        try:
            result = decode_range(rng, tables, filt.feed)
        except NotBSMError as exc:
            report["not_bsm"] = exc.detail
        else:
            decoded.append(result.table)
            report.update(rows=result.table.num_rows, known=filt.known, end=result.end,
                          file_tokens=file_tokens(result.table),
                          damage=[asdict(d) for d in result.damage],
                          added={k: encode_ids(np.concatenate(v))
                                 for k, v in filt.added.items()},
                          counts=encode_ids(filt.occurrences.table()),
                          hosts=sorted(filt.hosts))
        finally:
            filt.hasher.close()
        reports.append(report)
    parts = write_parts(spec["root"], decoded, label=spec["label"], prefix=spec["prefix"])
    return {"parts": parts, "ranges": reports}


def encode_ids(ids: np.ndarray) -> str:
    """Ids (or their first halves) as text for a JSON report."""
    return base64.b64encode(np.ascontiguousarray(ids).tobytes()).decode("ascii")


def decode_ids(text: str, dtype: np.dtype = ID_DTYPE) -> np.ndarray:
    """The inverse of :func:`encode_ids`."""
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


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
