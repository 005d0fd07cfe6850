"""Paths every test uses, in one place (imported as ``knoxtest``: tests/ is on sys.path).

The trails and goldens under ``tests/data/trails`` come from ../shared/trails; their
origin and licences are in ``tests/data/trails/README.md``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAILS = ROOT / "tests" / "data" / "trails"
SAMPLES = ROOT / "sample_trails"
WORKDAY = SAMPLES / "generated-workday.bsm"
WORKLOAD = TRAILS / "synthetic-workload.bsm"
