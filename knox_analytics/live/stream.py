"""Decoded records from a live source, chunk by chunk: the loop under paudit, pwait and
live ``commands``.  Each item keeps the raw chunk so tools can pass records through."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass

import pyarrow as pa

from knox_analytics.bsm.classes import parse_classes
from knox_analytics.live.decoding import decode_chunk
from knox_analytics.live.device import PipeStats, report_stats
from knox_analytics.live.follow import follow_file
from knox_analytics.live.framer import StreamFramer
from knox_analytics.live.source import Source, framed_chunks, open_source

__all__ = ["PROCESS_CLASSES", "Chunk", "live_chunks", "report_stats"]

#: What the process tools need from the audit pipe: process lifecycle and exec.
PROCESS_CLASSES = "pc,ex"


@dataclass
class Chunk:
    """Whole records as read (``data``), where they start, and their decoded table."""

    data: bytes
    offset: int
    table: pa.Table


def _follow_chunks(path: str, stop: Callable[[], bool] | None,
                   poll: float) -> Iterator[tuple[bytes, int]]:
    framer, label = StreamFramer(), None
    for this, offset, data in follow_file(path, poll=poll, stop=stop):
        if this != label:  # a new file after rotation: a partial record cannot continue
            framer, label = StreamFramer(), this
            framer.offset = offset
        chunk, start = framer.feed(data)
        if chunk:
            yield chunk, start


def live_chunks(source: str | None = None, *, classes: str = PROCESS_CLASSES,
                follow: bool = False, stop: Callable[[], bool] | None = None,
                poll: float = 0.25, deadline: float | None = None,
                on_stats: Callable[[PipeStats], None] | None = None,
                stats_seconds: float = 60.0) -> Iterator[Chunk]:
    """Decoded chunks of whole records from the audit pipe, a file/FIFO/stdin, or a followed
    trail (``follow=True``: tail -f across rotations of ``current``).  ``deadline``
    (``time.monotonic()``) ends the iteration when reached while waiting for input;
    ``on_stats`` receives the audit pipe's drop counters periodically and at the end."""
    name = source or "/dev/auditpipe"
    src: Source | None = None
    if follow:
        if source is None or source == "-":
            raise ValueError("follow needs a trail file")
        if deadline is not None:
            user_stop = stop
            def stop() -> bool:
                return time.monotonic() >= deadline or bool(user_stop and user_stop())
        raw: Iterator[tuple[bytes, int]] = _follow_chunks(source, stop, poll)
    else:
        mask = parse_classes(classes)
        src = open_source(source, mask, mask)
        raw = report_stats(framed_chunks(src, deadline), src, on_stats, stats_seconds)
    # closing() first: the stats reader must see the pipe before the source is closed
    with src if src is not None else nullcontext(), closing(raw):
        for data, offset in raw:
            result = decode_chunk(data, name, offset)
            yield Chunk(data, offset, result.table)
