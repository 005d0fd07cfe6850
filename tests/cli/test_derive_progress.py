"""Issue 20: a first process question on a big dataset derives its process state for
minutes; on a terminal ``knox`` shows it ("deriving process state  [bar]  3/8 epochs
1.2k/3.0k records  ETA"), elsewhere (scripts, these tests) stderr stays as it was.

A rich console forced to be a terminal, writing to a StringIO, stands for the terminal.
Fixture: ``tests/data/trails/synthetic-workload.bsm`` (3006 records; provenance in
tests/data/trails/README.md), derived in epochs of 800 records.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from knoxtest import ROOT, WORKLOAD
from rich.console import Console
from rich.live import _RefreshThread

from knox_analytics.cli import common
from knox_analytics.convert import convert
from knox_analytics.derived import DerivedState, build
from knox_analytics.derived import plan as planner

SHOW_CURSOR, HIDE_CURSOR, ERASE_LINE = "\x1b[?25h", "\x1b[?25l", "\x1b[2K"


@pytest.fixture
def dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workload converted, its process state not derived yet (4 epochs of 800)."""
    monkeypatch.setattr(planner, "EPOCH_RECORDS", 800)
    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac", derive=False)
    return root


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120), out


def bars_running() -> list[threading.Thread]:
    """rich's refresh threads not told to stop (a stopped one ends at its next tick)."""
    return [t for t in threading.enumerate()
            if isinstance(t, _RefreshThread) and not t.done.is_set()]


def cleared(text: str) -> bool:
    """The bar was stopped (the cursor shown again) and erased (a transient bar)."""
    return text.rindex(SHOW_CURSOR) > text.rindex(HIDE_CURSOR) and text.endswith(ERASE_LINE)


def test_the_bar_shows_epochs_and_records_then_goes(dataset: Path) -> None:
    console, out = terminal()
    with common.derive_progress(console) as show:
        assert show is not None
        DerivedState.of(dataset).update(progress=show)
    text = out.getvalue()
    assert "deriving process state" in text
    assert "4/4 epochs" in text and "3.0k/3.0k records" in text
    # then the segments are merged: the bar says so rather than sit at 100 %
    assert re.search(r"merging [2-9] derived segments\W.*4/4 epochs", text)
    assert cleared(text) and not bars_running()


def test_a_process_question_on_a_terminal_shows_the_bar(
        dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through ``open_catalog``, as every command opens its inputs: the bar appears on
    the first process question only (an up-to-date state derives nothing)."""
    console, out = terminal()
    monkeypatch.setattr(common, "stderr", lambda: console)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with common.open_catalog([dataset]) as cat:
        assert cat.sql("SELECT count(*) FROM processes").fetchall()[0][0] > 0
    assert "deriving process state" in out.getvalue()
    assert cleared(out.getvalue()) and not bars_running()
    console2, out2 = terminal()
    monkeypatch.setattr(common, "stderr", lambda: console2)
    with common.open_catalog([dataset]) as cat:
        cat.sql("SELECT count(*) FROM processes").fetchall()
    assert out2.getvalue() == ""


def test_ctrl_c_during_a_derivation_clears_the_bar(
        dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    derive_epoch = build.derive_epoch
    calls: list[int] = []

    def interrupted(*args: object, **kwargs: object) -> build.Held:
        calls.append(1)
        if len(calls) == 2:  # the second epoch: a Ctrl-C
            raise KeyboardInterrupt
        return derive_epoch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "derive_epoch", interrupted)
    console, out = terminal()
    monkeypatch.setattr(common, "stderr", lambda: console)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with pytest.raises(KeyboardInterrupt), common.open_catalog([dataset]) as cat:
        cat.sql("SELECT count(*) FROM processes").fetchall()
    text = out.getvalue()
    assert "deriving process state" in text and "1/4 epochs" in text
    assert cleared(text) and not bars_running()


def test_quiet_or_no_terminal_shows_nothing(dataset: Path) -> None:
    with common.derive_progress(quiet=True) as show:
        assert show is None
    if not sys.stderr.isatty():  # (pytest captures it)
        with common.derive_progress() as show:
            assert show is None


def knox(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "knox_analytics", *args],
                          capture_output=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow  # end-to-end: real subprocesses
def test_no_progress_on_stderr_when_it_is_not_a_terminal(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    convert([WORKLOAD], root, host="mac", derive=False)
    result = knox("commands", str(root), "-f", "csv")
    assert result.returncode == 0 and result.stdout
    assert result.stderr == b""  # it derived (the first process question): silently
    assert next(root.glob("_knox_cache/derived-*/state.json"))
    result = knox("convert", str(WORKLOAD), "-o", str(tmp_path / "new"), "--derive")
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert len(err.splitlines()) == 1 and "process state derived in" in err
