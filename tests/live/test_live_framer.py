"""The stream framer: any cutting of a stream gives back the same records.

Fixtures: tests/data/trails/*.bsm (see tests/data/trails/README.md), including
openbsm-test-vectors.bsm and macos-10.9-apple.bsm (real trails; the Apple one starts with
a stand-alone file token).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from knoxtest import TRAILS

from knox_analytics.live.framer import StreamFramer, complete_prefix, unit_length

TRAIL_FILES = sorted(TRAILS.glob("*.bsm"))
APPLE = (TRAILS / "macos-10.9-apple.bsm").read_bytes()


def feed_all(data: bytes, cuts: list[int]) -> list[tuple[bytes, int]]:
    framer = StreamFramer()
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
        chunk, offset = framer.feed(data[a:b])
        if chunk:
            out.append((chunk, offset))
    tail = framer.close()
    if tail[0]:
        out.append(tail)
    return out


@pytest.mark.parametrize("trail", TRAIL_FILES, ids=lambda p: p.name)
def test_whole_trails_frame_completely(trail: Path) -> None:
    data = trail.read_bytes()
    boundary, records, need = complete_prefix(data)
    assert (boundary, need) == (len(data), 0)
    assert records > 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(APPLE)), max_size=40))
def test_any_cutting_yields_the_stream_on_record_boundaries(cuts: list[int]) -> None:
    cuts = sorted(set(cuts))
    chunks = feed_all(APPLE, cuts)
    assert b"".join(c for c, _ in chunks) == APPLE
    position = 0
    for chunk, offset in chunks:
        assert offset == position
        position += len(chunk)
        boundary, _records, need = complete_prefix(chunk)
        assert (boundary, need) == (len(chunk), 0)  # every chunk ends on a boundary


def test_partial_record_is_held_until_complete() -> None:
    framer = StreamFramer()
    first = unit_length(APPLE, 0, len(APPLE))  # the file token
    second = first + unit_length(APPLE, first, len(APPLE))
    assert framer.feed(APPLE[:second - 1]) == (APPLE[:first], 0)
    assert framer.pending == second - 1 - first
    assert framer.feed(APPLE[second - 1:second]) == (APPLE[first:second], first)


def test_need_counts_the_missing_bytes() -> None:
    data = (TRAILS / "synthetic-workload.bsm").read_bytes()
    length = unit_length(data, 0, len(data))
    assert complete_prefix(data[:3]) == (0, 0, 2)  # header id + 2 bytes: 5 needed to see length
    assert complete_prefix(data[:length + 10]) == (length, 1, unit_length(
        data, length, len(data)) - 10)


def test_garbage_passes_through_and_does_not_block() -> None:
    data = (TRAILS / "synthetic-workload.bsm").read_bytes()[:5000]
    noisy = b"garbage!" + data
    chunks = feed_all(noisy, [3, 100, 2000])
    assert b"".join(c for c, _ in chunks) == noisy
    assert chunks[0][0].startswith(b"gar")
