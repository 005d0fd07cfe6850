#!/usr/bin/env python3
"""Rewrite tests/data/detect/ from the detection stories (maintainers only).

Usage (from the repository root)::

    .venv/bin/python tools/write_detect_fixtures.py [--out tests/data/detect]

Each knox rule's story in ``tests/detect/detect_scenarios.py`` is played by the simulator
(``knox_analytics.testing``) and written as ``<rule file>.bsm``; its near miss as
``<rule file>.near-miss.bsm``.  Same seed and start time every run, so the bytes only
change when a story or the simulator does (``tests/detect/test_fixtures.py`` fails until
this is re-run and the files are committed).  Trails in the directory that no story
writes any more are removed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "detect"))

from detect_scenarios import FIXTURES, write_fixtures  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=FIXTURES, help="default: %(default)s")
    out = ap.parse_args().out
    written = write_fixtures(out)
    for stale in sorted(set(out.glob("*.bsm")) - set(written)):
        stale.unlink()
        print(f"removed {stale}")
    size = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} trails ({size:,} bytes) to {out}")


if __name__ == "__main__":
    main()
