"""Decoded records from a live source, batch by batch: the loop under paudit, pwait and
live ``commands``.  Each batch keeps its raw bytes so tools can pass records through."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from knox_analytics.bsm.classes import parse_classes
from knox_analytics.bsm.reader import Batch, StreamDecoder
from knox_analytics.live.device import PipeStats, report_stats
from knox_analytics.live.follow import follow_file
from knox_analytics.live.source import BATCH_BYTES, open_source, source_batches

#: What the process tools need from the audit pipe: process lifecycle and exec.
PROCESS_CLASSES = "pc,ex"
__all__ = ["PROCESS_CLASSES", "follow_batches", "live_chunks", "report_stats"]


def follow_batches(path: str, stop: Callable[[], bool] | None = None,
                   poll: float = 0.25) -> Iterator[Batch]:
    """Batches of a trail being appended to (tail -f), across auditd's rotations.

    When ``path`` names a new file, the old one was drained first; a record it left
    unfinished cannot continue in the new file and is reported as damage.
    """
    decoder: StreamDecoder | None = None
    label = None
    for this, offset, data in follow_file(path, poll=poll, stop=stop):
        if this != label:
            if decoder is not None:
                yield from decoder.close()
            decoder, label = StreamDecoder(path, offset=offset), this
        assert decoder is not None
        yield from decoder.feed(data)


def live_chunks(source: str | None = None, *, classes: str = PROCESS_CLASSES,
                follow: bool = False, stop: Callable[[], bool] | None = None,
                poll: float = 0.25, deadline: float | None = None,
                on_stats: Callable[[PipeStats], None] | None = None,
                stats_seconds: float = 60.0, read_size: int | None = None,
                sudo: bool = False, on_open: Callable[[], None] | None = None
                ) -> Iterator[Batch]:
    """Decoded batches of whole records from the audit pipe, a file/FIFO/stdin, or a
    followed trail (``follow=True``: tail -f across rotations of ``current``).
    ``deadline`` (``time.monotonic()``) ends the iteration when reached while waiting for
    input; ``on_stats`` receives the audit pipe's drop counters periodically and at the
    end; ``read_size`` bounds the bytes decoded as one batch; ``sudo``: an unreadable
    source is opened by the privileged helper.  The source is
    closed when the iteration ends (or is abandoned).  ``on_open`` runs once the source
    is open, before the first read."""
    if follow:
        if source is None or source == "-":
            raise ValueError("follow needs a trail file")
        if deadline is not None:
            user_stop = stop
            def stop() -> bool:
                return time.monotonic() >= deadline or bool(user_stop and user_stop())
        if on_open is not None:
            on_open()
        yield from follow_batches(source, stop, poll)
        return
    mask = parse_classes(classes)
    src = open_source(source, mask, mask, sudo=sudo)
    if on_open is not None:
        try:
            on_open()
        except BaseException:
            src.close()
            raise
    batches = source_batches(src, deadline, read_size or BATCH_BYTES)
    try:
        yield from report_stats(batches, src, on_stats, stats_seconds)
    finally:
        src.close()
