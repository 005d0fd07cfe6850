"""Latency of the question commands and views on the ~300 MB benchmark trail.

    python benchmarks/query.py                 # generate + convert once, then measure
    python benchmarks/query.py --json          # machine-readable figures

The trail comes from the deterministic workload generator (``python -m
knox_analytics.workload --seed 1 --size 300MB``), is converted once with ``knox convert``'s
library function, and both are cached under ``benchmarks/.cache/``.  Each question is run
as its command runs it (a fresh Catalog over the dataset, the same SQL), best of
``--repeat``; then once more by decoding the trail in memory instead, to show what the
dataset saves.  Targets (issue 12): questions on the dataset <= 0.5 s once its process
state is derived (issue 5 asked < 2 s for `processes`); on the raw trail <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import CACHE, workload_trail

sys.path.insert(0, str(CACHE.parent.parent))

from knox_analytics.catalog import Catalog
from knox_analytics.questions import Filters, ask, errors_by, process_tree

#: name -> what the command does with an open catalog
QUESTIONS: dict[str, Callable[[Catalog], object]] = {
    "knox commands --user alice": lambda c: ask(c, "commands", Filters(user="501")),
    "knox commands --command rm": lambda c: ask(c, "commands", Filters(command="rm")),
    "knox commands --failed -n 100": lambda c: ask(c, "commands", Filters(failed=True),
                                                   limit=100),
    "knox files --path /etc/*": lambda c: ask(c, "files", Filters(path="/etc/*")),
    "knox errors --by errno": lambda c: errors_by(c, "errno"),
    "knox errors --by command": lambda c: errors_by(c, "command"),
    "knox network --failed": lambda c: ask(c, "network", Filters(failed=True)),
    "knox logins": lambda c: ask(c, "logins"),
    "knox tree 1 (launchd)": lambda c: process_tree(c, 1),
    "SELECT count(*) FROM events": lambda c: c.query("SELECT count(*) FROM events"),
    "SELECT count(*) FROM commands": lambda c: c.query("SELECT count(*) FROM commands"),
    "SELECT * FROM processes": lambda c: c.query("SELECT * FROM processes"),
    "SELECT count(*) FROM file_access": lambda c: c.query("SELECT count(*) FROM file_access"),
    "SELECT count(*) FROM errors": lambda c: c.query("SELECT count(*) FROM errors"),
    "SELECT count(*) FROM network": lambda c: c.query("SELECT count(*) FROM network"),
}


def dataset(path: Path) -> tuple[Path, float]:
    """The cached dataset converted from ``path``; seconds spent converting (0: cached)."""
    from knox_analytics.convert import convert

    root = path.with_suffix(".parquet")
    if (root / "_knox_manifest.json").exists():
        return root, 0.0
    started = time.perf_counter()
    convert([path], root, host="bench")
    return root, time.perf_counter() - started


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def build_cache(root: Path) -> float:
    """Seconds to derive the process state from scratch (done once; a later version of
    the dataset derives only its new records: benchmarks/living.py measures that)."""
    import shutil

    from knox_analytics.store.cache import CACHE_DIR

    shutil.rmtree(root / CACHE_DIR, ignore_errors=True)
    started = time.perf_counter()
    with Catalog([root]) as cat:
        cat.define(["processes", "record_process"])
    return time.perf_counter() - started


def measure(root: Path, raw: Path, repeat: int, decode_too: bool) -> list[dict]:
    out = [{"question": "derived process state (once)",
            "dataset_s": round(build_cache(root), 3)}]
    print(f"{out[0]['question']:40s} {out[0]['dataset_s']:7.3f} s", flush=True)
    for name, question in QUESTIONS.items():
        def on_dataset(q: Callable[[Catalog], object] = question) -> None:
            with Catalog([root]) as cat:
                q(cat)
        row = {"question": name, "dataset_s": round(best(on_dataset, repeat), 3)}
        out.append(row)
        print(f"{name:40s} {row['dataset_s']:7.3f} s", flush=True)
    if decode_too:
        def on_trail() -> None:
            with Catalog([raw]) as cat:
                QUESTIONS["knox commands --user alice"](cat)
        out.append({"question": "knox commands --user alice (decoding the trail)",
                    "trail_s": round(best(on_trail, 1), 3)})
        print(f"{out[-1]['question']:40s} {out[-1]['trail_s']:7.3f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="300MB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-decode", action="store_true",
                        help="skip the decode-each-time comparison (it needs ~several GB)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    raw = workload_trail(args.size)
    root, convert_s = dataset(raw)
    with Catalog([root]) as cat:
        records = cat.sql("SELECT count(*) FROM records").fetchall()[0][0]
    print(f"trail {raw.stat().st_size / 1e6:.0f} MB, {records} records; dataset "
          f"{sum(p.stat().st_size for p in root.rglob('*.parquet')) / 1e6:.0f} MB"
          + (f", converted in {convert_s:.1f} s" if convert_s else " (cached)"))
    results = measure(root, raw, args.repeat, not args.no_decode)
    if args.json:
        print(json.dumps({"records": records, "convert_s": convert_s, "results": results},
                         indent=1))


if __name__ == "__main__":
    main()
