"""The vectorized decoder and the chunked reader.

Fixtures: tests/data/trails (see its README.md for origin and licences).  Field-by-field
agreement with the praudit goldens and the truth sidecars is proven through the oracle
(tests/bsm/test_reference.py, which also requires both decoders to agree) and through
byte-identical rendering (tests/test_print*.py); here: chunking, damage and streams.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from knoxtest import TRAILS, WORKDAY

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.bsm.reader import read_trail
from knox_analytics.bsm.tables import load_tables
from knox_analytics.errors import DamagedTrailError, InputError, NotBSMError
from knox_analytics.inputs import expand
from knox_analytics.schema import SCHEMA

WORKLOAD = TRAILS / "synthetic-workload.bsm"
TABLES = load_tables("builtin")
RECORD_COUNTS = {  # from tests/data/trails/README.md
    "macos-10.9-apple.bsm": 54, "openbsm-test-vectors.bsm": 50,
    "freebsd-2006-execve-long-args.bsm": 1, "synthetic-all-tokens.bsm": 28,
    "synthetic-workload.bsm": 3006,
}


def _decode(data: bytes, name: str = "t") -> pa.Table:
    return decode_bytes(data, name, tables=TABLES).table


def _read_all(path: Path | str, **kwargs) -> tuple[pa.Table, list]:
    results = list(read_trail(path, tables=TABLES, **kwargs))
    tables = [r.table for r in results] or [SCHEMA.empty_table()]
    return pa.concat_tables(tables), [d for r in results for d in r.damage]


def _record_offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every record, walking the header chain of a healthy trail."""
    out, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos + 1)
        out.append((pos, length))
        pos += length
    return out


@pytest.mark.parametrize("name", sorted(RECORD_COUNTS))
def test_every_trail_decodes_completely(name: str, decoder) -> None:
    result = decoder((TRAILS / name).read_bytes(), name)
    assert result.table.schema == SCHEMA
    records = sum(1 for t in result.table["header_token"].to_pylist() if t != 0x11)
    assert records == RECORD_COUNTS[name]
    assert [d for d in result.damage if d.kind == "skipped"] == []


@pytest.mark.parametrize("chunk", [500, 4096, 65536])
def test_chunked_reading_equals_one_shot(chunk: int) -> None:
    one_shot = _decode(WORKLOAD.read_bytes(), str(WORKLOAD))
    chunked, damage = _read_all(WORKLOAD, chunk_size=chunk)
    assert damage == []
    assert chunked.to_pylist() == one_shot.to_pylist()


def test_workload_fields_against_truth_sidecar() -> None:
    """A direct spot check of the decoded columns against what libbsm was told to write."""
    import json

    table = _decode(WORKLOAD.read_bytes())
    rows = table.to_pylist()
    truth = [json.loads(line) for line in (TRAILS / "synthetic-workload.truth.jsonl").open()]
    assert len(rows) == len(truth)
    for row, t in zip(rows, truth, strict=True):
        assert row["offset"] == t["offset"] and row["length"] == t["length"]
        assert row["event"] == t["event"] and row["event_name"] == t["event_name"]
        assert int(row["time"].timestamp() * 1000) == t["sec"] * 1000 + t["msec"]
        assert row["pid"] == t["subject"]["pid"] and row["auid"] == t["subject"]["auid"]
        assert row["return_errno"] == t["return"]["errno"]
        assert (row["errno_name"] or "") == t["return"]["errno_name"]
        assert (row["paths"] or []) == t["paths"]
        assert row["argv"] == t.get("argv")


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open])
def test_compressed_trails_are_read_transparently(tmp_path: Path, opener) -> None:
    target = tmp_path / "trail.compressed"  # no telling suffix: recognised by content
    with opener(target, "wb") as fh:
        fh.write(WORKLOAD.read_bytes())
    table, damage = _read_all(target, chunk_size=5000)
    assert damage == [] and table.num_rows == 3006


def test_two_trails_concatenated() -> None:
    data = (TRAILS / "macos-10.9-apple.bsm").read_bytes() + WORKLOAD.read_bytes()
    result = decode_bytes(data, "cat", tables=TABLES)
    assert result.damage == []
    assert result.table.num_rows == 54 + 3006


def test_zero_length_input_is_an_empty_trail(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    table, damage = _read_all(empty)
    assert table.num_rows == 0 and damage == []


def test_not_bsm_is_one_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not an audit trail\n" * 100)
    with pytest.raises(NotBSMError, match=r"notes\.txt: not a BSM audit trail"):
        _read_all(text)


def test_truncated_trail_keeps_every_whole_record(decoder) -> None:
    data = WORKLOAD.read_bytes()
    cut = len(data) - 50
    result = decoder(data[:cut], "t")
    table, damage = result.table, result.damage
    whole = [o for o, n in _record_offsets(data) if o + n <= cut]
    assert table["offset"].to_pylist() == whole
    assert len(damage) == 1 and damage[0].kind == "skipped"
    assert damage[0].offset == whole[-1] + table["length"].to_pylist()[-1]
    assert damage[0].offset + damage[0].length == cut
    assert "truncated record" in damage[0].reason


def _read_all_bytes(data: bytes) -> tuple[pa.Table, list]:
    result = decode_bytes(data, "t", tables=TABLES)
    return result.table, result.damage


def test_bad_length_field_is_skipped_and_reported(decoder) -> None:
    data = bytearray(WORKLOAD.read_bytes())
    records = _record_offsets(bytes(data))
    victim, victim_len = records[10]
    data[victim + 1 : victim + 5] = b"\xff\xff\xff\xff"
    result = decoder(bytes(data), "t")
    table, damage = result.table, result.damage
    assert table["offset"].to_pylist() == [o for o, _ in records if o != victim]
    assert [(d.offset, d.length) for d in damage] == [(victim, victim_len)]
    assert "4294967295" in damage[0].reason


def test_garbage_between_records_is_skipped_and_reported() -> None:
    data = WORKLOAD.read_bytes()
    at = _record_offsets(data)[5][0]
    junk = b"\x00garbage\xff" * 3
    table, damage = _read_all_bytes(data[:at] + junk + data[at:])
    assert table.num_rows == 3006
    assert [(d.offset, d.length) for d in damage] == [(at, len(junk))]


def test_unknown_token_keeps_the_record_and_its_bytes() -> None:
    data = bytearray(WORKLOAD.read_bytes())
    offset, _ = _record_offsets(bytes(data))[3]
    first_token = offset + 18  # header32 is 18 bytes
    data[first_token] = 0xEE  # not a token id
    result = decode_bytes(bytes(data), "t", tables=TABLES)
    row = result.table.to_pylist()[3]
    assert row["offset"] == offset and row["token_ids"] == [0x14, 0xEE, 0x13]
    assert row["raw_tokens"][0]["index"] == 1 and not row["raw_tokens"][0]["typed"]
    assert [(d.offset, d.kind) for d in result.damage] == [(first_token, "raw")]
    assert result.damage[0].reason == "unknown token id 0xee"


def test_strict_mode_fails_naming_file_and_offset(tmp_path: Path) -> None:
    data = WORKLOAD.read_bytes()
    broken = tmp_path / "broken.bsm"
    broken.write_bytes(data[:1000] + b"\xde\xad" + data[1000:])
    with pytest.raises(DamagedTrailError, match=r"broken\.bsm: damaged at byte \d+"):
        _read_all(broken, strict=True)


def test_start_offset_resumes_where_asked() -> None:
    data = WORKLOAD.read_bytes()
    resume_at = _record_offsets(data)[100][0]
    table, damage = _read_all(WORKLOAD, start_offset=resume_at)
    assert damage == [] and table.num_rows == 3006 - 100
    assert table["offset"][0].as_py() == resume_at


def test_open_ended_trail_leaves_an_unfinished_record_for_later(tmp_path: Path) -> None:
    data = WORKLOAD.read_bytes()
    current = tmp_path / "20260301090000.not_terminated"
    current.write_bytes(data[:-30])  # auditd is half-way through writing the last record
    results = list(read_trail(current, tables=TABLES, open_ended=True))
    assert sum(r.records for r in results) == 3005
    assert [d for r in results for d in r.damage] == []
    assert sum(r.consumed for r in results) == _record_offsets(data)[-1][0]


def test_unreadable_and_missing_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        _read_all(tmp_path / "missing")


def test_directory_expansion_reads_current_once(tmp_path: Path) -> None:
    trail = tmp_path / "20260301090000.not_terminated"
    trail.write_bytes(WORKLOAD.read_bytes())
    (tmp_path / "current").symlink_to(trail.name)
    (tmp_path / "20260228000000.20260301090000").write_bytes(WORKLOAD.read_bytes())
    assert [Path(p).name for p, _found in expand([str(tmp_path)])] == [
        "20260228000000.20260301090000", "20260301090000.not_terminated"]


def _healthy() -> bytes:
    """A few dozen varied records: every token type, then the start of the workload."""
    workload = WORKLOAD.read_bytes()
    cut = max(o + n for o, n in _record_offsets(workload) if o + n <= 20000)
    return (TRAILS / "synthetic-all-tokens.bsm").read_bytes() + workload[:cut]


_HEALTHY = _healthy()
_HEALTHY_RECORDS = _record_offsets(_HEALTHY)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damage_never_loses_an_untouched_record(draw: st.DataObject) -> None:
    """Overwrite bytes, insert or delete a run, truncate: every record whose bytes were
    not touched is still decoded (at its shifted offset), nothing raises but NotBSMError,
    and the rows plus the skipped ranges account for every byte."""
    data = bytearray(_HEALTHY)
    touched: list[tuple[int, int]] = []  # original spans that changed (with a margin)
    for _ in range(draw.draw(st.integers(0, 3))):
        at = draw.draw(st.integers(0, len(data) - 1))
        patch = draw.draw(st.binary(min_size=1, max_size=40))
        data[at:at + len(patch)] = patch
        touched.append((at, at + len(patch)))
    move_at, delta = len(_HEALTHY), 0
    kind = draw.draw(st.sampled_from(["none", "insert", "delete", "truncate"]))
    if kind != "none":
        move_at = draw.draw(st.integers(0, len(_HEALTHY) - 1))
        size = draw.draw(st.integers(1, 60))
        if kind == "insert":
            data[move_at:move_at] = draw.draw(st.binary(min_size=size, max_size=size))
            delta, touched = size, [*touched, (move_at, move_at)]
        elif kind == "delete":
            del data[move_at:move_at + size]
            delta, touched = -size, [*touched, (move_at, move_at + size)]
        else:
            del data[move_at:]
            touched.append((move_at, len(_HEALTHY)))
    try:
        result = decode_bytes(bytes(data), "m", tables=TABLES)
    except NotBSMError:
        return
    got = set(result.table["offset"].to_pylist())
    for off, length in _HEALTHY_RECORDS:
        # a record is untouched when no edit (with its boundaries) overlaps it
        if all(off + length <= a or off > b or (a == b and off == a) for a, b in touched):
            assert (off if off < move_at else off + delta) in got
    covered = sum(result.table["length"].to_pylist()) + sum(
        d.length for d in result.damage if d.kind == "skipped")
    assert covered == len(data)


def test_file_tokens_between_records_keep_trail_order() -> None:
    """auditd's file tokens open and close each trail; two trails in one buffer put two of
    them between records (sample_trails/generated-workday.bsm starts and ends with one)."""
    day = (WORKDAY).read_bytes()
    table = decode_bytes(day + day, "two-days", tables=TABLES).table
    offsets = table["offset"].to_pylist()
    assert offsets == sorted(offsets) and table.num_rows == 2 * (3000 + 2)
    files = [o for o, h in zip(offsets, table["header_token"].to_pylist(), strict=True)
             if h == 0x11]
    assert files == [0, len(day) - 52, len(day), 2 * len(day) - 52]
