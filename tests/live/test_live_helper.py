"""The privileged helper ``--sudo`` runs (issue 21 S3): only what needs root, checked.

The old ``--sudo`` re-ran the whole knox command as root, every argument kept, so a
sudoers rule for it was root (``--source /etc/shadow`` printed the file).  The helper takes
three verbs with arguments of a fixed grammar; these tests drive it the way sudo would
(a separate process whose standard output is a Unix socket) and through its function.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from knox_analytics.bsm.classes import AuMask
from knox_analytics.live import helper, privilege
from knox_analytics.live import ioctl as I
from knox_analytics.live.device import AuditPipe

#: The helper, run in a child process with a test audit directory instead of
#: audit_control's (what ``sudo python -I -m knox_analytics.live.helper`` runs).
CHILD = ("import sys; from pathlib import Path; from knox_analytics.live import helper; "
         "raise SystemExit(helper.main(sys.argv[2:], dirs=lambda: [Path(sys.argv[1])]))")


def fake_run(audit_dir: Path):
    """A ``subprocess.run`` for :func:`privilege.helper_open` that drops the sudo."""
    def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess:
        assert argv[:4] == ["/usr/bin/sudo", sys.executable, "-I", "-m"]
        assert argv[4] == privilege.HELPER
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join(sys.path)}
        return subprocess.run([sys.executable, "-c", CHILD, str(audit_dir), *argv[5:]],
                              env=env, timeout=60, **kw)
    return run


@pytest.fixture(autouse=True)
def sudo_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privilege.shutil, "which", lambda name: "/usr/bin/sudo")


@pytest.mark.parametrize("argv", [
    ["auditpipe", "pc", "--source", "/etc/shadow"],  # the old re-exec's argument list
    ["trail"], ["pipe", "pc"], ["--source", "/etc/shadow"], [],
    ["auditon", "setpolicy", "argv", "--sudo"],
    ["auditon", "getmask", "1;id"], ["auditon", "getmask", "0x1"],
    ["auditon", "setmask", "42", "pc", "extra"],
    ["auditon", "rm", "-rf"], ["auditon", "getpolicy", "--help"],
    ["pipe", "pc", "--parquet=/etc"], ["pipe", "../../x", "pc"],
])
def test_refuses_anything_but_its_grammar(argv: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert helper.main(argv, dirs=lambda: []) == 2
    err = capsys.readouterr().err
    assert err.startswith("knox helper: ") and err.count("\n") == 1


def test_a_trail_outside_the_audit_directory_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit = tmp_path / "audit"
    audit.mkdir()
    secret = tmp_path / "shadow"
    secret.write_text("root:x:\n")
    (audit / "current").symlink_to(secret)  # a link inside pointing out
    for path in ("/etc/shadow", str(secret), str(audit / "current"),
                 str(audit / ".." / "shadow"), str(audit)):
        assert helper.main(["trail", path], dirs=lambda: [audit]) == 2, path
        assert "not under the audit directory" in capsys.readouterr().err


def test_a_fifo_in_the_audit_directory_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(helper.UsageError, match="not a regular file"):
        helper.open_trail(str(tmp_path / "fifo"), [tmp_path])


def test_audit_dirs_come_from_audit_control(tmp_path: Path) -> None:
    control = tmp_path / "audit_control"
    control.write_text("#\ndir:/var/audit\ndir: /srv/audit\nflags:lo,aa\nminfree:5\n")
    assert helper.audit_dirs(control) == [Path("/var/audit"),
                                         Path(os.path.realpath("/srv/audit"))]
    assert helper.audit_dirs(tmp_path / "absent") == [Path("/var/audit")]


def test_trail_descriptor_is_handed_over_scm_rights(tmp_path: Path) -> None:
    trail = tmp_path / "20260301000000.not_terminated"
    trail.write_bytes(b"records" * 100)
    fd, kind, size = privilege.helper_open("trail", str(trail), run=fake_run(tmp_path))
    try:
        assert (kind, size) == ("file", 1 << 20)
        assert os.read(fd, 1 << 20) == b"records" * 100
        assert stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def test_a_refused_trail_hands_nothing_over(tmp_path: Path) -> None:
    with pytest.raises(privilege.InputError, match=r"opened nothing \(exit status 2"):
        privilege.helper_open("trail", "/etc/passwd", run=fake_run(tmp_path))


def test_bytes_are_streamed_when_stdout_is_not_a_socket(tmp_path: Path) -> None:
    trail = tmp_path / "t"
    trail.write_bytes(b"x" * 200_000)
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), "trail", str(trail)],
                       capture_output=True, timeout=60,
                       env={"PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"x" * 200_000


class FakeKernelPipe:
    """The audit pipe's ioctls, recorded; the descriptor is a real pipe's read end."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self.calls: list[int] = []
        self.flags: bytes = b""

    def make(self, path: str) -> AuditPipe:
        assert path == "/dev/auditpipe"
        return AuditPipe(path, opener=lambda _p, _f: self.read_end, ioctl=self.ioctl)

    def ioctl(self, fd: int, request: int, arg: bytes | int) -> bytes | int:
        assert fd == self.read_end
        self.calls.append(request)
        if request == I.AUDITPIPE_SET_PRESELECT_FLAGS:
            self.flags = bytes(arg)  # type: ignore[arg-type]
        if request & I.IOC_OUT:
            return struct.pack("=I", 0x8000)
        return 0


def test_pipe_is_preselected_then_handed_over(tmp_path: Path) -> None:
    kernel = FakeKernelPipe()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        helper._pipe("pc,+ex", "no", kernel.make, out=theirs.fileno())
        message, fds, _f, _a = socket.recv_fds(ours, helper.HANDOFF.size, 1)
    assert helper.HANDOFF.unpack(message) == (b"pipe", 0x8000)
    assert kernel.calls[-1] == I.AUDITPIPE_FLUSH  # configured before the handover
    from knox_analytics.bsm.classes import parse_classes
    mask = parse_classes("pc,+ex")
    assert kernel.flags == struct.pack("=II", mask.success, mask.failure)
    os.write(kernel.write_end, b"record bytes")
    assert os.read(fds[0], 100) == b"record bytes"  # the same pipe, received
    os.close(fds[0])
    os.close(kernel.write_end)


def test_unprivileged_side_receives_the_audit_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    from knox_analytics.live import source as S

    asked: list[tuple[str, ...]] = []
    r, w = os.pipe()

    def helper_open(*args: str) -> tuple[int, str, int]:
        asked.append(args)
        return r, "pipe", 0x4000

    monkeypatch.setattr(S.privilege, "needs_sudo", lambda paths: True)
    monkeypatch.setattr(S.privilege, "helper_open", helper_open)
    src = S.open_source(None, AuMask(0x80, 0x80), AuMask(0x80, 0x80), sudo=True)
    with src:
        assert (src.kind, src.read_size, src.fd) == ("device", 0x4000, r)
        assert asked == [("pipe", "pc", "pc")]
        os.write(w, b"abc")
        assert src.read() == b"abc"
    os.close(w)


def test_auditon_sudo_hands_the_verb_to_the_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from knox_analytics.cli import live
    from knox_analytics.live import auditon as A

    calls: list[tuple[str, ...]] = []

    def exec_helper(*args: str) -> None:
        calls.append(args)
        raise SystemExit(0)

    monkeypatch.setattr(live.privilege, "exec_helper", exec_helper)
    monkeypatch.setattr(live.os, "geteuid", lambda: 501)
    monkeypatch.setattr(A, "HOST", "darwin")
    for argv, expect in ((["setmask", "4242", "+fc,-fr", "--sudo"],
                          ("auditon", "setmask", "4242", "+fc,-fr")),
                         (["getpolicy", "--sudo"], ("auditon", "getpolicy")),
                         (["unsetclass", "AUE_OPEN_R", "fr", "--sudo"],
                          ("auditon", "unsetclass", "AUE_OPEN_R", "fr"))):
        calls.clear()
        r = CliRunner().invoke(live.auditon_app, argv)
        assert r.exit_code == 0 and calls == [expect], r.output
        helper.check_arguments(expect[1], expect[2:])  # what knox sends, the helper takes


def test_helper_runs_an_auditon_verb(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from test_live_auditon import FakeKernel

    from knox_analytics.cli import live
    from knox_analytics.live import auditon as A

    kernel = FakeKernel()
    real = A.Auditon
    monkeypatch.setattr(live.A, "Auditon", lambda: real(kernel, platform="darwin"))
    monkeypatch.setattr(A, "HOST", "darwin")
    assert helper.main(["auditon", "setpolicy", "argv"]) == 0
    assert capsys.readouterr().out == "cnt,argv\n"


#: imports first: the interpreter's own files may be root's alone (a venv under /root)
UNPRIVILEGED = ("import os, sys; from knox_analytics.live import privilege; "
                "os.setgroups([]); os.setgid(65534); os.setuid(65534); p = sys.argv[1]; "
                "print(privilege.needs_sudo([p])); print(privilege.unreadable_reason(p))")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to become another user")
def test_a_trail_in_an_unsearchable_audit_directory_asks_for_sudo(tmp_path: Path) -> None:
    # R2: /var/audit is root:audit 0750 (FreeBSD) or 0700 (macOS): for the user the trail
    # does not "exist", and knox said "no such file" instead of escalating
    audit = tmp_path / "audit"
    audit.mkdir(mode=0o700)
    os.chmod(tmp_path, 0o755)
    (audit / "current").write_bytes(b"")
    env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}

    def ask(path: str) -> list[str]:
        r = subprocess.run([sys.executable, "-c", UNPRIVILEGED, path], capture_output=True,
                           text=True, timeout=60, env=env, cwd="/")
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()

    needs, reason = ask(str(audit / "current"))
    assert needs == "True"
    assert "not readable by uid 65534 (a directory on the way is not searchable)" in reason
    needs, reason = ask("/knox-absent/current")  # really absent: no sudo, says so
    assert (needs, reason) == ("False", "/knox-absent/current: no such file or device")


def test_paudit_lists_processes_after_the_source_is_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # R4: listed before the open, a child forked in between was in neither the list nor
    # the records
    from knox_analytics.live import proc, stream

    events: list[str] = []
    real_open = stream.open_source

    def open_source(*args: object, **kw: object):
        events.append("open")
        return real_open(*args, **kw)

    def processes() -> list[proc.Process]:
        events.append("list")
        return []

    monkeypatch.setattr(stream, "open_source", open_source)
    trail = tmp_path / "t.bsm"
    trail.write_bytes(b"")
    assert list(proc.paudit(["make"], str(trail), processes=processes)) == []
    assert events == ["open", "list"]
