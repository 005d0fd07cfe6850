"""BSD ioctl request encoding and the audit pipe request numbers.

Source: ``sys/sys/ioccom.h`` of FreeBSD / ``sys/ioccom.h`` of macOS (identical encoding)
and ``security/audit/audit_ioctl.h``: OpenBSM's (../bsm/include/security/audit/), FreeBSD
13/14's sys/security/audit/audit_ioctl.h and xnu's bsd/security/audit/audit_ioctl.h declare
the same requests and the same ``struct auditpipe_ioctl_preselect`` {au_id_t aip_auid;
au_mask_t aip_mask;} (12 bytes).  A request word is
``direction | (parameter size & IOCPARM_MASK) << 16 | group << 8 | number``; the size is
part of the number, so a wrong size is a different (unknown: ENOTTY) request.
"""

from __future__ import annotations

import struct

IOCPARM_MASK = 0x1FFF  # parameter length, at most 13 bits
IOC_VOID = 0x20000000  # no parameters
IOC_OUT = 0x40000000  # copy parameters out (kernel -> user): _IOR
IOC_IN = 0x80000000  # copy parameters in (user -> kernel): _IOW

#: C type sizes the audit pipe ioctls use (LP64 macOS and FreeBSD): u_int/int/au_id_t 4,
#: u_int64_t 8, au_mask_t two u_int, the preselect struct au_id_t + au_mask_t.
SIZEOF = {"u_int": 4, "int": 4, "u_int64_t": 8, "au_mask_t": 8, "au_id_t": 4,
          "struct auditpipe_ioctl_preselect": 12}


def _ioc(inout: int, group: str, num: int, size: int) -> int:
    return inout | ((size & IOCPARM_MASK) << 16) | (ord(group) << 8) | num


def io(group: str, num: int) -> int:
    """``_IO(g, n)``: a request without a parameter."""
    return _ioc(IOC_VOID, group, num, 0)


def ior(group: str, num: int, ctype: str) -> int:
    """``_IOR(g, n, t)``: the kernel writes a ``t`` back to us."""
    return _ioc(IOC_OUT, group, num, SIZEOF[ctype])


def iow(group: str, num: int, ctype: str) -> int:
    """``_IOW(g, n, t)``: we pass a ``t`` to the kernel."""
    return _ioc(IOC_IN, group, num, SIZEOF[ctype])


AUDITPIPE_IOBASE = "A"
_B = AUDITPIPE_IOBASE
AUDITPIPE_GET_QLEN = ior(_B, 1, "u_int")
AUDITPIPE_GET_QLIMIT = ior(_B, 2, "u_int")
AUDITPIPE_SET_QLIMIT = iow(_B, 3, "u_int")
AUDITPIPE_GET_QLIMIT_MIN = ior(_B, 4, "u_int")
AUDITPIPE_GET_QLIMIT_MAX = ior(_B, 5, "u_int")
AUDITPIPE_GET_PRESELECT_FLAGS = ior(_B, 6, "au_mask_t")
AUDITPIPE_SET_PRESELECT_FLAGS = iow(_B, 7, "au_mask_t")
AUDITPIPE_GET_PRESELECT_NAFLAGS = ior(_B, 8, "au_mask_t")
AUDITPIPE_SET_PRESELECT_NAFLAGS = iow(_B, 9, "au_mask_t")
AUDITPIPE_GET_PRESELECT_AUID = ior(_B, 10, "struct auditpipe_ioctl_preselect")
AUDITPIPE_SET_PRESELECT_AUID = iow(_B, 11, "struct auditpipe_ioctl_preselect")
AUDITPIPE_DELETE_PRESELECT_AUID = iow(_B, 12, "au_id_t")
AUDITPIPE_FLUSH_PRESELECT_AUID = io(_B, 13)
AUDITPIPE_GET_PRESELECT_MODE = ior(_B, 14, "int")
AUDITPIPE_SET_PRESELECT_MODE = iow(_B, 15, "int")
AUDITPIPE_FLUSH = io(_B, 16)
AUDITPIPE_GET_MAXAUDITDATA = ior(_B, 17, "u_int")
AUDITPIPE_GET_INSERTS = ior(_B, 100, "u_int64_t")
AUDITPIPE_GET_READS = ior(_B, 101, "u_int64_t")
AUDITPIPE_GET_DROPS = ior(_B, 102, "u_int64_t")
AUDITPIPE_GET_TRUNCATES = ior(_B, 103, "u_int64_t")

AUDITPIPE_PRESELECT_MODE_TRAIL = 1  # the global audit trail's preselection
AUDITPIPE_PRESELECT_MODE_LOCAL = 2  # this pipe's own masks

# Parameter packing in host byte order (ioctl arguments are native structs, unlike BSM).
U_INT = struct.Struct("=I")
INT = struct.Struct("=i")
U_INT64 = struct.Struct("=Q")
AU_MASK = struct.Struct("=II")  # au_mask_t {am_success, am_failure}
PRESELECT = struct.Struct("=III")  # auditpipe_ioctl_preselect {aip_auid, aip_mask}
