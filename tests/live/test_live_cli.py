"""The live CLI: documented commands, terminal refusal, errors, graceful SIGTERM; units and
privilege checks.  Fixture: tests/data/trails/synthetic-workload.bsm (see its README)."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from knoxtest import TRAILS
from live_helpers import KNOX_LIVE_ARGV

from knox_analytics.cli import capture, live
from knox_analytics.live import privilege

WORKLOAD = TRAILS / "synthetic-workload.bsm"


def all_commands() -> list[tuple[str, object]]:
    app = typer.Typer()
    live.register(app)
    capture.register(app)
    found = [(c.name or "", c.callback) for c in app.registered_commands]
    found += [(f"auditon {c.name}", c.callback) for c in live.auditon_app.registered_commands]
    return found


@pytest.mark.parametrize(("name", "callback"),
                         [pytest.param(*command, id=command[0]) for command in all_commands()])
def test_every_command_help_ends_with_an_example(name: str, callback: object) -> None:
    doc = (getattr(callback, "__doc__", "") or "").strip()
    assert doc.splitlines()[-1].strip().startswith("Example: "), name
    assert "knox " in doc.splitlines()[-1]


def test_auditpipe_refuses_a_terminal() -> None:
    controller, terminal = pty.openpty()
    try:
        r = subprocess.run([*KNOX_LIVE_ARGV, "auditpipe", "pc", "--source", str(WORKLOAD)],
                           stdout=terminal, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    assert r.returncode == 1
    assert "refusing to write binary audit records to a terminal" in r.stderr
    assert "| knox print" in r.stderr


def test_auditpipe_passes_records_through_a_pipe() -> None:
    r = subprocess.run([*KNOX_LIVE_ARGV, "auditpipe", "all", "--source", str(WORKLOAD)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0
    assert r.stdout == WORKLOAD.read_bytes()


def test_missing_source_is_one_clear_line() -> None:
    r = subprocess.run([*KNOX_LIVE_ARGV, "paudit", "make", "--source", "/nonexistent/trail"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr == "knox: /nonexistent/trail: no such file or device\n"


def test_capture_sigterm_converts_and_summarises(tmp_path: Path) -> None:
    fifo, out = tmp_path / "fifo", tmp_path / "out"
    os.mkfifo(fifo)
    holder = os.open(fifo, os.O_RDWR)  # a writer that stays: only a signal ends the capture
    try:
        cap = subprocess.Popen([*KNOX_LIVE_ARGV, "capture", "--source", str(fifo), "--out",
                                str(out), "--flush", "0.2s"], stderr=subprocess.PIPE,
                               text=True)
        os.write(holder, WORKLOAD.read_bytes()[:60000])
        os.write(holder, WORKLOAD.read_bytes()[60000:])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(out.glob("dataset/**/*.parquet")):
            time.sleep(0.05)
        cap.send_signal(signal.SIGTERM)
        _, err = cap.communicate(timeout=60)
    finally:
        os.close(holder)
    assert cap.returncode == 0, err
    assert "3006 records converted" in err
    assert "0 damaged spans" in err


def test_never_sudo_for_a_readable_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 501)
    monkeypatch.delenv(privilege.REEXEC_MARK, raising=False)
    assert privilege.unreadable_reason(str(WORKLOAD)) is None
    assert not privilege.needs_sudo([str(WORKLOAD)])
    assert not privilege.needs_sudo(["/nonexistent"])  # missing is not a permission problem


def test_sudo_for_an_unreadable_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 501)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.delenv(privilege.REEXEC_MARK, raising=False)
    reason = privilege.unreadable_reason(str(WORKLOAD))
    assert reason is not None and reason.startswith(f"{WORKLOAD}: not readable by uid 501")
    assert privilege.needs_sudo([str(WORKLOAD)])
    monkeypatch.setenv(privilege.REEXEC_MARK, "1")  # the re-executed knox never loops
    assert not privilege.needs_sudo([str(WORKLOAD)])


def test_sudo_argv_reruns_the_same_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privilege.shutil, "which", lambda name: "/usr/bin/sudo")
    argv = privilege.sudo_argv(["capture", "--out", "x", "--sudo"])
    assert argv == ["/usr/bin/sudo", sys.executable, "-I", "-m", "knox_analytics",
                    "capture", "--out", "x"]


def test_capture_spells_class_as_the_questions_do(tmp_path: Path) -> None:
    """Issue 25 item 5: one spelling for a class expression (--class); --classes is a
    hidden alias (tests/live/test_live_preselect.py still runs it)."""
    from typer.testing import CliRunner

    app = typer.Typer()
    capture.register(app)
    app.command("noop")(lambda: None)  # keeps "capture" a subcommand
    shown = CliRunner().invoke(app, ["capture", "--help"], env={"COLUMNS": "200"}).stdout
    assert "--class " in shown and "--classes" not in shown
    r = CliRunner().invoke(app, ["capture", "--out", str(tmp_path / "c"), "--class", "lo",
                                 "--classes", "pc", "--source", str(WORKLOAD)])
    assert r.exit_code != 0 and "give --class once" in str(r.exception)
    assert not (tmp_path / "c").exists()
