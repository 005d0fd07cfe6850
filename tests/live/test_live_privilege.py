"""--sudo re-executes knox in Python's isolated mode (issue 13 item 2).

The re-exec used to be ``python -c '...'``, which puts the working directory first on
sys.path: a ``typer.py`` there ran as root.  The test runs the very command line sudo would
run (minus sudo) from a directory holding such a module.  No fixture files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from knox_analytics.live import privilege

TRAP = "import pathlib; pathlib.Path({marker!r}).write_text('imported from cwd')\n"


@pytest.fixture
def sudo_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privilege.shutil, "which", lambda name: "/usr/bin/sudo")


def test_reexec_is_isolated_module_run(sudo_on_path: None) -> None:
    argv = privilege.sudo_argv(["auditpipe", "pc", "--sudo"])
    assert argv == ["/usr/bin/sudo", sys.executable, "-I", "-m", "knox_analytics",
                    "auditpipe", "pc"]
    assert "-c" not in argv
    assert not any("=" in a for a in argv[:2])  # nothing through the environment


@pytest.mark.parametrize("module", ["typer", "knox_analytics"])
def test_modules_in_the_working_directory_are_not_imported(
        tmp_path: Path, sudo_on_path: None, module: str) -> None:
    marker = tmp_path / "pwned"
    if module == "knox_analytics":  # a fake package shadowing knox itself
        (tmp_path / module).mkdir()
        (tmp_path / module / "__init__.py").write_text(TRAP.format(marker=str(marker)))
    else:
        (tmp_path / f"{module}.py").write_text(TRAP.format(marker=str(marker)))
    cmd = privilege.sudo_argv(["auditon", "--help"])[1:]  # what sudo would exec
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert not marker.exists(), "a module from the working directory ran"
    assert r.returncode == 0, r.stderr
    assert "auditon(2)" in r.stdout


def test_the_old_form_was_exploitable(tmp_path: Path) -> None:
    # the same trap with `python -c`: proves the test above can fail
    marker = tmp_path / "pwned"
    (tmp_path / "typer.py").write_text(TRAP.format(marker=str(marker)))
    subprocess.run([sys.executable, "-c", "import typer"], cwd=tmp_path,
                   capture_output=True, timeout=60)
    assert marker.exists()
