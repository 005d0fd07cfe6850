"""Benchmark: Spark local[2] against ``knox convert`` on 2 cores (figures, not a test).

    python benchmarks/spark.py [--size 300MB] [--scales 1,2,4] [--files 16] [--master local[2]]

For each scale k, the deterministic workload trail of k x ``--size`` (seed 1, generated
once and cached in benchmarks/.cache/) is split at record boundaries into k x ``--files``
files -- a fleet's worth of rotated trails -- and converted into a fresh dataset by

* ``knox convert --jobs 2`` (worker processes decode, the main process writes Parquet);
* ``knox_analytics.spark.convert`` on ``--master`` (one task per ~64 MB of trail).

Printed per run: seconds, MB/s of trail, records, and the time relative to scale 1 (linear
scaling = k).  The SparkSession is started once, before the timings (its start-up, ~10 s,
is printed separately): on a cluster it is paid once per application, not per conversion.
The datasets are checked to hold the same number of records.

What to expect on one 2-core machine: Spark adds JVM <-> Python (Arrow) hops and task
scheduling to the same decoder, so it is not faster than ``knox convert --jobs 2`` there;
its point is the cluster, where throughput grows with executors (see docs/spark.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from common import CACHE, parse_size, split_trail, workload_trail


def run_knox(inputs: Path, out: Path) -> tuple[float, int]:
    from knox_analytics.convert import convert

    started = time.perf_counter()
    summary = convert([inputs], out, jobs=2)
    return time.perf_counter() - started, summary.records


def run_spark(spark: object, inputs: Path, out: Path) -> tuple[float, int]:
    from knox_analytics.spark import convert

    started = time.perf_counter()
    summary = convert(spark, [inputs], out)
    return time.perf_counter() - started, summary.records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, default=300 * 10**6)
    ap.add_argument("--scales", default="1,2,4")
    ap.add_argument("--files", type=int, default=16, help="files per --size of trail")
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()
    scales = [int(s) for s in args.scales.split(",")]

    from knox_analytics.spark import local_session

    started = time.perf_counter()
    spark = local_session(args.master)
    print(f"SparkSession {args.master}: started in {time.perf_counter() - started:.1f} s")
    results = []
    for k in scales:
        inputs = split_trail(workload_trail(k * args.size), k * args.files)
        mb = sum(p.stat().st_size for p in inputs.iterdir()) / 1e6
        for engine, run in (("knox --jobs 2", run_knox),
                            (f"spark {args.master}", lambda i, o: run_spark(spark, i, o))):
            work = Path(tempfile.mkdtemp(prefix="knox-bench-", dir=CACHE))
            try:
                seconds, records = run(inputs, work / "dataset")
            finally:
                shutil.rmtree(work, ignore_errors=True)
            results.append({"engine": engine, "scale": k, "files": k * args.files,
                            "mb": round(mb), "seconds": round(seconds, 1),
                            "mb_s": round(mb / seconds, 1), "records": records})
            print(json.dumps(results[-1]), flush=True)
    _table(results)
    spark.stop()


def _table(results: list[dict]) -> None:
    print(f"\n{'engine':<18}{'scale':>6}{'files':>7}{'MB':>7}{'s':>8}{'MB/s':>8}"
          f"{'x time':>8}")
    base = {r["engine"]: r["seconds"] for r in results if r["scale"] == 1}
    for r in results:
        rel = r["seconds"] / base[r["engine"]] if r["engine"] in base else float("nan")
        print(f"{r['engine']:<18}{r['scale']:>6}{r['files']:>7}{r['mb']:>7}"
              f"{r['seconds']:>8}{r['mb_s']:>8}{rel:>8.2f}")
    by_scale: dict[int, set[int]] = {}
    for r in results:
        by_scale.setdefault(r["scale"], set()).add(r["records"])
    assert all(len(v) == 1 for v in by_scale.values()), f"record counts differ: {by_scale}"


if __name__ == "__main__":
    main()
