"""``make demo``: convert the bundled sample trails and ask them the usual questions.

Runs the same ``knox`` commands a user would type (each is echoed before its output), so
the demo doubles as a tour.  Output goes to ``demo-output/`` (re-running converts nothing
new: conversion is incremental).  A repository tool, not part of the package: it needs the
checkout's ``sample_trails/``.  ``python tools/demo.py [OUTPUT_DIR]``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_trails"
OUT = ROOT / "demo-output"
# uid -> name as on the simulated Mac that wrote generated-workday.bsm
USERS = ["--users", str(SAMPLES / "passwd")]


def steps(dataset: Path) -> list[tuple[str, list[str]]]:
    """The tour: (title, knox arguments) with the dataset written to ``dataset``."""
    return [
        ("Convert every trail in sample_trails/ into a Parquet dataset",
         ["convert", str(SAMPLES), "-o", str(dataset), "--jobs", "2"]),
        ("Print a record like praudit does, on any OS (a 2006 FreeBSD execve)",
         ["print", str(SAMPLES / "freebsd-2006-execve-long-args.bsm")]),
        ("Which commands ran? (alice's, with parent pid and outcome)",
         ["commands", str(dataset), "--user", "alice", "--limit", "8", *USERS]),
        ("Which file accesses failed, in which process?",
         ["files", str(dataset), "--failed", "--limit", "8", *USERS]),
        ("Where did errors come from? (by command)",
         ["errors", str(dataset), "--by", "command", "--limit", "10", *USERS]),
        ("A process tree: who ran sudo, and what it started",
         ["tree", str(dataset), "--command", "sudo", *USERS]),
        ("Network use", ["network", str(dataset), "--limit", "8", *USERS]),
        ("Logins, su and sudo", ["logins", str(dataset), "--limit", "8", *USERS]),
        ("Any SQL over the views",
         ["query", "SELECT user, count(*) AS execs FROM commands GROUP BY user ORDER BY execs DESC",
          str(dataset), *USERS]),
    ]


def run_step(title: str, args: list[str]) -> int:
    shown = " ".join(shlex.quote(a.replace(str(ROOT) + "/", "")) for a in args)
    print(f"\n# {title}\n$ knox {shown}", flush=True)
    # Tables as wide as a usual terminal even when the demo's output is not one.
    env = {**os.environ, "COLUMNS": os.environ.get("COLUMNS", "150")}
    return subprocess.run([sys.executable, "-m", "knox_analytics", *args], cwd=ROOT,
                          env=env).returncode


def main(out: Path = OUT) -> int:
    out.mkdir(exist_ok=True)
    dataset = out / "dataset"
    failed = [title for title, args in steps(dataset) if run_step(title, args) not in (0,)]
    shown = dataset.relative_to(ROOT) if dataset.is_relative_to(ROOT) else dataset
    print(f"\nDataset: {shown}  (open it in notebooks/ or `knox shell {shown}`)")
    if failed:
        print(f"demo: {len(failed)} step(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
