"""Issue 23 item 11: a trail with exec records but no fork/exit records (class ``ex``
audited without ``pc``) has no parent links; ``knox tree`` groups by audit session
instead — each process under its session's leader — and says so."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from knox_analytics import interrupt
from knox_analytics.bsm.encode import encode_record, encode_token
from knox_analytics.catalog import Catalog
from knox_analytics.cli import main
from knox_analytics.tree import process_forest

AUE_EXECVE = 23
T0 = 1_772_355_600_000

#: (pid, sid, image, ms after T0): session 200 has its leader (pid 200); session 300 has
#: none among the processes seen, so its first process stands for it.
EXECS = [(200, 200, "/bin/sh", 0), (201, 200, "/bin/ls", 10), (202, 200, "/usr/bin/make", 20),
         (301, 300, "/usr/bin/vim", 30), (203, 200, "/usr/bin/cc", 40),
         (302, 300, "/usr/bin/cc", 50)]


def execs_only(tmp_path: Path, later_ms: int = 0) -> Path:
    records = []
    for pid, sid, image, ms in EXECS:
        ms += later_ms
        body = [encode_token("path", path=image),
                encode_token("exec_args", argv=[image.rsplit("/", 1)[1]]),
                encode_token("subject32", auid=501, euid=501, egid=20, ruid=501, rgid=20,
                             pid=pid, sid=sid, tid_port=0, tid_addr="0.0.0.0"),
                encode_token("return32", errno=0, value=0)]
        records.append(encode_record(body, event=AUE_EXECVE, time_ms=T0 + ms))
    path = tmp_path / f"execs-only{later_ms or ''}.bsm"
    path.write_bytes(b"".join(records))
    return path


def knox(argv: list[str], monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["knox", *argv])
    monkeypatch.setattr(interrupt, "install", lambda: False)
    with pytest.raises(SystemExit) as stop:
        main.run()
    out, err = capsys.readouterr()
    return (stop.value.code if isinstance(stop.value.code, int) else 0), out, err


def test_forest_by_session_puts_each_process_under_its_leader(tmp_path: Path) -> None:
    with Catalog([execs_only(tmp_path)]) as cat:
        flat = process_forest(cat, pid=200).table
        grouped = process_forest(cat, pid=200, by_session=True).table
        cc = process_forest(cat, pid=302, by_session=True).table
    assert flat.column("pid").to_pylist() == [200]  # no parent links: alone
    rows = grouped.to_pylist()
    assert [(r["depth"], r["pid"]) for r in rows] == [(0, 200), (1, 201), (1, 202), (1, 203)]
    leader = rows[0]["instance"]
    assert rows[0]["parent_instance"] is None
    assert all(r["parent_instance"] == leader for r in rows[1:])
    assert all(r["ppid"] is None for r in rows)  # the real parent stays unknown
    # session 300: no process has pid 300, its first process (vim) leads it
    assert [(r["depth"], r["pid"], r["command"]) for r in cc.to_pylist()] == \
        [(-1, 301, "vim"), (0, 302, "cc")]


def test_tree_without_fork_records_groups_by_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    trail = str(execs_only(tmp_path))
    code, out, err = knox(["tree", trail, "--command", "make"], monkeypatch, capsys)
    assert code == 0, err
    assert "parent links unknown; grouped by audit session" in err
    lines = out.splitlines()
    assert lines[0].startswith("200 sh") and "202 make" in lines[1], out
    code, out, err = knox(["tree", trail, "--pid", "200", "-f", "json"], monkeypatch, capsys)
    rows = json.loads(out)
    assert [r["pid"] for r in rows] == [200, 201, 202, 203]
    assert {r["parent_instance"] for r in rows[1:]} == {rows[0]["instance"]}


def test_a_trail_with_fork_records_keeps_its_parent_links(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from knoxtest import WORKLOAD

    code, out, err = knox(["tree", str(WORKLOAD), "--pid", "1202", "-f", "json"],
                          monkeypatch, capsys)
    assert code == 0 and "session" not in err, err
    with Catalog([WORKLOAD]) as cat:
        want = process_forest(cat, pid=1202).table
    assert [r["parent_instance"] for r in json.loads(out)] == \
        want.column("parent_instance").to_pylist()


def test_sessions_of_two_machines_have_their_own_leaders(tmp_path: Path) -> None:
    """Session ids are per machine: the same session id on two hosts is two sessions, each
    under its own leader (they were grouped by session id alone: mac-b's processes went
    under mac-a's leader, which started first)."""
    from knox_analytics.convert import convert

    root = tmp_path / "fleet"
    convert([execs_only(tmp_path)], root, host="mac-a")
    convert([execs_only(tmp_path, later_ms=5)], root, host="mac-b")
    with Catalog([root]) as cat:
        rows = process_forest(cat, pid=200, by_session=True).table.to_pylist()
    for machine in ("mac-a", "mac-b"):
        mine = [r for r in rows if r["machine"] == machine]
        assert [(r["depth"], r["pid"]) for r in mine] == [(0, 200), (1, 201), (1, 202),
                                                          (1, 203)]
        assert {r["parent_instance"] for r in mine[1:]} == {mine[0]["instance"]}
        assert mine[0]["instance"].endswith(f"@{machine}")
