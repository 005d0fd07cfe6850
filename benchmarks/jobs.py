"""`knox convert --jobs N`: scaling from one job to two, and peak memory of the whole tree.

Targets (issue 12): >= 1.7x from --jobs 1 to --jobs 2 over several files, a single big
trail split across jobs, peak RSS <= 512 MiB for the process tree, --jobs 2 included.

    .venv/bin/python benchmarks/jobs.py [--size 300MB]

Each configuration runs `knox convert` in a fresh process (into a fresh dataset); peak
memory is the largest sum, over the convert process and its workers, of their
proportional set sizes (PSS: a page the workers share with the parent after fork counts
once, not once per process) sampled every 20 ms from /proc; the largest single RSS is
printed too.  One run each: the machine is shared, figures vary.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import split_trail, workload_trail


def _kib(path: str, key: str) -> int:
    text = Path(path).read_text()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith(key)))


def tree_memory(pid: int) -> tuple[int, int]:
    """(PSS of ``pid`` and its descendants, largest single RSS), bytes (Linux /proc)."""
    total, largest, todo = 0, 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += _kib(f"/proc/{p}/smaps_rollup", "Pss:") * 1024
            largest = max(largest, _kib(f"/proc/{p}/status", "VmRSS:") * 1024)
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except (OSError, StopIteration, ValueError):
            continue
    return total, largest


def run(inputs: list[Path], jobs: int, work: Path) -> tuple[float, int, int]:
    out = work / f"ds-{jobs}-{len(inputs)}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "knox_analytics", "convert", *map(str, inputs), "-o",
           str(out), "-q", "--jobs", str(jobs)]
    started = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = largest = 0
    while child.poll() is None:
        pss, rss = tree_memory(child.pid)
        peak, largest = max(peak, pss), max(largest, rss)
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if child.returncode not in (0, 3):
        raise SystemExit(f"convert failed: {child.stderr.read().decode()}")
    shutil.rmtree(out, ignore_errors=True)
    return seconds, peak, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="300MB")
    args = parser.parse_args()
    trail = workload_trail(args.size)
    three = sorted(split_trail(trail, 3).iterdir())
    mb = trail.stat().st_size / 1e6
    work = Path(tempfile.mkdtemp(prefix="knox-jobs-"))
    try:
        print(f"{mb:.0f} MB generated trail; convert end to end (zstd Parquet), one run each")
        rows = {}
        for label, inputs in (("three files", three), ("one file", [trail])):
            for jobs in (1, 2):
                seconds, peak, largest = run(inputs, jobs, work)
                rows[label, jobs] = seconds
                print(f"  {label:11} --jobs {jobs}: {seconds:6.1f} s  {mb / seconds:6.1f} MB/s"
                      f"  peak PSS (tree) {peak / 2**20:5.0f} MiB (target <= 512),"
                      f" largest RSS {largest / 2**20:4.0f} MiB")
            ratio = rows[label, 1] / rows[label, 2]
            print(f"  {label:11} --jobs 2 vs 1: {ratio:.2f}x (target >= 1.7x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
