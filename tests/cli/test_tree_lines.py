"""``knox tree`` lines (issue 23 item 12): a date on every line when the processes shown
start on more than one day (in the ``--tz`` zone), and a process known only by sudo's own
record (exec not audited) named by the command that record gives, not ``?``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from knox_analytics import Catalog
from knox_analytics.bsm.encode import encode_record, encode_token
from knox_analytics.cli.main import build_app
from knox_analytics.questions import ask

AUE_EXIT, AUE_FORK, AUE_EXECVE, AUE_SUDO = 1, 2, 23, 45028
T0 = 1_772_355_600_000  # 2026-03-01 09:00 UTC
DAY = 86_400_000


def record(event: int, pid: int, body: list[bytes], t: int) -> bytes:
    subject = encode_token("subject32", auid=501, euid=0, egid=0, ruid=501, rgid=20,
                           pid=pid, sid=100, tid_port=0, tid_addr="0.0.0.0")
    ret = encode_token("return32", errno=0, value=0)
    return encode_record([*body, subject, ret], event=event, time_ms=T0 + t)


def fork(parent: int, child: int, t: int) -> bytes:
    return record(AUE_FORK, parent, [encode_token("arg32", num=0, value=child,
                                                  name="child PID")], t)


SUDO_TEXT = ("sudo: alice : TTY=ttys001 ; PWD=/Users/alice ; USER=root ; "
             "COMMAND=/bin/mv /tmp/a /etc/b")
TRAIL = b"".join([
    record(AUE_EXECVE, 400, [encode_token("path", path="/bin/zsh"),
                             encode_token("exec_args", argv=["-zsh"])], 0),
    fork(400, 500, 1000),  # exec of sudo not audited: only its own record names it
    record(AUE_SUDO, 500, [encode_token("text", text=SUDO_TEXT)], 2000),
    record(AUE_EXIT, 500, [encode_token("exit", status=0, **{"return": 0})], 3000),
    fork(400, 600, DAY + 1000),  # the next day
    record(AUE_EXIT, 600, [encode_token("exit", status=0, **{"return": 0})], DAY + 2000),
])


def trail(tmp_path: Path) -> Path:
    path = tmp_path / "days.bsm"
    path.write_bytes(TRAIL)
    return path


def test_sudo_only_process_is_named_by_its_record(tmp_path: Path) -> None:
    with Catalog([trail(tmp_path)]) as cat:
        procs = {p["pid"]: p["command"] for p in ask(cat, "processes").to_pylist()}
    assert procs[500] == "sudo /bin/mv /tmp/a /etc/b"
    assert procs[600] == "zsh"  # inherited from its parent, as before


def test_tree_lines_have_dates_on_multi_day_data(tmp_path: Path) -> None:
    res = CliRunner().invoke(build_app(), ["tree", str(trail(tmp_path)), "--pid", "400"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    lines = [x for x in res.stdout.splitlines() if x.strip()]
    assert len(lines) == 3
    assert "500 sudo /bin/mv /tmp/a /etc/b" in lines[1]
    assert "2026-03-01 09:00:01.000 UTC" in lines[1]
    assert "2026-03-02 09:00:01.000 UTC" in lines[2]


def test_tree_lines_follow_tz_and_skip_the_date_on_one_day(tmp_path: Path) -> None:
    path = tmp_path / "one.bsm"
    path.write_bytes(TRAIL[:TRAIL.index(fork(400, 600, DAY + 1000))])
    res = CliRunner().invoke(build_app(), ["tree", str(path), "--pid", "400",
                                           "--tz", "Asia/Tokyo"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "18:00:01.000 Asia/Tokyo" in res.stdout  # 09:00 UTC is 18:00 in Tokyo
    assert "2026-03-01" not in res.stdout
