"""Paths every test uses, in one place (imported as ``knoxtest``: tests/ is on sys.path),
and a stand-in Spark session that runs knox's real Spark tasks in this process.

The trails and goldens under ``tests/data/trails`` come from ../shared/trails; their
origin and licences are in ``tests/data/trails/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
TRAILS = ROOT / "tests" / "data" / "trails"
SAMPLES = ROOT / "sample_trails"
WORKDAY = SAMPLES / "generated-workday.bsm"
WORKLOAD = TRAILS / "synthetic-workload.bsm"


class InProcessSpark:
    """Just what knox's Spark convert asks of a session, run in this process: its tasks
    (knox_analytics.spark.tasks) are the real ones; only the scheduling is not Spark's."""

    def __init__(self) -> None:
        self.sparkContext = self

    def parallelize(self, specs: list, numSlices: int) -> list:
        return specs

    def createDataFrame(self, specs: list, schema: str) -> InProcessSpark:
        self.specs = specs
        return self

    def mapInArrow(self, fn: object, schema: str) -> InProcessSpark:
        batch = pa.RecordBatch.from_pydict({"task": [n for n, _ in self.specs],
                                            "spec": [s for _, s in self.specs]})
        self.rows = [r for out in fn(iter([batch])) for r in out.to_pylist()]
        return self

    def collect(self) -> list[dict]:
        return self.rows
