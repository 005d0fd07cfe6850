"""Benchmark ``knox print -ln``: MB of trail per second, end to end, on one core.

Usage::

    python benchmarks/print.py                 # generates a 300 MB workload trail once
    python benchmarks/print.py TRAIL [-x|--json|-n]

The trail (unless given) comes from the deterministic workload generator
(``python -m knox_analytics.workload --seed 1 --size 300MB``) and is cached in
``benchmarks/.cache/`` (or ``$KNOX_BENCH_CACHE``).  Output goes to /dev/null.  Arrow is
limited to one thread, so the figure is for one core.  Reported: decode+render (what
``knox print -ln`` does), the decode and render steps alone, and the ratio to praudit's
bare decoding (measured if praudit is installed, else issue 12's 25 MB/s, labelled so).

Target (issue 12): ``knox print -ln`` >= 100 MB/s, 4x bare praudit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pyarrow as pa
from common import bare_praudit_mb_s, workload_trail

from knox_analytics.bsm.reader import read_trail
from knox_analytics.render.jsonl import render_jsonl
from knox_analytics.render.praudit import render_table
from knox_analytics.render.tokenfmt import Ctx, PrintOptions

DEFAULT_SIZE = "300MB"
TARGET_MB_S = 100


def run(path: Path, opts: PrintOptions, json: bool) -> tuple[float, float, int]:
    """(total seconds, render seconds, output bytes) for one pass over ``path``."""
    ctx = Ctx(opts)
    render_s, out_bytes = 0.0, 0
    with open(os.devnull, "wb") as sink:
        start = time.perf_counter()
        for result in read_trail(path):
            t = time.perf_counter()
            if json:
                out = render_jsonl(result.table, resolve=opts.resolve)
            else:
                out = render_table(result.table, opts, ctx)
            render_s += time.perf_counter() - t
            sink.write(out)
            out_bytes += len(out)
        total = time.perf_counter() - start
    return total, render_s, out_bytes


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print MB/s."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trail", nargs="?", type=Path)
    ap.add_argument("--size", default=DEFAULT_SIZE)
    ap.add_argument("-x", action="store_true", help="XML instead of -ln")
    ap.add_argument("-n", action="store_true", help="one token per line instead of -ln")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    path = args.trail or workload_trail(args.size)
    mb = path.stat().st_size / 1e6
    opts = PrintOptions(resolve=False, oneline=not (args.x or args.n), xml=args.x)
    mode = "--json" if args.json else ("-xn" if args.x else ("-n" if args.n else "-ln"))
    run(path, opts, args.json)  # warm caches (tables, page cache)
    total, render_s, out_bytes = run(path, opts, args.json)
    rate = mb / total
    print(f"knox print {mode} {path.name}: {mb:.0f} MB in {total:.2f} s = "
          f"{rate:.1f} MB/s end to end; decode alone {mb / (total - render_s):.1f} MB/s, "
          f"render alone {mb / render_s:.1f} MB/s; {out_bytes / 1e6:.0f} MB of output")
    praudit, label = bare_praudit_mb_s(path)
    print(f"vs bare praudit: {rate / praudit:.1f}x ({label})")
    if mode == "-ln":
        print(f"target: >= {TARGET_MB_S} MB/s (4x bare praudit): "
              f"{'met' if rate >= TARGET_MB_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
