"""``make demo``: convert the bundled sample trails and ask them the usual questions.

Runs the same ``knox`` commands a user would type (each is echoed before its output), so
the demo doubles as a tour.  Output goes to ``demo-output/`` (re-running converts nothing
new: conversion is incremental).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_trails"
OUT = ROOT / "demo-output"
DATASET = OUT / "dataset"
WORKDAY = SAMPLES / "generated-workday.bsm"

STEPS: list[tuple[str, list[str]]] = [
    ("Convert every trail in sample_trails/ into a Parquet dataset",
     ["convert", str(SAMPLES), "-o", str(DATASET), "--jobs", "2"]),
    ("Print the first records like praudit -l does (any OS)",
     ["print", "-l", str(SAMPLES / "macos-10.9-apple.bsm"), "--limit", "3"]),
    ("Which commands ran? (alice's, with parent pid and outcome)",
     ["commands", str(DATASET), "--user", "alice", "--limit", "8"]),
    ("Which files did sudo'ed processes touch, and which failed?",
     ["files", str(DATASET), "--failed", "--limit", "8"]),
    ("Where did errors come from?", ["errors", str(DATASET), "--by", "errno"]),
    ("A process tree (ancestors and descendants of every sshd)",
     ["tree", str(DATASET), "--command", "sshd"]),
    ("Network use", ["network", str(DATASET), "--limit", "8"]),
    ("Logins, su and sudo", ["logins", str(DATASET), "--limit", "8"]),
    ("Any SQL over the views",
     ["query", "SELECT user, count(*) AS execs FROM commands GROUP BY user ORDER BY execs DESC",
      str(DATASET)]),
]


def run_step(title: str, args: list[str]) -> int:
    shown = " ".join(shlex.quote(a.replace(str(ROOT) + "/", "")) for a in args)
    print(f"\n# {title}\n$ knox {shown}", flush=True)
    return subprocess.run([sys.executable, "-m", "knox_analytics", *args], cwd=ROOT).returncode


def main() -> int:
    OUT.mkdir(exist_ok=True)
    failed = [title for title, args in STEPS if run_step(title, args) not in (0,)]
    print(f"\nDataset: {DATASET.relative_to(ROOT)}  (open it in notebooks/ or `knox shell "
          f"{DATASET.relative_to(ROOT)}`)")
    if failed:
        print(f"demo: {len(failed)} step(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
