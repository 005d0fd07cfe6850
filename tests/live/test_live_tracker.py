"""paudit / pwait on real hosts' process lifecycles (issue 13 items 3, 4, 5, 8).

Every stream is written with the project's encoder (knox_analytics.bsm.encode, through
tests/live/live_helpers.py) and read back through a file source, as `--source` does.
The process lists are fakes of the platform lookup (the real ones need macOS/FreeBSD:
docs/real-hosts.md); the kinfo_proc / proc_bsdinfo byte layouts are checked below.
"""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest
from live_helpers import (
    KNOX_LIVE_ARGV,
    exec_record,
    exit_record,
    fork_record,
    open_record,
    spawn_record,
)

from knox_analytics.errors import ProcessListError
from knox_analytics.live import proc, processes, stream
from knox_analytics.live.commands import live_commands
from knox_analytics.live.proc import Process
from knox_analytics.live.source import Source


def write(tmp_path: Path, *records: bytes) -> str:
    path = tmp_path / "stream.bsm"
    path.write_bytes(b"".join(records))
    return str(path)


# --- item 3: a reused pid is not the process we followed ---------------------------------
def test_signal_killed_process_then_reused_pid_is_not_followed(tmp_path: Path) -> None:
    make = exec_record(300, "/usr/bin/make", ["make", "all"], 1)
    mine = open_record(300, "/src/Makefile", 2)
    # make is killed by SIGKILL: no exit record.  pid 300 comes back as a child of an
    # unrelated shell (pid 50), which then reads a secret: not make's business.
    reuse = fork_record(50, 300, 3)
    unrelated = open_record(300, "/home/bob/.ssh/id_ed25519", 4)
    out = list(proc.paudit(["make"], write(tmp_path, make, mine, reuse, unrelated)))
    assert out == [make, mine]


def test_fork_by_a_tracked_parent_keeps_following(tmp_path: Path) -> None:
    make = exec_record(300, "/usr/bin/make", ["make"], 1)
    child = fork_record(300, 301, 2)
    cc = exec_record(301, "/usr/bin/cc", ["cc", "-c", "a.c"], 3)
    done = exit_record(301, 4)
    later = open_record(301, "/etc/passwd", 5)  # 301 exited: a new process, not followed
    out = list(proc.paudit(["make"], write(tmp_path, make, child, cc, done, later)))
    assert out == [make, child, cc, done]


def test_tracker_memory_is_bounded() -> None:
    # a month of forks without exits (a stream that misses them): at most max_remembered
    tracker = proc.ProcessTracker({"make"}, max_remembered=100)
    for pid in range(1000, 6000):
        tracker.observe({"event_name": "AUE_FORK", "pid": 1, "success": True,
                         "args": [{"name": "child PID", "value": pid}]})
    assert len(tracker.parents) == 100
    assert min(tracker.parents) == 5900  # the newest are kept
    assert tracker.tracked == set()


# --- item 4: POSIX_SPAWN_SETEXEC (launchd -> xpcproxy -> service) -------------------------
def test_setexec_spawn_runs_the_program_in_the_callers_pid(tmp_path: Path) -> None:
    xpcproxy = spawn_record(412, None, "/usr/sbin/sshd", ["/usr/sbin/sshd", "-i"], 1)
    session = open_record(412, "/etc/ssh/sshd_config", 2)
    child = fork_record(412, 413, 3)
    shell = exec_record(413, "/bin/zsh", ["-zsh"], 4)
    other = open_record(99, "/tmp/x", 5)
    src = write(tmp_path, xpcproxy, session, child, shell, other)
    assert list(proc.paudit(["sshd"], src)) == [xpcproxy, session, child, shell]
    row = proc.pwait(["sshd"], src)
    assert row is not None and row["pid"] == 412


def test_pwait_cli_prints_the_pid_of_a_setexec_spawn(tmp_path: Path) -> None:
    src = write(tmp_path, spawn_record(412, None, "/usr/sbin/sshd", ["/usr/sbin/sshd", "-i"]))
    r = subprocess.run([*KNOX_LIVE_ARGV, "pwait", "sshd", "--source", src],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "412 /usr/sbin/sshd -i\n"  # was: "None /usr/sbin/sshd -i"


def test_spawn_with_a_child_still_names_the_child(tmp_path: Path) -> None:
    src = write(tmp_path, spawn_record(1, 555, "/usr/sbin/cron", ["cron"]))
    row = proc.pwait(["cron"], src)
    assert row is not None and row["pid"] == 555


# --- item 5: processes already running at start -------------------------------------------
RUNNING = [Process(1, 0, "launchd"), Process(200, 1, "sshd"), Process(201, 200, "sshd"),
           Process(300, 201, "zsh"), Process(400, 1, "cron"), Process(401, 400, "sh")]


def test_paudit_follows_processes_running_at_start(tmp_path: Path) -> None:
    recs = [open_record(pid, f"/tmp/{pid}", i) for i, pid in enumerate((200, 300, 400, 401))]
    src = write(tmp_path, *recs)
    assert list(proc.paudit(["sshd"], src, processes=lambda: RUNNING)) == recs[:2]
    assert list(proc.paudit([], src, pids=[400], processes=lambda: RUNNING)) == recs[2:]
    assert list(proc.paudit(["sshd"], src)) == []  # without the list: only new execs


def test_seed_takes_the_descendant_closure() -> None:
    tracker = proc.ProcessTracker({"sshd"})
    assert tracker.seed(RUNNING) == {200, 201, 300}
    assert tracker.parents[300] == 201


def test_paudit_cli_accepts_pid(tmp_path: Path) -> None:
    recs = [open_record(400, "/a", 1), open_record(7, "/b", 2), exit_record(400, 3)]
    out = tmp_path / "out.bsm"
    with open(out, "wb") as fh:
        r = subprocess.run([*KNOX_LIVE_ARGV, "paudit", "--pid", "400", "--source",
                            write(tmp_path, *recs)], stdout=fh, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == recs[0] + recs[2]
    r = subprocess.run([*KNOX_LIVE_ARGV, "paudit", "--source", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "give a program NAME or --pid PID" in r.stderr


def test_no_process_list_on_linux() -> None:
    with pytest.raises(ProcessListError, match="no process list on linux"):
        processes.list_processes("linux")


def test_kinfo_proc_layout() -> None:
    # offsets on LP64 from FreeBSD 13/14 sys/sys/user.h (struct kinfo_proc): ki_pid and
    # ki_ppid follow 2 ints and 8 pointers; ki_comm[COMMLEN + 1] follows the name fields
    k = processes.KinfoProcPrefix
    assert (k.ki_pid.offset, k.ki_ppid.offset, k.ki_comm.offset) == (72, 76, 447)
    size = 1088  # KINFO_PROC_SIZE on amd64 and arm64 (sys/sys/user.h)

    def record(pid: int, ppid: int, comm: bytes) -> bytes:
        kp = k(ki_structsize=size, ki_pid=pid, ki_ppid=ppid, ki_comm=comm)
        return bytes(kp).ljust(size, b"\0")

    buf = record(1, 0, b"init") + record(812, 1, b"sshd")
    assert processes.parse_kinfo_procs(buf) == [Process(1, 0, "init"), Process(812, 1, "sshd")]
    with pytest.raises(ProcessListError, match="record at byte 0 says it is 4"):
        processes.parse_kinfo_procs(bytes(k(ki_structsize=4)))


def test_proc_bsdinfo_layout() -> None:
    # struct proc_bsdinfo (xnu bsd/sys/proc_info.h): 136 bytes; pbi_pid at 12, pbi_ppid at
    # 16, pbi_comm[16] at 48, pbi_name[32] at 64
    assert processes.PROC_BSDINFO.size == 136
    raw = bytearray(136)
    struct.pack_into("=II", raw, 12, 412, 1)
    raw[48:48 + 5] = b"sshd\0"
    assert processes.parse_proc_bsdinfo(bytes(raw)) == Process(412, 1, "sshd")
    raw[64:64 + 16] = b"sshd-session\0\0\0\0"
    assert processes.parse_proc_bsdinfo(bytes(raw)).name == "sshd-session"
    assert ctypes.sizeof(ctypes.c_char * 16) == 16


# --- item 8: the source descriptor is closed ----------------------------------------------
class RecordingSource(Source):
    closed: ClassVar[list[str]] = []

    def close(self) -> None:
        RecordingSource.closed.append(self.name)
        super().close()


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    def opener(source: str | None, *_: Any, **_kw: Any) -> Source:
        fd = os.open(source, os.O_RDONLY)
        return RecordingSource(fd, "file", str(source))

    RecordingSource.closed = []
    monkeypatch.setattr(stream, "open_source", opener)
    return RecordingSource.closed


def test_pwait_closes_the_source_when_found(tmp_path: Path, recording: list[str]) -> None:
    src = write(tmp_path, exec_record(7, "/usr/bin/make", ["make"]), open_record(7, "/a"))
    assert proc.pwait(["make"], src) is not None
    assert recording == [src]


def test_pwait_closes_the_source_when_not_found(tmp_path: Path, recording: list[str]) -> None:
    src = write(tmp_path, open_record(7, "/a"))
    assert proc.pwait(["make"], src) is None
    assert recording == [src]


def test_paudit_and_live_commands_close_when_closed_early(
        tmp_path: Path, recording: list[str]) -> None:
    src = write(tmp_path, exec_record(7, "/usr/bin/make", ["make"]),
                exec_record(8, "/usr/bin/make", ["make"]))
    records = proc.paudit(["make"], src)
    next(records)
    records.close()
    commands = live_commands(src)
    next(commands)
    commands.close()
    assert recording == [src, src]


def test_cli_goes_on_without_a_process_list(capsys: pytest.CaptureFixture[str]) -> None:
    from knox_analytics.cli import live

    def unreadable(platform: str) -> list[Process]:
        raise ProcessListError("sysctl kern.proc.proc failed: Permission denied")

    assert live._running_processes("/tmp/fifo", "freebsd14", unreadable) is None  # --source
    assert live._running_processes(None, "linux", unreadable) is None
    running = live._running_processes(None, "freebsd14", lambda p: RUNNING)
    assert running is not None and running() == RUNNING
    running = live._running_processes(None, "freebsd14", unreadable)
    assert running is not None and running() == []
    assert capsys.readouterr().err == ("knox: sysctl kern.proc.proc failed: Permission denied;"
                                       " following only processes started from now on\n")
