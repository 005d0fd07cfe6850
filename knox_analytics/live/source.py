"""Where live records come from: the audit pipe, or (on Linux) a file, FIFO or stdin.

``--source FILE|FIFO|-`` replaces ``/dev/auditpipe`` everywhere, so every live command is
exercised on Linux with a FIFO fed by a writer process.
"""

from __future__ import annotations

import os
import select
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from knox_analytics.bsm.classes import AuMask
from knox_analytics.errors import InputError
from knox_analytics.live import privilege
from knox_analytics.live.device import AUDITPIPE_PATH, AuditPipe, PipeStats
from knox_analytics.live.privilege import check_readable

if TYPE_CHECKING:  # the decoder (numpy, pyarrow) is imported only by what decodes
    from knox_analytics.bsm.reader import Batch

READ_SIZE = 1 << 20
#: At most this many bytes (what is ready at once) are decoded as one batch.
BATCH_BYTES = 4 << 20


@dataclass
class Source:
    """An open record source: ``kind`` is device, fifo, file or stdin."""

    fd: int
    kind: str
    name: str
    pipe: AuditPipe | None = None
    read_size: int = READ_SIZE

    @property
    def is_stream(self) -> bool:
        """A FIFO or pipe: bytes read are gone, records may be cut anywhere."""
        return self.kind in ("fifo", "stdin")

    def read(self, n: int | None = None) -> bytes:
        """Read what is available (blocks on a FIFO/device; b'' at end of input)."""
        return os.read(self.fd, n or self.read_size)

    def stats(self) -> PipeStats | None:
        """Drop/truncate counters of the audit pipe (None for other sources)."""
        return self.pipe.stats() if self.pipe is not None else None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the source (stdin is left open)."""
        if self.pipe is not None:
            self.pipe.close()
        elif self.kind != "stdin":
            os.close(self.fd)


def _kind_of(fd: int) -> str:
    mode = os.fstat(fd).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "fifo"
    return "device" if stat.S_ISCHR(mode) else "file"


def has_auditpipe() -> bool:
    """True on systems with an audit pipe device (macOS, FreeBSD)."""
    return os.path.exists(AUDITPIPE_PATH)


def open_source(source: str | None, flags: AuMask | None = None,
                naflags: AuMask | None = None, *, sudo: bool = False) -> Source:
    """Open ``source`` (None = the audit pipe, configured with ``flags``/``naflags``).

    ``sudo``: when this process cannot read it, the privileged helper opens it (the
    audit pipe, or a trail under the audit directory) and hands the descriptor over.
    """
    if sudo and privilege.needs_sudo([source or AUDITPIPE_PATH]):
        return _from_helper(source, flags or AuMask(), naflags or flags or AuMask())
    if source is None:
        if not has_auditpipe():
            raise InputError(f"{AUDITPIPE_PATH}: no audit pipe on {sys.platform} (macOS and "
                             "FreeBSD only); use --source FILE|FIFO|- to read a stream")
        check_readable(AUDITPIPE_PATH)
        pipe = AuditPipe(AUDITPIPE_PATH)
        mask = flags or AuMask()
        size = pipe.configure(mask, naflags or mask)
        return Source(pipe.fd, "device", AUDITPIPE_PATH, pipe, read_size=size)
    if source == "-":
        fd = sys.stdin.fileno()
        return Source(fd, "stdin" if _kind_of(fd) != "file" else "file", "<stdin>")
    check_readable(source)
    try:
        fd = os.open(source, os.O_RDONLY)
    except OSError as exc:
        raise InputError(f"{source}: cannot open: {exc.strerror}") from exc
    return Source(fd, _kind_of(fd), source)


def _from_helper(source: str | None, flags: AuMask, naflags: AuMask) -> Source:
    from knox_analytics.bsm.classes import load_class_table

    if source is not None:
        fd, _kind, _size = privilege.helper_open("trail", source)
        return Source(fd, _kind_of(fd), source)
    table = load_class_table()
    fd, _kind, size = privilege.helper_open("pipe", flags.to_expression(table) or "no",
                                            naflags.to_expression(table) or "no")
    pipe = AuditPipe(AUDITPIPE_PATH, opener=lambda _path, _flags: fd)
    pipe.bufsize = size
    return Source(fd, "device", AUDITPIPE_PATH, pipe, read_size=size)


def _ready(fd: int, deadline: float, *, now: bool = False) -> bool:
    """Input is waiting on ``fd`` (``now``: without waiting) before ``deadline``."""
    remaining = 0.0 if now else deadline - time.monotonic()
    return (now or remaining > 0) and bool(select.select([fd], [], [], remaining)[0])


def source_batches(source: Source, deadline: float | None = None,
                   batch_bytes: int = BATCH_BYTES) -> Iterator[Batch]:
    """Read ``source`` to its end through the streaming decoder; yield its batches.

    What is ready is read at once, up to ``batch_bytes``, and decoded as one batch: the
    audit pipe hands out a record or less per read, and a batch per record would cost the
    decoder's (and a live question's) fixed overhead for every record under load.
    A truncated last record is reported as damage at the end of input.  ``deadline`` (a
    ``time.monotonic()`` value) ends the iteration when no input arrives in time.
    """
    from knox_analytics.bsm.reader import StreamDecoder

    decoder = StreamDecoder(source.name)
    ended = False
    while not ended:
        if deadline is not None and not _ready(source.fd, deadline):
            return
        data = source.read(min(source.read_size, batch_bytes))
        if not data:
            break
        pieces, size = [data], len(data)
        while size < batch_bytes and _ready(source.fd, 0.0, now=True):
            more = source.read(min(source.read_size, batch_bytes - size))
            if not more:
                ended = True  # end of input: decode what we have, then close
                break
            pieces.append(more)
            size += len(more)
        yield from decoder.feed(b"".join(pieces))
    yield from decoder.close()


def read_chunks(source: Source) -> Iterator[tuple[bytes, int]]:
    """Read ``source`` to its end; yield (bytes as read, their stream offset).

    For passing records through unchanged (``knox auditpipe``): no decoding, so no numpy
    or pyarrow.  No source hands out whole records per read (the audit pipe neither: a
    read copies what fits, the rest of a record comes with the next); the
    reader downstream (``knox print -``) joins records cut between reads.
    """
    offset = 0
    while data := source.read():
        yield data, offset
        offset += len(data)
