"""The first derivation of the process state: CPU time and peak memory, by size (issue 20).

    KNOX_BENCH_CACHE=/work/bench-cache python benchmarks/derive.py 1000MB 2000MB

Per size: the cached workload trail (seed 1, generated once), converted once into
``/tmp/knox-derive-bench/<size>`` with ``knox convert --no-derive``; then its derived
state is removed and derived again in a fresh process (``DerivedState.update``, the first
process question's work), whose CPU time (user + sys) and peak RSS are measured.  Prints
per size the epochs, CPU seconds, peak RSS, and the growth ratio from size to size against
the targets: peak <= 1 GiB, doubling the data costs <= 2.2x CPU.
"""

from __future__ import annotations

import itertools
import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from common import parse_size, workload_trail

WORK = Path("/tmp/knox-derive-bench")
PEAK_TARGET_MIB = 1024
GROWTH_TARGET = 2.2

#: Run in the child: derive from nothing, report what it held.
CHILD = """
import json, resource, sys
from knox_analytics.derived import DerivedState
state = DerivedState.of(sys.argv[1])
state.update()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"epochs": len(state.held), "records": sum(h.records for h in state.held),
                  "cpu": ru.ru_utime + ru.ru_stime, "peak_mib": ru.ru_maxrss / 1024}))
"""


def dataset(size: str) -> Path:
    """The converted dataset of the workload trail of ``size`` (converted once)."""
    root = WORK / size
    if not (root / "_knox_manifest.json").exists():
        trail = workload_trail(parse_size(size))
        shutil.rmtree(root, ignore_errors=True)
        WORK.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "knox_analytics", "convert", str(trail),
                        "-o", str(root), "--no-derive"], check=True)
    return root


def first_derivation(root: Path) -> dict[str, float]:
    """Derive ``root``'s state from nothing in a fresh process; what it measured."""
    shutil.rmtree(root / "_knox_cache", ignore_errors=True)
    # stderr passes through: a failed derivation says why
    out = subprocess.run([sys.executable, "-c", CHILD, str(root)], check=True,
                         stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(sizes: list[str]) -> None:
    rows = []
    for size in sizes:
        got = first_derivation(dataset(size))
        rows.append((size, got))
        peak_ok = "met" if got["peak_mib"] <= PEAK_TARGET_MIB else "NOT met"
        print(f"{size}: {got['records']:,.0f} records in {got['epochs']:.0f} epochs, "
              f"CPU {got['cpu']:.1f} s, peak RSS {got['peak_mib']:.0f} MiB "
              f"(target <= {PEAK_TARGET_MIB} MiB: {peak_ok})", flush=True)
    for (a, x), (b, y) in itertools.pairwise(rows):
        ratio = y["cpu"] / x["cpu"]
        size_ratio = parse_size(b) / parse_size(a)
        ok = "met" if ratio <= GROWTH_TARGET * size_ratio / 2 else "NOT met"
        print(f"{a} -> {b} ({size_ratio:.1f}x the data): CPU {ratio:.2f}x "
              f"(target <= {GROWTH_TARGET * size_ratio / 2:.2f}x: {ok})")
    print(f"(peak RSS of the deriving process; {resource.getpagesize()} B pages; CPU is "
          "user + sys of that process: the wall clock is noisy on a shared machine)")


if __name__ == "__main__":
    main(sys.argv[1:] or ["1000MB", "2000MB"])
