"""Open and configure the audit pipe (``/dev/auditpipe``) with injectable open/ioctl.

Configuration order follows auditpipe(4): preselect mode LOCAL, the attributable and
non-attributable masks, queue limit raised to QLIMIT_MAX, read buffer sized from
GET_MAXAUDITDATA (a read smaller than the next record drops it), then FLUSH so that
records queued under the old settings are discarded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from knox_analytics.bsm.classes import AuMask
from knox_analytics.errors import InputError
from knox_analytics.live import ioctl as I

AUDITPIPE_PATH = "/dev/auditpipe"
#: Fallback read size when GET_MAXAUDITDATA is unavailable: MAXAUDITDATA of OpenBSM.
DEFAULT_MAXAUDITDATA = 0x8000 - 1

IoctlFn = Callable[[int, int, bytes | int], bytes | int]
OpenFn = Callable[[str, int], int]


def _default_ioctl(fd: int, request: int, arg: bytes | int) -> bytes | int:
    import fcntl  # not on Windows; imported late so the module imports everywhere

    return fcntl.ioctl(fd, request, arg)


@dataclass(frozen=True)
class PipeStats:
    """Counters of one pipe instance (AUDITPIPE_GET_*)."""

    inserts: int
    reads: int
    drops: int
    truncates: int


class AuditPipe:
    """One clone of the audit pipe: open, configure, read records, report drops.

    >>> pipe = AuditPipe()                        # doctest: +SKIP
    >>> pipe.configure(AuMask(0x80, 0x80), AuMask(0x80, 0x80))   # doctest: +SKIP
    """

    def __init__(self, path: str = AUDITPIPE_PATH, *, opener: OpenFn = os.open,
                 ioctl: IoctlFn = _default_ioctl) -> None:
        self.path = path
        self._ioctl = ioctl
        try:
            self.fd = opener(path, os.O_RDONLY)
        except PermissionError as exc:
            raise InputError(f"{path}: not readable by uid {os.getuid()} "
                             "(the audit pipe needs root); rerun with --sudo") from exc
        except OSError as exc:
            raise InputError(f"{path}: cannot open the audit pipe: {exc.strerror}") from exc
        self.bufsize = DEFAULT_MAXAUDITDATA

    def _get_uint(self, request: int, fmt: I.struct.Struct = I.U_INT) -> int:
        out = self._ioctl(self.fd, request, bytes(fmt.size))
        return fmt.unpack(bytes(out))[0]

    def _set(self, request: int, payload: bytes) -> None:
        self._ioctl(self.fd, request, payload)

    def configure(self, flags: AuMask, naflags: AuMask, qlimit: int | None = None) -> int:
        """Apply masks and queue limit (``None`` = QLIMIT_MAX), flush; return the read size."""
        self._set(I.AUDITPIPE_SET_PRESELECT_MODE, I.INT.pack(I.AUDITPIPE_PRESELECT_MODE_LOCAL))
        self._set(I.AUDITPIPE_SET_PRESELECT_FLAGS, I.AU_MASK.pack(flags.success, flags.failure))
        self._set(I.AUDITPIPE_SET_PRESELECT_NAFLAGS,
                  I.AU_MASK.pack(naflags.success, naflags.failure))
        limit = qlimit if qlimit is not None else self._get_uint(I.AUDITPIPE_GET_QLIMIT_MAX)
        self._set(I.AUDITPIPE_SET_QLIMIT, I.U_INT.pack(limit))
        self.bufsize = self._get_uint(I.AUDITPIPE_GET_MAXAUDITDATA) or DEFAULT_MAXAUDITDATA
        self._ioctl(self.fd, I.AUDITPIPE_FLUSH, 0)
        return self.bufsize

    def stats(self) -> PipeStats:
        """Read the insert/read/drop/truncate counters."""
        get = self._get_uint
        return PipeStats(inserts=get(I.AUDITPIPE_GET_INSERTS, I.U_INT64),
                         reads=get(I.AUDITPIPE_GET_READS, I.U_INT64),
                         drops=get(I.AUDITPIPE_GET_DROPS, I.U_INT64),
                         truncates=get(I.AUDITPIPE_GET_TRUNCATES, I.U_INT64))

    def read(self) -> bytes:
        """Block for the next bytes: part of a record or several (auditpipe(4) copies what
        fits in the read; the caller's decoder joins them)."""
        return os.read(self.fd, self.bufsize)

    def close(self) -> None:
        """Close the clone (its queue goes away with it)."""
        os.close(self.fd)


def report_stats(chunks: Iterator[tuple[bytes, int]], src: Any,
                 on_stats: Callable[[PipeStats], None] | None,
                 every: float) -> Iterator[tuple[bytes, int]]:
    """Pass ``chunks`` through; hand the audit pipe's drop counters (``src.pipe``, a
    :class:`AuditPipe` or None: a live source) to ``on_stats`` every ``every`` seconds and
    at the end (nothing for other sources)."""
    if on_stats is None or src.pipe is None:
        yield from chunks
        return
    due = time.monotonic() + every
    try:
        for item in chunks:
            yield item
            if time.monotonic() >= due:
                on_stats(src.pipe.stats())
                due = time.monotonic() + every
    finally:
        on_stats(src.pipe.stats())
