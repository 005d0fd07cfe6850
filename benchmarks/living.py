"""A dataset that lives (issue 11): figures, not a test.

    python benchmarks/living.py capture [--size 300MB] [--minutes 4] [--every 5]
    python benchmarks/living.py incremental [--raw] [--work /tmp/dv]

(a) ``capture`` (living_capture.py): a 300 MB generated trail fed into ``knox capture``
in bursts while questions are asked every few seconds: their latency over time, part
files per partition, records in vs out.
(b) ``incremental`` (living_incremental.py): convert 300 MB, add a 1 MB later trail, the
next question's time against a warm one (target at most 2x), and issue 12's question
latency targets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from living_capture import run_capture_bench
from living_incremental import WORK, run_incremental_bench


def main() -> None:
    """Run the part named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    cap = sub.add_parser("capture", help="(a) capture in bursts while asking questions")
    cap.add_argument("--size", default="300MB")
    cap.add_argument("--minutes", type=float, default=4.0)
    cap.add_argument("--every", type=float, default=5.0)
    inc = sub.add_parser("incremental", help="(b) add a trail to a 300 MB dataset")
    inc.add_argument("--work", type=Path, default=WORK, help="where the big files go")
    inc.add_argument("--raw", action="store_true",
                     help="also ask on the raw 300 MB trail (decodes it in memory)")
    args = parser.parse_args()
    if args.part == "capture":
        run_capture_bench(args.size, args.minutes, args.every)
    else:
        run_incremental_bench(args.work, args.raw)


if __name__ == "__main__":
    main()
