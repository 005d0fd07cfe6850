"""Start-up and export time of the ``knox`` command, against issue 12's targets.

    python benchmarks/cli.py                       # the cached 300 MB benchmark dataset
    python benchmarks/cli.py --dataset /tmp/nc/ds  # a dataset you converted yourself

Each figure is the wall time of the real command (``python -m knox_analytics``, a fresh
process, as a user runs it), best of ``--repeat``:

- ``knox --help`` and ``knox --version``: target <= 0.3 s (the command modules, numpy,
  pyarrow and duckdb are imported only when a command needs them);
- ``knox commands DATASET -f csv > file`` (every exec of the 300 MB trail, ~490 k rows):
  target <= 1.5 s; results leave through Arrow's CSV writer, not row by row in Python.
  The first run after a convert also builds the derived process tables (cached beside
  the dataset); it is reported separately.

The dataset comes from the deterministic workload trail (``--seed 1 --size 300MB``),
generated and converted once under ``benchmarks/.cache/``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import CACHE, workload_trail

ROOT = CACHE.parent.parent
TARGETS = {"knox --help": 0.3, "knox --version": 0.3, "knox commands DATASET -f csv": 1.5}


def run(args: list[str], stdout: object = subprocess.DEVNULL) -> float:
    """Wall seconds of one ``knox ARGS`` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "knox_analytics", *args], stdout=stdout,
                   stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - started


def best(args: list[str], repeat: int, **kw: object) -> float:
    return min(run(args, **kw) for _ in range(repeat))


def _python_alone() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def _query_alone(dataset: Path) -> float:
    """The export's query to an Arrow table, in-process and warm: what is left of the
    export without start-up and writing."""
    sys.path.insert(0, str(ROOT))
    from knox_analytics.catalog import Catalog
    from knox_analytics.questions import ask

    with Catalog([dataset]) as cat:
        ask(cat, "commands")  # views defined, caches read
        started = time.perf_counter()
        ask(cat, "commands")
        return time.perf_counter() - started


def dataset_of(trail: Path) -> Path:
    out = CACHE / f"{trail.stem}-dataset"
    if not out.exists():
        sys.path.insert(0, str(ROOT))
        from knox_analytics.convert import convert

        convert([str(trail)], out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, help="dataset to export (default: the cached one)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    dataset = args.dataset or dataset_of(workload_trail("300MB"))
    figures: dict[str, float] = {}
    figures["knox --help"] = best(["--help"], args.repeat)
    figures["knox --version"] = best(["--version"], args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "commands.csv"
        with out.open("wb") as fh:
            first = run(["commands", str(dataset), "-f", "csv"], stdout=fh)
        rows = sum(1 for _ in out.open("rb")) - 1
        export = []
        for _ in range(args.repeat):
            with out.open("wb") as fh:
                export.append(run(["commands", str(dataset), "-f", "csv"], stdout=fh))
        figures["knox commands DATASET -f csv"] = min(export)
    floor = min(_python_alone() for _ in range(args.repeat))
    query = _query_alone(dataset)
    print(f"{'what':34} {'measured':>10} {'target':>8}")
    for what, seconds in figures.items():
        met = "met" if seconds <= TARGETS[what] else "NOT met"
        print(f"{what:34} {seconds:9.2f}s {TARGETS[what]:7.1f}s  {met}")
    # Baselines from the same run, so that a loaded machine shows in the ratios.
    ratio = figures["knox --help"] / floor
    print(f"{'python -c pass (the floor)':34} {floor:9.2f}s   help = {ratio:.1f}x")
    ratio = figures["knox commands DATASET -f csv"] / query
    print(f"{'the query alone (in-process, warm)':34} {query:9.2f}s   export = {ratio:.1f}x")
    print(f"(export: {rows:,} lines of CSV; first run after convert {first:.2f} s, "
          "which builds the derived process tables once)")


if __name__ == "__main__":
    main()
