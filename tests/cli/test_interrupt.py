"""Ctrl-C during a DuckDB statement (issue 23 item 1): a real ``knox`` subprocess gets a
real SIGINT while a query that would run for hours is running.

``knox query`` must exit 130 with one line and no traceback; ``knox shell`` must cancel
the statement and answer the next one.  A statement DuckDB does not stop would leave the
process running: ``communicate`` then times out and the test fails (no timing is
asserted, only that the work stopped)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from knoxtest import ROOT

#: a cross join DuckDB cannot finish in any reasonable time (3e9 x 1e2 rows)
ENDLESS = ("SELECT count(*) FROM range(3000000000) a, range(100) b "
           "WHERE (a.range * b.range) % 7 = 3")
pytestmark = [pytest.mark.slow,  # end-to-end: real subprocesses
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]


def _knox(*args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100")
    return subprocess.Popen([sys.executable, "-m", "knox_analytics", *args], cwd=ROOT,
                            env=env, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_until_running(proc: subprocess.Popen[bytes], threads: int = 3) -> None:
    """Until DuckDB's workers run the statement: the process has several threads and
    has burnt CPU past its start-up (imports, view definitions)."""
    deadline = time.monotonic() + 120
    start = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        if len(os.listdir(f"/proc/{proc.pid}/task")) >= threads:
            cpu = _cpu_seconds(proc.pid)
            start = cpu if start is None else start
            if cpu - start > 1.0:
                return
        time.sleep(0.2)
    raise AssertionError("the query never started")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_query_exits_130_quietly_on_ctrl_c() -> None:
    proc = _knox("query", ENDLESS)
    _wait_until_running(proc)
    proc.send_signal(signal.SIGINT)
    try:
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("Ctrl-C did not stop the statement") from None
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    assert err.decode().strip() == "knox: interrupted"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_shell_cancels_the_statement_and_keeps_the_session() -> None:
    proc = _knox("shell", stdin=subprocess.PIPE)
    assert proc.stdin is not None
    assert proc.stdout is not None
    # a first answer: the session is up (a Ctrl-C during start-up ends it, exit 130)
    proc.stdin.write(b"SELECT 40 + 1 AS warm;\n")
    proc.stdin.flush()
    while b"41" not in proc.stdout.readline():
        assert proc.poll() is None
    proc.stdin.write(f"{ENDLESS};\n".encode())
    proc.stdin.flush()
    _wait_until_running(proc)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(b"SELECT 6 * 7 AS answer;\n.quit\n", timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("Ctrl-C did not stop the statement") from None
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert "interrupted" in err.decode()
    assert "42" in out.decode()
