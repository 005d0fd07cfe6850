"""Benchmark the decoder and the converter (figures, not a test).

    python benchmarks/convert.py [--size 300MB] [--oracle-mb 8] [--skip-jobs] [--decode-only]

Generates (once, cached in benchmarks/.cache/ or $KNOX_BENCH_CACHE) a workload trail with
the deterministic generator, then measures, each in a fresh subprocess so that peak RSS
is its own:

* decode to Arrow (read_trail over the file, Arrow limited to one thread): MB/s,
  records/s, peak RSS, and the same on a tenth of the trail, to show memory does not
  grow with trail size; and the ratio to praudit's bare decoding (measured if praudit is
  installed, else issue 12's 25 MB/s, labelled so);
* the adversarial case of issue 12: one 64 MB record of 3-byte tokens;
* end to end to Parquet (``convert``): MB/s, peak RSS;
* the reference per-record decoder against the vectorized one on the same slice;
* ``convert --jobs 2`` over the trail split into 8 files, against ``--jobs 1``.

Targets (issues 3 and 12, on the 2-core machine): decode >= 300 MB/s on one core
(>= 12x bare praudit), the 64 MB hostile record >= 50 MB/s, end-to-end >= 100 MB/s,
peak RSS <= 512 MiB independent of trail size, >= 50x the per-record decoder.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    CACHE,
    bare_praudit_mb_s,
    hostile_trail,
    parse_size,
    split_trail,
    workload_trail,
)

TARGETS = {"decode_mb_s": 300, "decode_x_praudit": 12, "hostile_mb_s": 50,
           "convert_mb_s": 100, "rss_mib": 512, "oracle_ratio": 50}
HOSTILE_SIZE = 64 * 10**6


def prefix(path: Path, nbytes: int, name: str) -> Path:
    """The first records of ``path`` up to ``nbytes`` (cut at a record boundary)."""
    out = CACHE / name
    if out.exists():
        return out
    from knox_analytics.bsm.reader import read_trail

    end = 0
    for result in read_trail(path, chunk_size=4 << 20):
        offsets = result.table["offset"].to_numpy()
        lengths = result.table["length"].to_numpy()
        fitting = offsets + lengths <= nbytes
        if fitting.any():
            end = int((offsets + lengths)[fitting].max())
        if not fitting.all():
            break
    with open(path, "rb") as src, open(out, "wb") as dst:
        dst.write(src.read(end))
    return out


# --- measurements, each run in a subprocess -------------------------------------------

def _measure_decode(path: str) -> dict:
    import pyarrow as pa

    from knox_analytics.bsm.reader import read_trail
    from knox_analytics.bsm.tables import load_tables

    pa.set_cpu_count(1)  # one core: no Arrow compute threads
    pa.set_io_thread_count(1)
    tables = load_tables("builtin")
    started, records = time.perf_counter(), 0
    for result in read_trail(path, tables=tables):
        records += result.records
    return {"seconds": time.perf_counter() - started, "records": records}


def _measure_convert(path: str, jobs: str = "1") -> dict:
    from knox_analytics.bsm.tables import load_tables
    from knox_analytics.convert import convert

    out = tempfile.mkdtemp(prefix="knox-bench-")
    try:
        summary = convert([path], Path(out) / "ds", tables=load_tables("builtin"),
                          jobs=int(jobs))
        return {"seconds": summary.seconds, "records": summary.records}
    finally:
        shutil.rmtree(out)


def _measure_oracle(path: str) -> dict:
    from knox_analytics.bsm.decode import decode_bytes
    from knox_analytics.bsm.reference import decode_reference
    from knox_analytics.bsm.tables import load_tables

    data, tables = Path(path).read_bytes(), load_tables("builtin")
    started = time.perf_counter()
    fast = decode_bytes(data, path, tables=tables)
    fast_s = time.perf_counter() - started
    started = time.perf_counter()
    slow = decode_reference(data, path, tables=tables)
    slow_s = time.perf_counter() - started
    assert fast.table.num_rows == slow.table.num_rows
    return {"fast_seconds": fast_s, "oracle_seconds": slow_s, "records": fast.table.num_rows}


WORKERS = {"decode": _measure_decode, "convert": _measure_convert, "oracle": _measure_oracle}


def run_worker(kind: str, *args: str) -> dict:
    """Run one measurement in a fresh interpreter; add its peak RSS."""
    proc = subprocess.run([sys.executable, __file__, "--worker", kind, *args],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, default=300 * 10**6)
    ap.add_argument("--oracle-mb", type=float, default=8.0,
                    help="slice decoded by both decoders for the speed ratio")
    ap.add_argument("--skip-jobs", action="store_true")
    ap.add_argument("--hostile-mb", type=float, default=HOSTILE_SIZE / 1e6,
                    help="size of the one-record hostile trail (MB)")
    ap.add_argument("--decode-only", action="store_true",
                    help="only the decode figures (decode, hostile record, praudit ratio)")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        result = WORKERS[args.worker[0]](*args.worker[1:])
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    trail = workload_trail(args.size)
    mb = trail.stat().st_size / 1e6
    tenth = prefix(trail, trail.stat().st_size // 10, f"{trail.stem}-tenth.bsm")
    print(f"trail: {trail.name}, {mb:.0f} MB")
    figures: dict[str, float] = {}

    dec = run_worker("decode", str(trail))
    figures["decode_mb_s"] = mb / dec["seconds"]
    figures["rss_mib"] = dec["peak_rss_mib"]
    small = run_worker("decode", str(tenth))
    print(f"decode to Arrow : {figures['decode_mb_s']:7.1f} MB/s  "
          f"{dec['records'] / dec['seconds']:>10,.0f} records/s  ({dec['records']:,} records "
          f"in {dec['seconds']:.2f} s)")
    print(f"peak RSS        : {dec['peak_rss_mib']:7.0f} MiB for {mb:.0f} MB; "
          f"{small['peak_rss_mib']:.0f} MiB for {tenth.stat().st_size / 1e6:.0f} MB")
    praudit, label = bare_praudit_mb_s(trail)
    figures["decode_x_praudit"] = figures["decode_mb_s"] / praudit
    print(f"vs bare praudit : {figures['decode_x_praudit']:7.1f}x  ({label})")

    hostile = hostile_trail(int(args.hostile_mb * 1e6))
    hos = run_worker("decode", str(hostile))
    hmb = hostile.stat().st_size / 1e6
    figures["hostile_mb_s"] = hmb / hos["seconds"]
    print(f"hostile record  : {figures['hostile_mb_s']:7.1f} MB/s  (one {hmb:.1f} MB record of "
          f"3-byte tokens in {hos['seconds']:.2f} s, peak RSS {hos['peak_rss_mib']:.0f} MiB)")
    if args.decode_only:
        _print_targets(figures)
        return

    conv = run_worker("convert", str(trail))
    figures["convert_mb_s"] = mb / conv["seconds"]
    figures["rss_mib"] = max(figures["rss_mib"], conv["peak_rss_mib"])
    print(f"end to end      : {figures['convert_mb_s']:7.1f} MB/s to Parquet (zstd), "
          f"peak RSS {conv['peak_rss_mib']:.0f} MiB")

    slice_ = prefix(trail, int(args.oracle_mb * 1e6), f"{trail.stem}-oracle.bsm")
    orc = run_worker("oracle", str(slice_))
    figures["oracle_ratio"] = orc["oracle_seconds"] / orc["fast_seconds"]
    smb = slice_.stat().st_size / 1e6
    print(f"vs per-record   : {figures['oracle_ratio']:7.1f}x  (oracle "
          f"{smb / orc['oracle_seconds']:.1f} MB/s, vectorized "
          f"{smb / orc['fast_seconds']:.1f} MB/s on the same {smb:.1f} MB in one buffer)")

    if not args.skip_jobs:
        parts = split_trail(trail, 8)
        one = run_worker("convert", str(parts), "1")
        two = run_worker("convert", str(parts), "2")
        print(f"--jobs 2        : {mb / two['seconds']:7.1f} MB/s vs {mb / one['seconds']:.1f} "
              f"MB/s with --jobs 1 over 8 files ({one['seconds'] / two['seconds']:.2f}x)")

    _print_targets(figures)


def _print_targets(figures: dict[str, float]) -> None:
    print("\ntargets:")
    for key, goal in TARGETS.items():
        if key not in figures:
            continue
        got = figures[key]
        met = got <= goal if key == "rss_mib" else got >= goal
        print(f"  {key:16s} {got:8.1f}  target {'<=' if key == 'rss_mib' else '>='} "
              f"{goal:<5}  {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
