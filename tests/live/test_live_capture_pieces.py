"""The audit pipe may hand out part of a record or several per read (both kernels say
so: auditpipe(4) reads copy what fits, records are not atomic to ``read``).  A fake
audit pipe that cuts records at every byte offset, with a kill in the middle of a
record: the capture keeps every whole record once and the cut one's head is dropped at
the restart, never glued onto what follows.

Trail: tests/data/trails/synthetic-workload.bsm.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from pathlib import Path

from knoxtest import TRAILS
from test_live_capture_restart import dataset, run, same_records

from knox_analytics.live.source import Source

DATA = (TRAILS / "synthetic-workload.bsm").read_bytes()
TRUTH = [json.loads(line) for line in
         (TRAILS / "synthetic-workload.truth.jsonl").read_text().splitlines()]


def record_starts(limit: int) -> list[int]:
    """Where each record of DATA starts (the truth sidecar), up to ``limit``."""
    return [r["offset"] for r in TRUTH if r["offset"] + r["length"] <= limit]


def cuts(data: bytes) -> tuple[list[int], set[int]]:
    """Read boundaries: record j cut at byte ``1 + j % (len-1)`` of it (every offset of
    a record's length turns up), every fourth left whole so a read holds several."""
    starts = [*record_starts(len(data)), len(data)]
    points, offsets = [], set()
    for j, (a, b) in enumerate(itertools.pairwise(starts)):
        if j % 4 == 3 or b - a < 2:
            continue
        k = 1 + j % (b - a - 1)
        points.append(a + k)
        offsets.add(k)
    return [*points, len(data)], offsets


class PiecesPipe(Source):
    """An audit pipe clone whose reads end at the given offsets; ``kill_at``: the read
    after that offset dies like ``kill -9`` (the clone's queue dies with it)."""

    def __init__(self, data: bytes, points: list[int], kill_at: int | None = None) -> None:
        r, w = os.pipe()
        os.write(w, b"x")  # always readable: poll() says so, read() below answers
        self._w = w
        super().__init__(r, "device", "/dev/auditpipe")
        self.data, self.points, self.kill_at, self.at = data, points, kill_at, 0

    def read(self, n: int | None = None) -> bytes:
        if self.kill_at is not None and self.at >= self.kill_at:
            raise KeyboardInterrupt
        if self.at >= len(self.data):
            return b""
        end = next(p for p in self.points if p > self.at)
        piece, self.at = self.data[self.at:end], end
        return piece

    def close(self) -> None:
        os.close(self.fd)
        os.close(self._w)


def test_reads_cut_anywhere_and_a_kill_inside_a_record(tmp_path: Path) -> None:
    starts = record_starts(300_000)
    data = DATA[:starts[-1]]
    starts = starts[:-1]
    points, offsets = cuts(data)
    shortest = min(b - a for a, b in itertools.pairwise(starts))
    assert offsets >= set(range(1, shortest))  # every offset inside a record
    # a kill right after a read that ended inside a record
    kill = next(p for p in points if p > len(data) // 2 and p not in starts)
    head = max(s for s in starts if s < kill)  # the record cut by the kill
    nxt = min(s for s in [*starts, len(data)] if s > kill)
    out = tmp_path / "cap"
    with contextlib.suppress(KeyboardInterrupt):
        run(out, PiecesPipe(data, points, kill_at=kill))
    # the restarted capture opens a new clone: it hands out the records after the cut one
    run(out, PiecesPipe(data[nxt:], [p - nxt for p in points if p > nxt]))
    assert same_records(dataset(out), data[:head] + data[nxt:])
