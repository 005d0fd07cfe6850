"""auditon(2): struct layouts (from ../bsm/include/bsm/audit.h), the read-modify-write verbs
against a fake kernel injected as the syscall, and the Linux error.  No fixture files."""

from __future__ import annotations

import ctypes
import errno
import struct
import subprocess
import sys
from typing import Any

import pytest
from live_helpers import KNOX_LIVE_ARGV

from knox_analytics.bsm.classes import AuMask
from knox_analytics.errors import AuditonError, UsageError
from knox_analytics.live import auditon as A

#: Every structure knox passes to auditon(2), as each platform's own header declares it:
#: size and the offset of each field (LP64).  Sources:
#: - FreeBSD 13/14 sys/bsm/audit.h (freebsd-src stable/13, stable/14: au_tid.port is
#:   ``u_int32_t /* XXX dev_t compatibility */`` since the 64-bit dev_t of FreeBSD 12);
#: - macOS 13/14/15 xnu bsd/bsm/audit.h (``dev_t port``; dev_t is ``__int32_t`` in
#:   sys/_types.h), the same OpenBSM 1.1 layout as ../shared/bsm/include/bsm/audit.h.
#: The kernels (security/audit/audit_syscalls.c of both) return EINVAL unless the length
#: passed equals their sizeof, so a wrong size is a failure on the real host.
LAYOUTS = {
    "au_mask_t": (8, {"am_success": 0, "am_failure": 4}),
    "au_tid_t": (8, {"port": 0, "machine": 4}),
    "auditpinfo_t": (28, {"ap_pid": 0, "ap_auid": 4, "ap_mask": 8, "ap_termid": 16,
                          "ap_asid": 24}),
    # audit.h: au_tid_addr {dev_t/u_int32_t at_port; u_int32_t at_type, at_addr[4]};
    # auditpinfo_addr ends with au_asflgs_t ap_flags, u_int64_t aligned (8)
    "au_tid_addr_t": (24, {"at_port": 0, "at_type": 4, "at_addr": 8}),
    "auditpinfo_addr_t": (56, {"ap_pid": 0, "ap_auid": 4, "ap_mask": 8, "ap_termid": 16,
                               "ap_asid": 40, "ap_flags": 48}),
    "au_evclass_map_t": (8, {"ec_number": 0, "ec_class": 4}),  # u16, 2 bytes padding, u32
    "au_qctrl_t": (20, {"aq_hiwater": 0, "aq_lowater": 4, "aq_bufsz": 8, "aq_delay": 12,
                        "aq_minfree": 16}),
    "au_stat_t": (56, {"as_version": 0, "as_numevent": 4, "as_generated": 8,
                       "as_dropped": 44, "as_totalsize": 48, "as_memused": 52}),
    "au_fstat_t": (16, {"af_filesz": 0, "af_currsz": 8}),
}


@pytest.mark.parametrize("platform", ["darwin", "freebsd14", "freebsd13"])
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_struct_sizes_and_offsets(platform: str, name: str) -> None:
    struct_type = getattr(A.make_structs(platform), name)
    size, offsets = LAYOUTS[name]
    assert ctypes.sizeof(struct_type) == size
    assert {f: getattr(struct_type, f).offset for f in offsets} == offsets


def test_freebsd_auditpinfo_is_28_bytes_with_a_32_bit_port() -> None:
    # the regression: a 64-bit port made it 40 bytes and every getmask failed with EINVAL
    s = A.make_structs("freebsd14")
    info = s.auditpinfo_t(ap_pid=4242, ap_auid=501, ap_mask=s.au_mask_t(0x80, 0x81),
                          ap_termid=s.au_tid_t(0xFFFFFFFF, 0x0100007F), ap_asid=100003)
    assert bytes(info) == struct.pack("=iIIIIIi", 4242, 501, 0x80, 0x81, 0xFFFFFFFF,
                                      0x0100007F, 100003)


def test_auditpinfo_packing_macos() -> None:
    s = A.make_structs("darwin")
    info = s.auditpinfo_t(ap_pid=4242, ap_auid=501, ap_mask=s.au_mask_t(0x80, 0x81),
                          ap_termid=s.au_tid_t(-1, 0x0100007F), ap_asid=100003)
    assert bytes(info) == struct.pack("=iIIIiIi", 4242, 501, 0x80, 0x81, -1, 0x0100007F,
                                      100003)
    back = s.auditpinfo_t.from_buffer_copy(bytes(info))
    assert (back.ap_pid, back.ap_mask.am_failure, back.ap_asid) == (4242, 0x81, 100003)


def test_evclass_packing() -> None:
    s = A.make_structs("darwin")
    assert bytes(s.au_evclass_map_t(23, 0x40000080)) == struct.pack("=H2xI", 23, 0x40000080)


def test_no_structs_for_linux() -> None:
    with pytest.raises(AuditonError, match="not available on Linux"):
        A.make_structs("linux")


class FakeKernel:
    """Holds audit state; reads and writes the ctypes objects like the kernel would."""

    def __init__(self) -> None:
        self.policy = A.POLICIES["cnt"]
        self.masks = {4242: (0x80, 0x80)}
        self.classes = {23: 0x40000080}
        self.calls: list[tuple[int, int]] = []
        self.root = True
        self.condition = 1  # AUC_AUDITING
        self.ipv6 = {4242}  # pids whose session came in over IPv6 (ssh ::1)

    def __call__(self, cmd: int, obj: Any, size: int) -> int:
        self.calls.append((cmd, size))
        if not self.root:  # priv_check(PRIV_AUDIT_CONTROL) / suser() come first
            ctypes.set_errno(errno.EPERM)
            return -1
        if cmd == A.A_GETPOLICY:
            obj.value = self.policy
        elif cmd == A.A_SETPOLICY:
            if obj.value & ~0xF:  # both kernels: only cnt, ahlt, argv, arge
                ctypes.set_errno(errno.EINVAL)
                return -1
            self.policy = obj.value
        elif cmd in (A.A_GETPINFO, A.A_GETPINFO_ADDR):
            if size != (28 if cmd == A.A_GETPINFO else 56):  # uap->length != sizeof
                ctypes.set_errno(errno.EINVAL)
                return -1
            if obj.ap_pid not in self.masks:
                ctypes.set_errno(3)  # ESRCH
                return -1
            if cmd == A.A_GETPINFO and obj.ap_pid in self.ipv6:  # at_type == AU_IPv6
                ctypes.set_errno(errno.EINVAL)
                return -1
            obj.ap_mask.am_success, obj.ap_mask.am_failure = self.masks[obj.ap_pid]
            obj.ap_auid = 501
            if cmd == A.A_GETPINFO_ADDR and obj.ap_pid in self.ipv6:
                obj.ap_termid.at_type = A.AU_IPV6
                obj.ap_termid.at_addr[:] = [0, 0, 0, 0x01000000]  # ::1
        elif cmd == A.A_SETPMASK:
            self.masks[obj.ap_pid] = (obj.ap_mask.am_success, obj.ap_mask.am_failure)
        elif cmd == A.A_GETCLASS:
            obj.ec_class = self.classes.get(obj.ec_number, 0)
        elif cmd == A.A_SETCLASS:
            self.classes[obj.ec_number] = obj.ec_class
        elif cmd == A.A_GETCOND:
            obj.value = self.condition
        elif cmd == A.A_GETQCTRL:
            obj.aq_hiwater, obj.aq_lowater, obj.aq_bufsz = 100, 10, 32767
        else:
            ctypes.set_errno(78)  # ENOSYS on macOS numbering: "not implemented"
            return -1
        return 0


@pytest.fixture
def kernel() -> FakeKernel:
    return FakeKernel()


def test_policy_verbs(kernel: FakeKernel) -> None:
    api = A.Auditon(kernel, platform="darwin")
    assert A.policy_names(api.getpolicy()) == "cnt"
    assert A.policy_names(A.change_policy(api, "argv,arge", on=True)) == "cnt,argv,arge"
    assert A.policy_names(A.change_policy(api, "cnt", on=False)) == "argv,arge"
    assert kernel.calls[0] == (A.A_GETPOLICY, 4)
    with pytest.raises(UsageError, match="'bogus' is unknown to the macOS kernel; it "
                                         "accepts: cnt, ahlt, argv, arge"):
        A.change_policy(api, "bogus", on=True)


@pytest.mark.parametrize("platform", ["darwin", "freebsd14"])
def test_setpolicy_refuses_names_the_kernel_rejects(kernel: FakeKernel, platform: str) -> None:
    # 'seq' is an OpenBSM name, but both kernels answer a bare EINVAL to it: say so first
    api = A.Auditon(kernel, platform=platform)
    os_name = "macOS" if platform == "darwin" else "FreeBSD"
    with pytest.raises(UsageError, match=f"'seq' is not accepted by the {os_name} kernel; "
                                         "it accepts: cnt, ahlt, argv, arge"):
        A.change_policy(api, "argv,seq", on=True)
    assert (A.A_SETPOLICY, 4) not in kernel.calls  # refused before asking the kernel
    for name in A.KERNEL_POLICIES[A.family(platform)]:  # each accepted one the kernel takes
        A.change_policy(api, name, on=True)
    assert A.policy_names(api.getpolicy()) == "cnt,ahlt,argv,arge"


def test_eperm_says_how_to_run_as_root(kernel: FakeKernel) -> None:
    kernel.root = False
    with pytest.raises(AuditonError, match=r"A_GETPOLICY\) failed: Operation not permitted;"
                                             r" .*need root: rerun as root or add --sudo"):
        A.Auditon(kernel, platform="freebsd").getpolicy()


@pytest.mark.parametrize(("platform", "command"), [
    ("freebsd14", "sysrc auditd_enable=YES && service auditd start"),
    ("darwin", "launchctl bootstrap system /System/Library/LaunchDaemons/com.apple.auditd"),
    ("darwin", "then reboot"),  # macOS 14: Apple's auditd(8)/audit(8) require it
])
def test_auditing_off_says_what_to_run(kernel: FakeKernel, platform: str, command: str) -> None:
    api = A.Auditon(kernel, platform=platform)
    assert A.condition_warning(api) is None
    kernel.condition = 2  # AUC_NOAUDIT: no trail enabled
    warning = A.condition_warning(api)
    assert warning is not None and "auditing is off" in warning and "noaudit" in warning
    assert command in warning
    kernel.root = False  # cannot read it: no warning, the open of the pipe will say why
    assert A.condition_warning(api) is None


def test_mask_verbs(kernel: FakeKernel) -> None:
    api = A.Auditon(kernel, platform="darwin")
    assert A.change_mask(api, 4242, AuMask(0x10, 0x1), on=True) == AuMask(0x90, 0x81)
    assert A.change_mask(api, 4242, AuMask(0x80, 0x0), on=False) == AuMask(0x10, 0x81)
    assert kernel.masks[4242] == (0x10, 0x81)
    assert (A.A_SETPMASK, 28) in kernel.calls
    with pytest.raises(AuditonError,
                       match=r"auditon\(A_GETPINFO_ADDR\) failed: No such process"):
        api.getpinfo(1)


@pytest.mark.parametrize("platform", ["darwin", "freebsd14"])
def test_mask_verbs_work_in_an_ipv6_session(kernel: FakeKernel, platform: str) -> None:
    # R1: A_GETPINFO is EINVAL for a process of an ssh-over-IPv6 session on both kernels
    api = A.Auditon(kernel, platform=platform)
    info = api.getpinfo(4242)
    assert (info.mask, info.tid_type, info.tid_addr) == (AuMask(0x80, 0x80), A.AU_IPV6,
                                                          (0, 0, 0, 0x01000000))
    assert A.change_mask(api, 4242, AuMask(0x10, 0x10), on=True) == AuMask(0x90, 0x90)
    assert kernel.calls[0] == (A.A_GETPINFO_ADDR, 56)


def test_class_verbs(kernel: FakeKernel) -> None:
    api = A.Auditon(kernel, platform="freebsd14")
    assert A.change_class(api, A.event_number("AUE_EXECVE"), 0x1, on=True) == 0x40000081
    assert A.change_class(api, 23, 0x80, on=False) == 0x40000001
    assert api.getcond() == "auditing"
    assert api.getqctrl()["aq_bufsz"] == 32767
    with pytest.raises(AuditonError, match="A_GETSTAT"):
        api.getstat()


def test_unknown_event_name() -> None:
    with pytest.raises(UsageError, match="unknown audit event 'AUE_NOPE'"):
        A.event_number("AUE_NOPE")


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux message")
def test_cli_says_auditon_is_not_on_linux() -> None:
    r = subprocess.run([*KNOX_LIVE_ARGV, "auditon", "getpolicy"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip() == "knox: auditon(2) is not available on Linux (macOS and " \
                               "FreeBSD only)"


def test_live_commands_warn_at_start_when_auditing_is_off(
        kernel: FakeKernel, capsys: pytest.CaptureFixture[str]) -> None:
    from knox_analytics.cli import pipe

    kernel.condition = 2  # AUC_NOAUDIT
    api = lambda: A.Auditon(kernel, platform="freebsd")  # noqa: E731
    pipe.warn_if_not_auditing(None, "freebsd14", api)
    err = capsys.readouterr().err
    assert err.startswith("knox: auditing is off on this host (audit condition: noaudit)")
    assert "sysrc auditd_enable=YES && service auditd start" in err
    pipe.warn_if_not_auditing("/tmp/fifo", "freebsd14", api)  # --source: not the kernel's
    pipe.warn_if_not_auditing(None, "linux", api)
    assert capsys.readouterr().err == ""


def test_auditon_sudo_runs_the_helper_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from knox_analytics.cli import live

    calls: list[list[str]] = []

    def exec_helper(*args: str) -> None:
        calls.append(list(args))
        raise SystemExit(0)

    monkeypatch.setattr(live.privilege, "exec_helper", exec_helper)
    monkeypatch.setattr(live.os, "geteuid", lambda: 501)
    monkeypatch.setattr(A, "HOST", "darwin")  # the policy names are checked first
    r = CliRunner().invoke(live.auditon_app, ["setpolicy", "seq", "--sudo"])
    assert isinstance(r.exception, UsageError) and calls == []  # refused before sudo
    r = CliRunner().invoke(live.auditon_app, ["setpolicy", "argv", "--sudo"])
    assert r.exit_code == 0 and calls == [["auditon", "setpolicy", "argv"]]
    monkeypatch.setattr(live.os, "geteuid", lambda: 0)  # already root: no re-exec
    real = A.Auditon
    monkeypatch.setattr(live.A, "Auditon", lambda: real(FakeKernel(), platform="darwin"))
    r = CliRunner().invoke(live.auditon_app, ["setpolicy", "argv", "--sudo"])
    assert r.exit_code == 0, r.output
    assert r.output == "cnt,argv\n" and calls == [["auditon", "setpolicy", "argv"]]


def test_live_knox_commands_warns_too_when_auditing_is_off(
        kernel: FakeKernel, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # R3: the other live commands warned; `knox commands` (macOS 14: auditing off by
    # default) waited silently
    from knox_analytics.cli import live_commands, pipe
    from knox_analytics.live import commands
    from knox_analytics.questions import Filters

    kernel.condition = 2  # AUC_NOAUDIT
    real = pipe.warn_if_not_auditing
    api = lambda: A.Auditon(kernel, platform="darwin")  # noqa: E731
    monkeypatch.setattr(pipe, "warn_if_not_auditing",
                        lambda source, sudo=False: real(source, "darwin", api, sudo=sudo))
    monkeypatch.setattr(commands, "live_question_tables", lambda *a, **kw: iter([]))
    live_commands.live_question_cli("commands", Filters(), "table", None)
    err = capsys.readouterr().err
    assert err.startswith("knox: auditing is off on this host (audit condition: noaudit)")
    live_commands.live_question_cli("commands", Filters(), "table", None, source="/tmp/x")
    assert capsys.readouterr().err == ""  # --source: not the kernel's pipe
