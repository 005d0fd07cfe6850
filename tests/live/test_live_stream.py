"""The live sources through the streaming decoder: ready input is decoded as one batch
(the audit pipe hands out one record per read), a followed trail's unfinished record at
rotation is reported, and ``auditpipe`` passes bytes through untouched.

Fixture: tests/data/trails/synthetic-workload.bsm (see tests/data/trails/README.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from knoxtest import TRAILS

from knox_analytics.bsm.reader import record_boundary
from knox_analytics.live.source import Source, read_chunks, source_batches
from knox_analytics.live.stream import follow_batches

DATA = (TRAILS / "synthetic-workload.bsm").read_bytes()


class OneRecordPerRead(Source):
    """A source whose reads return one record each, like /dev/auditpipe."""

    def __init__(self, fd: int, records: list[bytes]) -> None:
        super().__init__(fd, "device", "<pipe>")
        self.records = records

    def read(self, n: int | None = None) -> bytes:
        return self.records.pop(0) if self.records else b""


def records_of(data: bytes, count: int) -> list[bytes]:
    out, pos = [], 0
    for _ in range(count):
        length = int.from_bytes(data[pos + 1:pos + 5], "big")
        out.append(data[pos:pos + length])
        pos += length
    return out


def test_ready_records_are_decoded_as_one_batch(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    ready.write_bytes(b"")  # a regular file: select() always says ready
    with open(ready, "rb") as fh:
        src = OneRecordPerRead(fh.fileno(), records_of(DATA, 200))
        batches = list(source_batches(src))
    assert [b.records for b in batches] == [200]


def test_batches_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "t.bsm"
    path.write_bytes(DATA)
    fd = os.open(path, os.O_RDONLY)
    try:
        batches = list(source_batches(Source(fd, "file", str(path)), batch_bytes=50_000))
    finally:
        os.close(fd)
    assert len(batches) >= len(DATA) // 50_000
    assert sum(b.records for b in batches) == 3006
    assert all(b.length <= 50_000 + 65_536 for b in batches)


def test_a_record_left_unfinished_at_rotation_is_reported(tmp_path: Path) -> None:
    cut = record_boundary(DATA[:100_000])[0]
    old, new, current = tmp_path / "old.bsm", tmp_path / "new.bsm", tmp_path / "current"
    old.write_bytes(DATA[:cut + 30])  # auditd never does this; a truncated copy might
    new.write_bytes(DATA[cut:])
    current.symlink_to(old.name)
    seen: list = []

    def stop() -> bool:
        if current.resolve() == old:
            current.unlink()
            current.symlink_to(new.name)
            return False
        return sum(b.records for b in seen) >= 3006

    for batch in follow_batches(str(current), stop=stop, poll=0.01):
        seen.append(batch)
    damage = [d for b in seen for d in b.damage]
    assert len(damage) == 1 and damage[0].offset == cut and damage[0].length == 30
    assert sum(b.records for b in seen) == 3006


def test_auditpipe_bytes_pass_through_as_read(tmp_path: Path) -> None:
    path = tmp_path / "t.bsm"
    path.write_bytes(DATA[:10_000] + b"junk")
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = list(read_chunks(Source(fd, "file", str(path), read_size=4096)))
    finally:
        os.close(fd)
    assert b"".join(c for c, _ in chunks) == DATA[:10_000] + b"junk"
    assert [o for _, o in chunks] == list(range(0, 10_004, 4096))
