"""auditon(2): struct layouts (from ../bsm/include/bsm/audit.h), the read-modify-write verbs
against a fake kernel injected as the syscall, and the Linux error.  No fixture files."""

from __future__ import annotations

import ctypes
import struct
import subprocess
import sys
from typing import Any

import pytest
from live_helpers import KNOX_LIVE_ARGV

from knox_analytics.errors import UsageError
from knox_analytics.live import auditon as A
from knox_analytics.live.classes import AuMask


@pytest.mark.parametrize(("platform", "sizes"), [
    # auditpinfo_t: dev_t is int32 on macOS, uint64 on FreeBSD (8-byte aligned au_tid_t)
    ("darwin", {"auditpinfo_t": 28, "au_tid_t": 8}),
    ("freebsd14", {"auditpinfo_t": 40, "au_tid_t": 16}),
])
def test_struct_sizes(platform: str, sizes: dict[str, int]) -> None:
    s = A.make_structs(A.dev_t_for(platform))
    for name, size in sizes.items():
        assert ctypes.sizeof(getattr(s, name)) == size
    assert ctypes.sizeof(s.au_mask_t) == 8
    assert ctypes.sizeof(s.au_evclass_map_t) == 8  # u16 event, 2 bytes padding, u32 class
    assert ctypes.sizeof(s.au_qctrl_t) == 20
    assert ctypes.sizeof(s.au_stat_t) == 56
    assert ctypes.sizeof(s.au_fstat_t) == 16


def test_auditpinfo_packing_macos() -> None:
    s = A.make_structs(A.dev_t_for("darwin"))
    info = s.auditpinfo_t(ap_pid=4242, ap_auid=501, ap_mask=s.au_mask_t(0x80, 0x81),
                          ap_termid=s.au_tid_t(-1, 0x0100007F), ap_asid=100003)
    assert bytes(info) == struct.pack("=iIIIiIi", 4242, 501, 0x80, 0x81, -1, 0x0100007F,
                                      100003)
    back = s.auditpinfo_t.from_buffer_copy(bytes(info))
    assert (back.ap_pid, back.ap_mask.am_failure, back.ap_asid) == (4242, 0x81, 100003)


def test_evclass_packing() -> None:
    s = A.make_structs(A.dev_t_for("darwin"))
    assert bytes(s.au_evclass_map_t(23, 0x40000080)) == struct.pack("=H2xI", 23, 0x40000080)


class FakeKernel:
    """Holds audit state; reads and writes the ctypes objects like the kernel would."""

    def __init__(self) -> None:
        self.policy = A.POLICIES["cnt"]
        self.masks = {4242: (0x80, 0x80)}
        self.classes = {23: 0x40000080}
        self.calls: list[tuple[int, int]] = []

    def __call__(self, cmd: int, obj: Any, size: int) -> int:
        self.calls.append((cmd, size))
        if cmd == A.A_GETPOLICY:
            obj.value = self.policy
        elif cmd == A.A_SETPOLICY:
            self.policy = obj.value
        elif cmd == A.A_GETPINFO:
            if obj.ap_pid not in self.masks:
                ctypes.set_errno(3)  # ESRCH
                return -1
            obj.ap_mask.am_success, obj.ap_mask.am_failure = self.masks[obj.ap_pid]
            obj.ap_auid = 501
        elif cmd == A.A_SETPMASK:
            self.masks[obj.ap_pid] = (obj.ap_mask.am_success, obj.ap_mask.am_failure)
        elif cmd == A.A_GETCLASS:
            obj.ec_class = self.classes.get(obj.ec_number, 0)
        elif cmd == A.A_SETCLASS:
            self.classes[obj.ec_number] = obj.ec_class
        elif cmd == A.A_GETCOND:
            obj.value = 1
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
    with pytest.raises(UsageError, match="unknown audit policy 'bogus'; valid: cnt, ahlt"):
        A.change_policy(api, "bogus", on=True)


def test_mask_verbs(kernel: FakeKernel) -> None:
    api = A.Auditon(kernel, platform="darwin")
    assert A.change_mask(api, 4242, AuMask(0x10, 0x1), on=True) == AuMask(0x90, 0x81)
    assert A.change_mask(api, 4242, AuMask(0x80, 0x0), on=False) == AuMask(0x10, 0x81)
    assert kernel.masks[4242] == (0x10, 0x81)
    assert (A.A_SETPMASK, 28) in kernel.calls
    with pytest.raises(A.AuditonError, match=r"auditon\(A_GETPINFO\) failed: No such process"):
        api.getpinfo(1)


def test_class_verbs(kernel: FakeKernel) -> None:
    api = A.Auditon(kernel, platform="freebsd14")
    assert A.change_class(api, A.event_number("AUE_EXECVE"), 0x1, on=True) == 0x40000081
    assert A.change_class(api, 23, 0x80, on=False) == 0x40000001
    assert api.getcond() == "auditing"
    assert api.getqctrl()["aq_bufsz"] == 32767
    with pytest.raises(A.AuditonError, match="A_GETSTAT"):
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
