"""``make demo`` (tools/demo.py) runs its whole tour on the bundled sample_trails/ without a
failed step.  Fixture: sample_trails/ (see its README); output in a temporary folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from knoxtest import ROOT


def test_make_demo_runs_tools_demo() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(PY) tools/demo.py" in makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]


@pytest.mark.slow
def test_demo_tour_succeeds(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "demo.py"), str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("\n$ knox ") == 9
    assert "alice" in proc.stdout and "sudo (alice" in proc.stdout
    # every step shows a real answer: no "knox: no process 'sshd' in the input"
    assert "knox: no " not in proc.stderr, proc.stderr
    assert list((tmp_path / "dataset").rglob("*.parquet"))
