"""The push decoder (bsm.reader.StreamDecoder): any cutting of a stream decodes to the same
rows and damage as the whole trail, every byte lands in exactly one batch, in order.

Fixtures: tests/data/trails/*.bsm (see tests/data/trails/README.md), including
macos-10.9-apple.bsm (a real trail that starts with a stand-alone file token).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from knoxtest import TRAILS

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.bsm.encode import encode_token
from knox_analytics.bsm.reader import Batch, StreamDecoder, record_boundary, tail_need

TRAIL_FILES = sorted(TRAILS.glob("*.bsm"))
APPLE = (TRAILS / "macos-10.9-apple.bsm").read_bytes()
WORKLOAD = (TRAILS / "synthetic-workload.bsm").read_bytes()


def push(data: bytes, cuts: list[int], *, source: str = "<s>") -> list[Batch]:
    dec = StreamDecoder(source)
    out: list[Batch] = []
    for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
        out += dec.feed(data[a:b])
    out += dec.close()
    assert dec.pending == 0 and dec.offset == len(data)
    return out


def combined(batches: list[Batch]) -> pa.Table:
    return pa.concat_tables([b.table for b in batches])


@pytest.mark.parametrize("trail", TRAIL_FILES, ids=lambda p: p.name)
def test_whole_trail_pushed_in_pieces_equals_decoding_it_whole(trail: Path) -> None:
    data = trail.read_bytes()
    whole = decode_bytes(data, "<s>")
    cuts = list(range(997, len(data), 997))
    batches = push(data, cuts)
    assert combined(batches).equals(whole.table)
    assert [str(d) for b in batches for d in b.damage] == [str(d) for d in whole.damage]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(APPLE)), max_size=40))
def test_any_cutting_gives_every_byte_once_in_order(cuts: list[int]) -> None:
    batches = push(APPLE, sorted(set(cuts)))
    assert b"".join(b.data for b in batches) == APPLE
    position = 0
    for batch in batches:
        assert batch.offset == position and batch.length == len(batch.data)
        position = batch.end
        assert record_boundary(batch.data)[0] == len(batch.data)  # whole units only
    assert combined(batches).equals(decode_bytes(APPLE, "<s>").table)


def test_unfinished_record_is_held_until_complete() -> None:
    dec = StreamDecoder("<s>")
    first = int(decode_bytes(WORKLOAD, "<s>").table.column("length")[0].as_py())
    assert dec.feed(WORKLOAD[: first + 10]) != []
    assert dec.offset == first and dec.pending == 10
    second = int(decode_bytes(WORKLOAD[first:], "<s>").table.column("length")[0].as_py())
    assert dec.needed == second - 10
    assert dec.feed(WORKLOAD[first + 10 : first + second - 1]) == []
    (batch,) = dec.feed(WORKLOAD[first + second - 1 : first + second])
    assert (batch.offset, batch.records, batch.data) == (first, 1, WORKLOAD[first:][:second])


def test_close_reports_a_truncated_record_or_keeps_it() -> None:
    cut = len(WORKLOAD) - 3
    dec = StreamDecoder("<s>")
    rows = sum(b.records for b in dec.feed(WORKLOAD[:cut]))
    (last,) = dec.close()
    assert rows + last.records == 3005 and len(last.damage) == 1
    assert last.damage[0].offset + last.damage[0].length == cut
    kept = StreamDecoder("<s>")
    kept.feed(WORKLOAD[:cut])
    assert kept.close(keep_tail=True) == [] and kept.pending > 0


def test_garbage_is_damage_and_does_not_block_the_records_after_it() -> None:
    noisy = b"garbage!" + WORKLOAD[:5000]
    dec = StreamDecoder("<s>")
    batches = dec.feed(noisy)
    assert batches and batches[0].damage[0].offset == 0
    assert sum(b.records for b in batches) > 0


def test_offsets_continue_from_the_start_offset() -> None:
    dec = StreamDecoder("<s>", offset=1000)
    (batch,) = dec.feed(WORKLOAD[:2000]) or dec.close()
    assert batch.offset == 1000
    assert batch.table.column("offset")[0].as_py() == 1000


def test_tail_need_and_record_boundary() -> None:
    assert tail_need(b"") == 0
    assert tail_need(WORKLOAD[:3]) == 2  # header id + 2 bytes: 5 needed to see the length
    first = int.from_bytes(WORKLOAD[1:5], "big")
    assert record_boundary(WORKLOAD[: first + 10]) == (first, tail_need(WORKLOAD[first:][:10]))
    assert record_boundary(WORKLOAD) == (len(WORKLOAD), 0)


TOKEN = encode_token("file", sec=1_772_355_600, msec=0, name="20260301090000.20260301100000")


def test_a_closing_file_token_is_decoded_without_waiting() -> None:
    """auditd ends a trail with a file token: a live stream that stops there has it all."""
    dec = StreamDecoder("<s>")
    batches = dec.feed(WORKLOAD + TOKEN)
    assert dec.pending == 0
    assert combined(batches).equals(decode_bytes(WORKLOAD + TOKEN, "<s>").table)


def test_a_file_token_before_an_unfinished_record_leaves_the_record_intact() -> None:
    token = TOKEN
    record = WORKLOAD[: int.from_bytes(WORKLOAD[1:5], "big")]
    dec = StreamDecoder("<s>")
    first = dec.feed(token + record[:-3])
    assert [b.records for b in first] == [1] and dec.pending == len(record) - 3
    (last,) = dec.feed(record[-3:])
    assert last.records == 1 and last.damage == []
