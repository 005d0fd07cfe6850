"""Benchmark ``knox capture`` from a FIFO (figures, not a test).

    python benchmarks/live.py [--records 600000] [--samples 10]

* Throughput: a writer process pushes N records (the synthetic workload trail,
  tests/data/trails/synthetic-workload.bsm, repeated) into a FIFO as fast as it can while
  ``knox capture`` (a subprocess, default settings) reads it.  A FIFO blocks the writer
  whenever the capture falls behind, so the writer's rate *is* the sustained ingest rate;
  the end-to-end rate also counts converting every record into the Parquet dataset.
* Latency: with default settings, single records are written one at a time; a poller
  queries the dataset with DuckDB until each one is visible.

Targets (issue #6): ingest >= 200,000 records/s; written -> queryable < 2 s (defaults).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from knox_analytics.bsm.encode import encode_record, encode_token
from knox_analytics.store import dataset_glob

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TRAIL = ROOT / "tests" / "data" / "trails" / "synthetic-workload.bsm"
TRAIL_RECORDS = 3006
KNOX = [sys.executable, "-c", "from knox_analytics.cli.main import run; run()"]
TARGETS = {"ingest_rec_s": 200_000, "latency_s": 2.0}
WRITER = r"""
import os, sys, time
fifo, blob, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(blob, "rb").read()
fd = os.open(fifo, os.O_WRONLY)
t0 = time.monotonic()
for _ in range(reps):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
t1 = time.monotonic()
os.close(fd)
print(t1 - t0, flush=True)
"""


def throughput(records: int, tmp: Path) -> dict[str, float]:
    """Ingest and end-to-end rates for ``records`` records through a FIFO."""
    reps = max(1, records // TRAIL_RECORDS)
    n = reps * TRAIL_RECORDS
    fifo, out = tmp / "fifo", tmp / "out"
    os.mkfifo(fifo)
    start = time.monotonic()
    cap = subprocess.Popen([*KNOX, "capture", "--source", str(fifo), "--out", str(out)],
                           stderr=subprocess.PIPE, text=True)
    writer = subprocess.run([sys.executable, "-c", WRITER, str(fifo), str(TRAIL), str(reps)],
                            capture_output=True, text=True, check=True)
    _, err = cap.communicate()
    total = time.monotonic() - start
    if cap.returncode != 0:
        raise SystemExit(f"capture failed: {err}")
    write_s = float(writer.stdout)
    return {"records": n, "mb": reps * TRAIL.stat().st_size / 1e6,
            "ingest_rec_s": n / write_s, "ingest_mb_s": reps * TRAIL.stat().st_size / 1e6 / write_s,
            "end_to_end_rec_s": n / total, "end_to_end_s": total}


def _visible(glob: str, marker: str) -> bool:
    import duckdb

    try:
        return duckdb.sql(f"select count(*) from read_parquet('{glob}', hive_partitioning=1) "
                          f"where list_contains(texts, '{marker}')").fetchall()[0][0] > 0
    except duckdb.Error:  # no file yet
        return False


def latency(samples: int, tmp: Path) -> list[float]:
    """Seconds from writing one record to seeing it in a DuckDB query (default settings)."""
    rng = random.Random(1)
    fifo, out = tmp / "lfifo", tmp / "lout"
    os.mkfifo(fifo)
    cap = subprocess.Popen([*KNOX, "capture", "--source", str(fifo), "--out", str(out)],
                           stderr=subprocess.DEVNULL)
    fd = os.open(fifo, os.O_WRONLY)
    glob = dataset_glob(out / "dataset")  # committed parts only
    results = []
    try:
        for i in range(samples):
            record = encode_record([encode_token("text", text=f"rec-{i:07d}")], event=45000,
                                   time_ms=int(time.time() * 1000))
            written = time.monotonic()
            os.write(fd, record)
            while not _visible(glob, f"rec-{i:07d}"):
                time.sleep(0.01)
            results.append(time.monotonic() - written)
            time.sleep(rng.uniform(0.1, 0.7))  # land at random points of the flush cycle
    finally:
        os.close(fd)
        cap.wait(timeout=60)
    return results


def main() -> None:
    """Run both measurements and print the figures against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=600_000)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="knox-bench-live-") as tmpdir:
        tmp = Path(tmpdir)
        t = throughput(args.records, tmp)
        lat = latency(args.samples, tmp)
    ok = "ok" if t["ingest_rec_s"] >= TARGETS["ingest_rec_s"] else "BELOW TARGET"
    print(f"ingest:      {t['ingest_rec_s']:>12,.0f} records/s  ({t['ingest_mb_s']:.0f} MB/s, "
          f"{t['records']:,} records, {t['mb']:.0f} MB)  target >= 200,000: {ok}")
    print(f"end to end:  {t['end_to_end_rec_s']:>12,.0f} records/s  (FIFO -> segments -> "
          f"Parquet, {t['end_to_end_s']:.1f} s)")
    ok = "ok" if max(lat) < TARGETS["latency_s"] else "ABOVE TARGET"
    print(f"latency:     median {statistics.median(lat):.2f} s, max {max(lat):.2f} s over "
          f"{len(lat)} records (written -> queryable, default --flush 1s)  target < 2 s: {ok}")


if __name__ == "__main__":
    main()
