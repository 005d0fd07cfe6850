"""auditon(2) through ctypes: policy, process masks, event classes and read-only views.

Struct layouts follow OpenBSM ``bsm/audit.h`` (../bsm/include/bsm/audit.h) and command
numbers its ``A_*`` defines.  ``dev_t`` (in ``au_tid_t``) is 32 bits on macOS and 64 bits
on FreeBSD >= 12, so the structures are built per platform.  The syscall is injectable:
tests pass a fake kernel; on systems without auditon(2) a clear error is raised.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from knox_analytics.errors import KnoxError, UsageError
from knox_analytics.live.classes import AuMask

# --- commands (audit.h A_*) --------------------------------------------------------------
A_GETKMASK, A_GETSTAT, A_GETCLASS, A_SETCLASS = 4, 12, 22, 23
A_GETPINFO, A_SETPMASK, A_GETFSIZE = 24, 25, 27
A_GETPOLICY, A_SETPOLICY, A_GETQCTRL, A_GETCOND = 33, 34, 35, 37

#: Policy flags (audit.h AUDIT_*) with the names audit_control(5) and auditconfig use.
POLICIES: dict[str, int] = {
    "cnt": 0x0001, "ahlt": 0x0002, "argv": 0x0004, "arge": 0x0008, "seq": 0x0010,
    "windata": 0x0020, "user": 0x0040, "group": 0x0080, "trail": 0x0100, "path": 0x0200,
    "scnt": 0x0400, "public": 0x0800, "zonename": 0x1000, "perzone": 0x2000,
}
#: audit.h AUC_*: what A_GETCOND returns.
CONDITIONS = {0: "unset", 1: "auditing", 2: "noaudit", -1: "disabled"}

Syscall = Callable[[int, Any, int], int]


class AuditonError(KnoxError, OSError):
    """auditon(2) failed or does not exist here."""


def make_structs(dev_t: type[ctypes._SimpleCData]) -> SimpleNamespace:
    """The audit.h structures for a platform whose ``dev_t`` is ``dev_t``."""

    class au_mask_t(ctypes.Structure):  # C names, as in audit.h
        _fields_ = (("am_success", ctypes.c_uint), ("am_failure", ctypes.c_uint))

    class au_tid_t(ctypes.Structure):
        _fields_ = (("port", dev_t), ("machine", ctypes.c_uint32))

    class auditpinfo_t(ctypes.Structure):
        _fields_ = (("ap_pid", ctypes.c_int32), ("ap_auid", ctypes.c_uint32),
                    ("ap_mask", au_mask_t), ("ap_termid", au_tid_t),
                    ("ap_asid", ctypes.c_int32))

    class au_evclass_map_t(ctypes.Structure):
        _fields_ = (("ec_number", ctypes.c_uint16), ("ec_class", ctypes.c_uint32))

    class au_qctrl_t(ctypes.Structure):
        _fields_ = tuple((n, ctypes.c_int) for n in
                         ("aq_hiwater", "aq_lowater", "aq_bufsz", "aq_delay", "aq_minfree"))

    class au_stat_t(ctypes.Structure):
        _fields_ = (("as_version", ctypes.c_uint), ("as_numevent", ctypes.c_uint),
                    *((n, ctypes.c_int) for n in (
                        "as_generated", "as_nonattrib", "as_kernel", "as_audit",
                        "as_auditctl", "as_enqueue", "as_written", "as_wblocked",
                        "as_rblocked", "as_dropped", "as_totalsize")),
                    ("as_memused", ctypes.c_uint))

    class au_fstat_t(ctypes.Structure):
        _fields_ = (("af_filesz", ctypes.c_uint64), ("af_currsz", ctypes.c_uint64))

    return SimpleNamespace(au_mask_t=au_mask_t, au_tid_t=au_tid_t, auditpinfo_t=auditpinfo_t,
                           au_evclass_map_t=au_evclass_map_t, au_qctrl_t=au_qctrl_t,
                           au_stat_t=au_stat_t, au_fstat_t=au_fstat_t)


def dev_t_for(platform: str) -> type[ctypes._SimpleCData]:
    """``dev_t`` of a platform: int32 on macOS, uint64 on FreeBSD (>= 12) and Linux."""
    return ctypes.c_int32 if platform == "darwin" else ctypes.c_uint64


def libc_auditon(platform: str = sys.platform) -> Syscall:
    """libc's ``auditon`` as a callable; :class:`AuditonError` where there is none."""
    if not platform.startswith(("darwin", "freebsd")):
        raise AuditonError(f"auditon(2) is not available on {_os_name(platform)} "
                           "(macOS and FreeBSD only)")
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fn = libc.auditon
    fn.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
    fn.restype = ctypes.c_int
    return lambda cmd, data, length: fn(cmd, ctypes.byref(data), length)


def _os_name(platform: str) -> str:
    return {"linux": "Linux", "win32": "Windows"}.get(platform, platform)


def parse_policy(text: str) -> int:
    """``'cnt,argv'`` -> 0x5; unknown names raise a :class:`UsageError` listing valid ones."""
    bits = 0
    for name in filter(None, (t.strip() for t in text.split(","))):
        if name not in POLICIES:
            raise UsageError(f"unknown audit policy {name!r}; valid: {', '.join(POLICIES)}")
        bits |= POLICIES[name]
    return bits


def policy_names(bits: int) -> str:
    """0x5 -> ``'cnt,argv'`` (``'none'`` for 0; unnamed bits in hex)."""
    names = [n for n, b in POLICIES.items() if bits & b]
    rest = bits & ~sum(POLICIES.values())
    return ",".join(names + ([hex(rest)] if rest else [])) or "none"


def _struct_dict(obj: ctypes.Structure) -> dict[str, int]:
    return {name: getattr(obj, name) for name, _t in obj._fields_}


@dataclass
class ProcessInfo:
    """A process's audit settings (A_GETPINFO)."""

    pid: int
    auid: int
    mask: AuMask
    asid: int
    tid_port: int
    tid_machine: int


class Auditon:
    """auditon(2) commands; ``syscall`` defaults to libc's (macOS/FreeBSD only).

    >>> Auditon().getpolicy()     # doctest: +SKIP
    5
    """

    def __init__(self, syscall: Syscall | None = None, platform: str = sys.platform) -> None:
        self.s = make_structs(dev_t_for(platform))
        self._syscall = syscall if syscall is not None else libc_auditon(platform)

    def _call(self, cmd: int, obj: Any, what: str) -> Any:
        rc = self._syscall(cmd, obj, ctypes.sizeof(obj))
        if rc != 0:
            err = ctypes.get_errno() or (-rc if rc < 0 else 0)
            reason = os.strerror(err) if err else f"returned {rc}"
            raise AuditonError(f"auditon({what}) failed: {reason}")
        return obj

    def getpolicy(self) -> int:
        """The global policy flags."""
        return self._call(A_GETPOLICY, ctypes.c_int(0), "A_GETPOLICY").value

    def setpolicy(self, bits: int) -> None:
        """Replace the policy flags."""
        self._call(A_SETPOLICY, ctypes.c_int(bits), "A_SETPOLICY")

    def getpinfo(self, pid: int) -> ProcessInfo:
        """Audit settings of process ``pid``."""
        info = self._call(A_GETPINFO, self.s.auditpinfo_t(ap_pid=pid), "A_GETPINFO")
        return ProcessInfo(info.ap_pid, info.ap_auid,
                           AuMask(info.ap_mask.am_success, info.ap_mask.am_failure),
                           info.ap_asid, info.ap_termid.port, info.ap_termid.machine)

    def setpmask(self, pid: int, mask: AuMask) -> None:
        """Set the preselection mask of process ``pid``."""
        info = self.s.auditpinfo_t(ap_pid=pid)
        info.ap_mask = self.s.au_mask_t(mask.success, mask.failure)
        self._call(A_SETPMASK, info, "A_SETPMASK")

    def getclass(self, event: int) -> int:
        """Class mask of event number ``event``."""
        ec = self._call(A_GETCLASS, self.s.au_evclass_map_t(ec_number=event), "A_GETCLASS")
        return ec.ec_class

    def setclass(self, event: int, mask: int) -> None:
        """Set the class mask of event number ``event``."""
        self._call(A_SETCLASS, self.s.au_evclass_map_t(event, mask), "A_SETCLASS")

    def getkmask(self) -> AuMask:
        """Kernel preselection mask for non-attributable events."""
        m = self._call(A_GETKMASK, self.s.au_mask_t(), "A_GETKMASK")
        return AuMask(m.am_success, m.am_failure)

    def getqctrl(self) -> dict[str, int]:
        """Audit queue control parameters."""
        return _struct_dict(self._call(A_GETQCTRL, self.s.au_qctrl_t(), "A_GETQCTRL"))

    def getstat(self) -> dict[str, int]:
        """Audit statistics (FreeBSD: ENOSYS, not implemented)."""
        return _struct_dict(self._call(A_GETSTAT, self.s.au_stat_t(), "A_GETSTAT"))

    def getcond(self) -> str:
        """The audit condition: auditing, noaudit, unset or disabled."""
        value = self._call(A_GETCOND, ctypes.c_int(0), "A_GETCOND").value
        return CONDITIONS.get(value, str(value))

    def getfsize(self) -> dict[str, int]:
        """Maximum and current trail file size."""
        return _struct_dict(self._call(A_GETFSIZE, self.s.au_fstat_t(), "A_GETFSIZE"))


# --- the knox auditon verbs: read-modify-write on top of the commands ---------------------
def change_policy(api: Auditon, names: str, on: bool) -> int:
    """setpolicy/unsetpolicy: add or remove named flags; returns the new flags."""
    bits = parse_policy(names)
    new = api.getpolicy() | bits if on else api.getpolicy() & ~bits
    api.setpolicy(new)
    return new


def change_mask(api: Auditon, pid: int, mask: AuMask, on: bool) -> AuMask:
    """setmask/unsetmask: add or remove classes from a process mask; returns the new one."""
    cur = api.getpinfo(pid).mask
    if on:
        new = AuMask(cur.success | mask.success, cur.failure | mask.failure)
    else:
        new = AuMask(cur.success & ~mask.success, cur.failure & ~mask.failure)
    api.setpmask(pid, new)
    return new


def change_class(api: Auditon, event: int, bits: int, on: bool) -> int:
    """setclass/unsetclass: add or remove class bits of an event; returns the new mask."""
    cur = api.getclass(event)
    new = (cur | bits) if on else (cur & ~bits & 0xFFFFFFFF)
    api.setclass(event, new)
    return new


def event_number(spec: str) -> int:
    """``'23'`` or ``'AUE_EXECVE'`` -> 23, from the audit_event table."""
    if spec.isdigit():
        return int(spec)
    from knox_analytics.bsm.tables import load_tables

    number = load_tables().events.number(spec)
    if number is None:
        raise UsageError(f"unknown audit event {spec!r} (not in audit_event; give a number)")
    return number
