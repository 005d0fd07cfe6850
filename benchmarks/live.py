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

    python benchmarks/live.py --commands [--pids 90000] [--batch 5000] [--batches 5]

* Live ``knox commands`` (issue 21 R5): the process state of ``--pids`` processes is
  carried (a batch of forks, execs and exits first), then batches of ``--batch`` records
  (forks and execs of those processes, as a loaded host writes them) are answered one by
  one.  Each batch's CPU time (user+sys of this process: DuckDB's threads included) gives
  the records per second it keeps up with.  Target: >= 5,000 records/s while carrying
  90,000 pids (the audit pipe's queue holds 1,024 records: above the rate, it drops).
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


def _proc(event: int, pid: int, body: list[bytes], t: int) -> bytes:
    subject = encode_token("subject32", auid=501, euid=501, egid=20, ruid=501, rgid=20,
                           pid=pid, sid=100, tid_port=0, tid_addr="0.0.0.0")
    return encode_record([*body, subject, encode_token("return32", errno=0, value=0)],
                         event=event, time_ms=1_772_355_600_000 + t)


def _life(parent: int, child: int, t: int, *, exits: bool) -> list[bytes]:
    """A fork of ``child`` by ``parent``, its exec, and (``exits``) its exit."""
    out = [_proc(2, parent, [encode_token("arg32", num=0, value=child, name="child PID")], t),
           _proc(23, child, [encode_token("exec_args", argv=["make", f"-j{child % 8}"]),
                             encode_token("path", path="/usr/bin/make")], t + 1)]
    if exits:
        out.append(_proc(1, child, [encode_token("exit", status=0, **{"return": 0})], t + 2))
    return out


def live_commands(pids: int, batch: int, batches: int) -> dict[str, float]:
    """CPU seconds per batch of ``batch`` records while carrying ``pids`` processes."""
    import resource

    from knox_analytics.bsm.reader import StreamDecoder
    from knox_analytics.live.commands import CommandsOverStream

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    decoder = StreamDecoder("bench")
    asker = CommandsOverStream(users={501: "alice"})
    seed = b"".join(r for i in range(pids)
                    for r in _life(1, 100_000 + i, i * 3, exits=i % 3 == 0))
    before = cpu()
    for b in decoder.feed(seed):
        asker.answer(b)
    seed_s = cpu() - before
    carried = getattr(asker, "carried_rows", -1)  # -1: a version without it
    costs, rows = [], 0
    t = pids * 3
    for k in range(batches):
        data = b"".join(r for i in range(batch // 2)
                        for r in _life(100_000 + (i * 7 + k) % pids, 300_000 + k * batch + i,
                                       t + i * 2, exits=False))
        t += batch
        parts = list(decoder.feed(data))
        before = cpu()
        for b in parts:
            rows += asker.answer(b).num_rows
        costs.append(cpu() - before)
    per_batch = statistics.median(costs)
    return {"pids": pids, "carried_rows": carried, "seed_s": seed_s, "batch": batch,
            "batch_cpu_s": per_batch, "rec_s": batch / per_batch, "execs": rows,
            "batches": batches}


def main() -> None:
    """Run the measurements and print the figures against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=600_000)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--commands", action="store_true",
                        help="measure live knox commands instead (R5)")
    parser.add_argument("--pids", type=int, default=90_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    if args.commands:
        c = live_commands(args.pids, args.batch, args.batches)
        ok = "ok" if c["rec_s"] >= 5_000 else "BELOW TARGET"
        print(f"live commands: carrying {c['pids']:,} pids ({c['carried_rows']:,} rows, "
              f"built in {c['seed_s']:.1f} s CPU), a batch of {c['batch']:,} records costs "
              f"{c['batch_cpu_s']:.3f} s CPU (median of {c['batches']}): "
              f"{c['rec_s']:,.0f} records/s  target >= 5,000: {ok}")
        return
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
