"""auditon(2) through ctypes: policy, process masks, event classes and read-only views.

Command numbers are OpenBSM's ``A_*`` (../bsm/include/bsm/audit.h), which FreeBSD and
macOS both use.  The structures are declared per platform from the platform's *own*
``<bsm/audit.h>``, which differs from OpenBSM's copy in ``au_tid_t.port``:

- FreeBSD 12-14 ``sys/bsm/audit.h``: ``u_int32_t port; /* XXX dev_t compatibility */``
  (dev_t became 64 bits in FreeBSD 12, the audit ABI stayed 32);
- macOS 11-15 xnu ``bsd/bsm/audit.h``: ``dev_t port`` with ``dev_t`` = ``__int32_t``.

So ``auditpinfo_t`` is 28 bytes on both; the kernels reject any other length with EINVAL
(``if (uap->length != sizeof(udata.au_aupinfo)) return (EINVAL)`` in both kernels'
``security/audit/audit_syscalls.c``).  tests/live/test_live_auditon.py states every size
and offset.  The syscall is injectable: tests pass a fake kernel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from knox_analytics.bsm import tablefiles
from knox_analytics.bsm.classes import AuMask
from knox_analytics.errors import AuditonError, UsageError

# --- commands (audit.h A_*) --------------------------------------------------------------
A_GETKMASK, A_GETSTAT, A_GETCLASS, A_SETCLASS = 4, 12, 22, 23
A_GETPINFO, A_SETPMASK, A_GETFSIZE, A_GETPINFO_ADDR = 24, 25, 27, 28
#: au_tid_addr_t.at_type: the terminal address is IPv4 or IPv6 (audit.h AU_IPv*).
AU_IPV4, AU_IPV6 = 4, 16
A_GETPOLICY, A_SETPOLICY, A_GETQCTRL, A_GETCOND = 33, 34, 35, 37

#: Policy flags (audit.h AUDIT_*) with the names audit_control(5) and auditconfig use.
POLICIES: dict[str, int] = {
    "cnt": 0x0001, "ahlt": 0x0002, "argv": 0x0004, "arge": 0x0008, "seq": 0x0010,
    "windata": 0x0020, "user": 0x0040, "group": 0x0080, "trail": 0x0100, "path": 0x0200,
    "scnt": 0x0400, "public": 0x0800, "zonename": 0x1000, "perzone": 0x2000,
}
#: The flags A_SETPOLICY accepts: both kernels return EINVAL for any other bit
#: (``udata.au_policy & ~(AUDIT_CNT|AUDIT_AHLT|AUDIT_ARGV|AUDIT_ARGE)`` in FreeBSD's and
#: xnu's audit_syscalls.c); the others are Solaris names OpenBSM only declares.
KERNEL_POLICIES: dict[str, tuple[str, ...]] = {
    "freebsd": ("cnt", "ahlt", "argv", "arge"),
    "darwin": ("cnt", "ahlt", "argv", "arge"),
}
#: audit.h AUC_*: what A_GETCOND returns.
CONDITIONS = {0: "unset", 1: "auditing", 2: "noaudit", -1: "disabled"}
#: What to run to turn auditing on (A_GETCOND says "noaudit" until auditd has started;
#: until then the kernel has no event-to-class map and preselects nothing).
ENABLE_AUDITING: dict[str, str] = {
    "freebsd": "sysrc auditd_enable=YES && service auditd start",
    "darwin": ("cp -n /etc/security/audit_control.example /etc/security/audit_control; "
               "launchctl enable system/com.apple.auditd && launchctl bootstrap system "
               "/System/Library/LaunchDaemons/com.apple.auditd.plist; then reboot (auditd(8), "
               "audit(8)) and run audit -i"),
}
#: au_tid_t.port as each platform's own header declares it (see the module docstring).
PORT_TYPE: dict[str, type[ctypes._SimpleCData]] = {
    "freebsd": ctypes.c_uint32,
    "darwin": ctypes.c_int32,
}

Syscall = Callable[[int, Any, int], int]
#: The platform whose kernel the defaults talk to.
HOST = sys.platform


def family(platform: str) -> str:
    """``'darwin'`` or ``'freebsd'`` for a ``sys.platform`` value; AuditonError otherwise."""
    for name in ("darwin", "freebsd"):
        if platform.startswith(name):
            return name
    raise AuditonError(f"auditon(2) is not available on {_os_name(platform)} "
                       "(macOS and FreeBSD only)")


def make_structs(platform: str) -> SimpleNamespace:
    """The audit.h structures of ``platform`` (``darwin`` or ``freebsd``)."""
    port = PORT_TYPE[family(platform)]

    class au_mask_t(ctypes.Structure):  # C names, as in audit.h
        _fields_ = (("am_success", ctypes.c_uint), ("am_failure", ctypes.c_uint))

    class au_tid_t(ctypes.Structure):
        _fields_ = (("port", port), ("machine", ctypes.c_uint32))

    class auditpinfo_t(ctypes.Structure):
        _fields_ = (("ap_pid", ctypes.c_int32), ("ap_auid", ctypes.c_uint32),
                    ("ap_mask", au_mask_t), ("ap_termid", au_tid_t),
                    ("ap_asid", ctypes.c_int32))

    class au_tid_addr_t(ctypes.Structure):
        _fields_ = (("at_port", port), ("at_type", ctypes.c_uint32),
                    ("at_addr", ctypes.c_uint32 * 4))

    class auditpinfo_addr_t(ctypes.Structure):  # ap_flags: u_int64_t, aligned (8)
        _fields_ = (("ap_pid", ctypes.c_int32), ("ap_auid", ctypes.c_uint32),
                    ("ap_mask", au_mask_t), ("ap_termid", au_tid_addr_t),
                    ("ap_asid", ctypes.c_int32), ("ap_flags", ctypes.c_uint64))

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
                           au_tid_addr_t=au_tid_addr_t, auditpinfo_addr_t=auditpinfo_addr_t,
                           au_evclass_map_t=au_evclass_map_t, au_qctrl_t=au_qctrl_t,
                           au_stat_t=au_stat_t, au_fstat_t=au_fstat_t)


def libc_auditon(platform: str = sys.platform) -> Syscall:
    """libc's ``auditon`` as a callable; :class:`AuditonError` where there is none."""
    family(platform)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fn = libc.auditon
    fn.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
    fn.restype = ctypes.c_int
    return lambda cmd, data, length: fn(cmd, ctypes.byref(data), length)


def _os_name(platform: str) -> str:
    names = {"linux": "Linux", "win32": "Windows", "darwin": "macOS", "freebsd": "FreeBSD"}
    return next((v for k, v in names.items() if platform.startswith(k)), platform)


def _hint(err: int) -> str:
    """What to do about an auditon errno the user can act on."""
    if err == errno.EPERM:
        return ("; the kernel audit settings need root: rerun as root or add --sudo, "
                "e.g. knox auditon getpolicy --sudo")
    if err == errno.ENOSYS:
        return " (this kernel does not implement it; inside a FreeBSD jail none is)"
    return ""


def parse_policy(text: str, platform: str | None = None) -> int:
    """``'cnt,argv'`` -> 0x5; a name the ``platform``'s kernel (default: this host's)
    rejects raises a :class:`UsageError` listing the ones it accepts."""
    platform = platform or HOST
    accepted = KERNEL_POLICIES[family(platform)]
    bits = 0
    for name in filter(None, (t.strip() for t in text.split(","))):
        if name not in accepted:
            what = "not accepted by the" if name in POLICIES else "unknown to the"
            raise UsageError(f"audit policy {name!r} is {what} {_os_name(platform)} kernel; "
                             f"it accepts: {', '.join(accepted)}")
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
    tid_machine: int  #: the first 32 bits of the terminal address
    tid_type: int = AU_IPV4
    tid_addr: tuple[int, ...] = (0, 0, 0, 0)


class Auditon:
    """auditon(2) commands; ``syscall`` defaults to libc's (macOS/FreeBSD only).

    >>> Auditon().getpolicy()     # doctest: +SKIP
    5
    """

    def __init__(self, syscall: Syscall | None = None, platform: str = sys.platform) -> None:
        self._syscall = syscall if syscall is not None else libc_auditon(platform)
        self.platform = family(platform)
        self.s = make_structs(self.platform)

    def _call(self, cmd: int, obj: Any, what: str) -> Any:
        rc = self._syscall(cmd, obj, ctypes.sizeof(obj))
        if rc != 0:
            err = ctypes.get_errno() or (-rc if rc < 0 else 0)
            reason = os.strerror(err) if err else f"returned {rc}"
            raise AuditonError(f"auditon({what}) failed: {reason}{_hint(err)}")
        return obj

    def getpolicy(self) -> int:
        """The global policy flags."""
        return self._call(A_GETPOLICY, ctypes.c_int(0), "A_GETPOLICY").value

    def setpolicy(self, bits: int) -> None:
        """Replace the policy flags."""
        self._call(A_SETPOLICY, ctypes.c_int(bits), "A_SETPOLICY")

    def getpinfo(self, pid: int) -> ProcessInfo:
        """Audit settings of process ``pid``.

        Asked with A_GETPINFO_ADDR: both kernels answer A_GETPINFO with EINVAL for a
        process whose session has an IPv6 terminal address (ssh over IPv6), since the
        address does not fit ``au_tid_t`` (``if (...ai_termid.at_type == AU_IPv6) return
        (EINVAL)`` in both audit_syscalls.c).
        """
        info = self._call(A_GETPINFO_ADDR, self.s.auditpinfo_addr_t(ap_pid=pid),
                          "A_GETPINFO_ADDR")
        tid = info.ap_termid
        return ProcessInfo(info.ap_pid, info.ap_auid,
                           AuMask(info.ap_mask.am_success, info.ap_mask.am_failure),
                           info.ap_asid, tid.at_port, tid.at_addr[0], tid.at_type,
                           tuple(tid.at_addr))

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
        """Audit statistics (both kernels answer ENOSYS: A_GETSTAT is not implemented)."""
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
    bits = parse_policy(names, api.platform)
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
    number = tablefiles.event_number(spec)
    if number is None:
        raise UsageError(f"unknown audit event {spec!r} (not in audit_event; give a number)")
    return number


def condition_warning(api: Auditon) -> str | None:
    """None when the kernel is auditing, else a sentence saying what to run to enable it.

    With auditing off the audit pipe stays silent (no event-to-class map is loaded, so
    nothing is preselected): say so at start rather than wait forever.  A condition that
    cannot be read (not root, a jail) is no reason to stop: None.
    """
    try:
        cond = api.getcond()
    except AuditonError:
        return None
    return warning_for(cond, api.platform)


def warning_for(cond: str, platform: str) -> str | None:
    """The warning for audit condition ``cond`` (None when auditing or unknown)."""
    if cond in ("auditing", ""):
        return None
    return (f"auditing is off on this host (audit condition: {cond}); the audit pipe will "
            f"stay silent until it is on. Enable it as root: "
            f"{ENABLE_AUDITING[family(platform)]}")
