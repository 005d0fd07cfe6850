"""The processes running now, from the kernel, so paudit can follow ones started earlier.

- FreeBSD: ``sysctl kern.proc.proc`` returns an array of ``struct kinfo_proc``
  (sys/sys/user.h); each starts with ``ki_structsize``, and knox reads ``ki_pid``,
  ``ki_ppid`` and ``ki_comm`` at the offsets the declaration gives on LP64 (amd64, arm64).
- macOS: libproc's ``proc_listallpids``, then ``proc_pidinfo(PROC_PIDTBSDINFO)``
  (``struct proc_bsdinfo``, sys/proc_info.h) for the parent and ``proc_pidpath`` for the
  program's path (its basename is what an exec record's path token gives).

Both through ctypes; the byte layouts are parsed by plain functions that the tests feed
with bytes packed from the same declarations.  Elsewhere :func:`list_processes` raises.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import sys

from knox_analytics.errors import ProcessListError
from knox_analytics.live.proc import Process


# --- FreeBSD: struct kinfo_proc (sys/sys/user.h), the prefix knox reads ------------------
class _timeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_int64), ("tv_usec", ctypes.c_int64))


class KinfoProcPrefix(ctypes.Structure):
    """``struct kinfo_proc`` up to ``ki_comm`` as declared in FreeBSD 13/14 sys/sys/user.h
    (LP64: pointers, long, vm_size_t and segsz_t are 8 bytes; sigset_t is 4 x u32)."""

    _fields_ = (
        ("ki_structsize", ctypes.c_int), ("ki_layout", ctypes.c_int),
        *((n, ctypes.c_void_p) for n in ("ki_args", "ki_paddr", "ki_addr", "ki_tracep",
                                          "ki_textvp", "ki_fd", "ki_vmspace", "ki_wchan")),
        *((n, ctypes.c_int32) for n in ("ki_pid", "ki_ppid", "ki_pgid", "ki_tpgid",
                                         "ki_sid", "ki_tsid")),
        ("ki_jobc", ctypes.c_short), ("ki_spare_short1", ctypes.c_short),
        ("ki_tdev_freebsd11", ctypes.c_uint32),
        *((n, ctypes.c_uint32 * 4) for n in ("ki_siglist", "ki_sigmask", "ki_sigignore",
                                              "ki_sigcatch")),
        *((n, ctypes.c_uint32) for n in ("ki_uid", "ki_ruid", "ki_svuid", "ki_rgid",
                                          "ki_svgid")),
        ("ki_ngroups", ctypes.c_short), ("ki_spare_short2", ctypes.c_short),
        ("ki_groups", ctypes.c_uint32 * 16),
        *((n, ctypes.c_uint64) for n in ("ki_size", "ki_rssize", "ki_swrss", "ki_tsize",
                                          "ki_dsize", "ki_ssize")),
        ("ki_xstat", ctypes.c_ushort), ("ki_acflag", ctypes.c_ushort),
        *((n, ctypes.c_uint) for n in ("ki_pctcpu", "ki_estcpu", "ki_slptime", "ki_swtime",
                                        "ki_cow")),
        ("ki_runtime", ctypes.c_uint64), ("ki_start", _timeval), ("ki_childtime", _timeval),
        ("ki_flag", ctypes.c_long), ("ki_kiflag", ctypes.c_long),
        ("ki_traceflag", ctypes.c_int),
        *((n, ctypes.c_char) for n in ("ki_stat", "ki_nice", "ki_lock", "ki_rqindex",
                                        "ki_oncpu_old", "ki_lastcpu_old")),
        ("ki_tdname", ctypes.c_char * 17), ("ki_wmesg", ctypes.c_char * 9),
        ("ki_login", ctypes.c_char * 18), ("ki_lockname", ctypes.c_char * 9),
        ("ki_comm", ctypes.c_char * 20),  # COMMLEN + 1
    )


CTL_KERN, KERN_PROC, KERN_PROC_PROC = 1, 14, 8  # sys/sysctl.h: processes, not threads


def parse_kinfo_procs(buf: bytes) -> list[Process]:
    """The processes of a ``kern.proc.proc`` answer (records of ``ki_structsize`` bytes)."""
    out, pos, prefix = [], 0, ctypes.sizeof(KinfoProcPrefix)
    while pos + prefix <= len(buf):
        kp = KinfoProcPrefix.from_buffer_copy(buf, pos)
        if kp.ki_structsize < prefix:
            raise ProcessListError(f"kern.proc.proc: record at byte {pos} says it is "
                                   f"{kp.ki_structsize} bytes, expected at least {prefix}")
        out.append(Process(kp.ki_pid, kp.ki_ppid, kp.ki_comm.decode(errors="replace")))
        pos += kp.ki_structsize
    return out


def _freebsd_processes() -> list[Process]:  # pragma: no cover - needs a FreeBSD kernel
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.sysctl.argtypes = (ctypes.POINTER(ctypes.c_int), ctypes.c_uint, ctypes.c_void_p,
                            ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p, ctypes.c_size_t)
    libc.sysctl.restype = ctypes.c_int
    mib = (ctypes.c_int * 3)(CTL_KERN, KERN_PROC, KERN_PROC_PROC)
    size = ctypes.c_size_t(0)
    for _attempt in range(5):  # the list may grow between the two calls
        if libc.sysctl(mib, 3, None, ctypes.byref(size), None, 0) != 0:
            break
        buf = ctypes.create_string_buffer(size.value + size.value // 4)
        size = ctypes.c_size_t(len(buf))
        if libc.sysctl(mib, 3, buf, ctypes.byref(size), None, 0) == 0:
            return parse_kinfo_procs(buf.raw[:size.value])
        if ctypes.get_errno() != 12:  # ENOMEM: grew meanwhile, try again
            break
    raise ProcessListError(f"sysctl kern.proc.proc failed: {os.strerror(ctypes.get_errno())}")


# --- macOS: libproc ------------------------------------------------------------------------
PROC_PIDTBSDINFO = 3  # sys/proc_info.h
PROC_PIDPATHINFO_MAXSIZE = 4096
#: struct proc_bsdinfo (sys/proc_info.h): u32 flags, status, xstatus, pid, ppid, uid, gid,
#: ruid, rgid, svuid, svgid, rfu_1; char comm[16]; char name[32]; then 6 x u32/i32 and
#: two u64 start times: 136 bytes.
PROC_BSDINFO = struct.Struct("=12I16s32s6I2Q")


def parse_proc_bsdinfo(buf: bytes) -> Process:
    """pid, parent and name (``pbi_name``, else ``pbi_comm``) of a ``proc_bsdinfo``."""
    fields = PROC_BSDINFO.unpack_from(buf)
    name = fields[13].split(b"\0", 1)[0] or fields[12].split(b"\0", 1)[0]
    return Process(fields[3], fields[4], name.decode(errors="replace"))


def _darwin_processes() -> list[Process]:  # pragma: no cover - needs macOS
    lib = ctypes.CDLL(ctypes.util.find_library("proc") or "/usr/lib/libproc.dylib",
                      use_errno=True)
    lib.proc_listallpids.argtypes = (ctypes.c_void_p, ctypes.c_int)
    lib.proc_pidinfo.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_uint64, ctypes.c_void_p,
                                 ctypes.c_int)
    lib.proc_pidpath.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32)
    count = lib.proc_listallpids(None, 0)
    pids = (ctypes.c_int * (count + 64))()
    n = lib.proc_listallpids(pids, ctypes.sizeof(pids))
    if n <= 0:
        raise ProcessListError(f"proc_listallpids failed: {os.strerror(ctypes.get_errno())}")
    out = []
    info = ctypes.create_string_buffer(PROC_BSDINFO.size)
    path = ctypes.create_string_buffer(PROC_PIDPATHINFO_MAXSIZE)
    for pid in pids[:n]:
        if lib.proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, info, PROC_BSDINFO.size) != \
                PROC_BSDINFO.size:
            continue  # gone meanwhile, or not ours to see (not root)
        proc = parse_proc_bsdinfo(info.raw)
        if lib.proc_pidpath(pid, path, PROC_PIDPATHINFO_MAXSIZE) > 0:
            proc.name = os.path.basename(path.value.decode(errors="replace"))
        out.append(proc)
    return out


def list_processes(platform: str = sys.platform) -> list[Process]:
    """The processes running now: pid, parent pid, program name.

    >>> [p for p in list_processes() if p.pid == 1]     # doctest: +SKIP
    [Process(pid=1, ppid=0, name='launchd')]
    """
    if platform.startswith("freebsd"):
        return _freebsd_processes()
    if platform.startswith("darwin"):
        return _darwin_processes()
    raise ProcessListError(f"no process list on {platform} (macOS and FreeBSD only); "
                           "give --pid instead")
