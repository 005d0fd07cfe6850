"""An in-place posix_spawn (``POSIX_SPAWN_SETEXEC``, how launchd starts daemons on macOS)
in the offline views: the caller's pid runs the program, no process is created.

launchd (pid 1) spawns xpcproxy as pid 777, which re-images itself as ``/usr/sbin/sshd
-i`` with a posix_spawn that names no child (xnu writes the ``child PID`` argument only
when a child was created), then reads its config, forks a shell and exits.  Live ``knox
pwait sshd`` answers ``777 /usr/sbin/sshd -i`` (tests/live/test_live_tracker.py); the
offline questions must agree, in memory and through a dataset's derived epochs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from knox_analytics import Catalog
from knox_analytics.bsm.encode import encode_record, encode_token
from knox_analytics.cli.main import build_app
from knox_analytics.convert import convert
from knox_analytics.questions import Filters, ask, process_tree

AUE_EXIT, AUE_FORK, AUE_EXECVE, AUE_OPEN_R, AUE_POSIX_SPAWN = 1, 2, 23, 72, 43190
T0 = 1_772_355_600_000


def record(event: int, pid: int, body: list[bytes], t: int) -> bytes:
    subject = encode_token("subject32", auid=0xFFFFFFFF, euid=0, egid=0, ruid=0, rgid=0,
                           pid=pid, sid=100, tid_port=0, tid_addr="0.0.0.0")
    ret = encode_token("return32", errno=0, value=0)
    return encode_record([*body, subject, ret], event=event, time_ms=T0 + t)


def spawn(pid: int, child: int | None, path: str, argv: list[str], t: int) -> bytes:
    body = [encode_token("path", path=path), encode_token("exec_args", argv=argv)]
    if child is not None:
        body.insert(0, encode_token("arg32", num=0, value=child, name="child PID"))
    return record(AUE_POSIX_SPAWN, pid, body, t)


LAUNCH = spawn(1, 777, "/usr/libexec/xpcproxy", ["xpcproxy", "com.openssh.sshd"], 0)
REST = [
    spawn(777, None, "/usr/sbin/sshd", ["/usr/sbin/sshd", "-i"], 1000),
    record(AUE_OPEN_R, 777, [encode_token("path", path="/etc/ssh/sshd_config")], 2000),
    record(AUE_FORK, 777, [encode_token("arg32", num=0, value=778, name="child PID")], 3000),
    record(AUE_EXECVE, 778, [encode_token("path", path="/bin/zsh"),
                              encode_token("exec_args", argv=["-zsh"])], 4000),
    record(AUE_EXIT, 778, [encode_token("exit", status=0, **{"return": 0})], 5000),
]


def check(cat: Catalog) -> None:
    commands = ask(cat, "commands", Filters(command="sshd")).to_pylist()
    assert [(c["pid"], c["ppid"], c["command_line"]) for c in commands] \
        == [(777, 1, "/usr/sbin/sshd -i")]
    procs = ask(cat, "processes").to_pylist()
    assert all(p["pid"] is not None for p in procs)  # was: a bogus instance, ppid 777
    assert {(p["pid"], p["ppid"], p["command"]) for p in procs} \
        >= {(777, 1, "sshd"), (778, 777, "zsh")}
    tree = process_tree(cat, command="sshd").to_pylist()
    assert {(r["pid"], r["command"]) for r in tree} >= {(777, "sshd"), (778, "zsh")}
    files = ask(cat, "files", Filters(path="/etc/ssh/sshd_config")).to_pylist()
    assert [(f["pid"], f["command"]) for f in files] == [(777, "sshd")]


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    path = tmp_path / "launchd.bsm"
    path.write_bytes(LAUNCH + b"".join(REST))
    return path


def test_setexec_in_memory(trail: Path) -> None:
    with Catalog([trail]) as cat:
        check(cat)


def test_setexec_first_record_of_its_pid(tmp_path: Path) -> None:
    # the spawner was not audited: the pid's instance starts at the SETEXEC itself
    path = tmp_path / "late.bsm"
    path.write_bytes(b"".join(REST))
    with Catalog([path]) as cat:
        commands = ask(cat, "commands", Filters(command="sshd")).to_pylist()
        assert [(c["pid"], c["command_line"]) for c in commands] == [(777, "/usr/sbin/sshd -i")]
        assert {(r["pid"], r["command"]) for r in process_tree(cat, command="sshd").to_pylist()} \
            >= {(777, "sshd")}


def test_setexec_through_derived_epochs(tmp_path: Path) -> None:
    # the launch in one epoch, the SETEXEC in the next: it reads the carry of pid 777
    first, second = tmp_path / "a.bsm", tmp_path / "b.bsm"
    first.write_bytes(LAUNCH)
    second.write_bytes(b"".join(REST))
    root = tmp_path / "ds"
    convert([first], root, host="mac")
    convert([second], root, host="mac")
    with Catalog([root]) as cat:
        assert cat.derived_parts == []  # convert derived both epochs
        check(cat)
    with Catalog([root], derived=False) as cat:
        check(cat)


def test_setexec_from_the_cli(trail: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(build_app(), ["tree", str(trail), "--command", "sshd"])
    assert out.exit_code == 0, out.output
    assert "777" in out.output and "sshd" in out.output
    out = runner.invoke(build_app(), ["commands", str(trail), "--command", "sshd"])
    assert out.exit_code == 0, out.output
    assert "777" in out.output


def test_setexec_in_live_commands(trail: Path) -> None:
    # live `knox commands` asks the same views batch by batch: the launch and the SETEXEC
    # in separate batches, the carry names 777's parent
    from knox_analytics.live.commands import live_command_tables

    rows = [r for t in live_command_tables(str(trail), filters=Filters(command="sshd"),
                                           read_size=len(LAUNCH))
            for r in t.to_pylist()]
    assert [(r["pid"], r["ppid"], r["command_line"]) for r in rows] \
        == [(777, 1, "/usr/sbin/sshd -i")]
