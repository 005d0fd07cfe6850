"""Record identity at fleet scale (issue 19): every record exactly once by the multiset
rule, whatever the names, sizes and heads of the inputs, the cuts of a growing trail,
the order of conversions, --jobs or flushes; at a cost that does not grow with what the
dataset already holds; record ids that name one record each.

The expected dataset is computed independently: the union (per record, the most times
one input holds it) of the records each input holds as the decoder sees them.
"""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from knoxtest import WORKDAY, WORKLOAD
from test_identity import BASE, ENDS, FULL, dataset_records, records_of

from knox_analytics.bsm import ranges
from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.convert import convert
from knox_analytics.store import PART_GLOB, DatasetWriter
from knox_analytics.testing.workload import generate

TABLE = decode_bytes(FULL).table
OFFSETS = TABLE["offset"].to_pylist()
LENGTHS = TABLE["length"].to_pylist()
K = 1500  # a record far past the first 64 KiB and the last 4 KiB


def union(*inputs: bytes) -> int:
    total: Counter = Counter()
    for data in inputs:
        total |= records_of(data)
    return sum(total.values())


def patched(at: int, data: bytes) -> bytes:
    out = bytearray(FULL)
    out[at:at + len(data)] = data
    return bytes(out)


def rows(out: Path, where: str = "true") -> int:
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/{PART_GLOB}', "
                      f"hive_partitioning=false) WHERE {where}").fetchall()[0][0]


# --- a damaged or different copy first, then the good trail -----------------------------

DAMAGED = {
    # one bad record length field (as the damaged/reclen_ffffffff.bsm)
    "reclen_ffffffff": patched(OFFSETS[K] + 1, b"\xff\xff\xff\xff"),
    "reclen_5": patched(OFFSETS[K] + 1, (5).to_bytes(4, "big")),
    # the record's second token (after its 18-byte header32) gets an unknown id
    "unknown_token": patched(OFFSETS[K] + 18, b"\xfe"),
    # same size, one record differs (its time: still a well-formed record)
    "same_size_one_differs": patched(OFFSETS[K] + 10, bytes([FULL[OFFSETS[K] + 10] ^ 1])),
    # 300 garbage bytes over the middle (same size)
    "garbage_in_the_middle": patched(OFFSETS[K], bytes(range(256)) + bytes(44)),
}


@pytest.mark.parametrize("name", list(DAMAGED))
def test_a_damaged_or_different_copy_first_then_the_good_trail(tmp_path: Path,
                                                               name: str) -> None:
    copy, good = tmp_path / "copy.bsm", tmp_path / "good.bsm"
    copy.write_bytes(DAMAGED[name])
    good.write_bytes(FULL)
    out = tmp_path / "ds"
    convert([copy], out)
    second = convert([good], out)
    assert second.files[0].action != "skipped" or union(DAMAGED[name], FULL) == \
        len(records_of(DAMAGED[name]))
    assert dataset_records(out) == union(DAMAGED[name], FULL)


def test_a_copy_differing_in_one_record_adds_exactly_that_record(tmp_path: Path) -> None:
    good, copy = tmp_path / "good.bsm", tmp_path / "renamed"
    good.write_bytes(FULL)
    copy.write_bytes(DAMAGED["same_size_one_differs"])
    out = tmp_path / "ds"
    convert([good], out)
    summary = convert([copy], out)
    assert summary.records == 1 and summary.known == len(OFFSETS) - 1
    assert dataset_records(out) == len(OFFSETS) + 1


# --- identical records: one rule, whatever the cuts, the order, --jobs, flushes ---------

REC = BASE[ENDS[199]:ENDS[200]]  # record 201
DUP = BASE[:ENDS[200]] + REC + BASE[ENDS[200]:]  # a trail holding it twice in a row
W = BASE


def test_a_repeated_record_is_kept_in_one_go(tmp_path: Path) -> None:
    trail = tmp_path / "dup.bsm"
    trail.write_bytes(DUP)
    convert([trail], tmp_path / "ds")
    assert dataset_records(tmp_path / "ds") == 401


@pytest.mark.parametrize("name", ["current", "trail.1"])
def test_a_growing_trail_cut_between_two_identical_records(tmp_path: Path, name: str) -> None:
    trail = tmp_path / name
    out = tmp_path / "ds"
    trail.write_bytes(DUP[:ENDS[200]])  # the first copy only
    convert([trail], out)
    trail.write_bytes(DUP)
    convert([trail], out)
    assert dataset_records(out) == 401


@pytest.mark.parametrize("order", [("W", "WW"), ("WW", "W")])
def test_a_trail_and_its_doubled_copy_in_either_order(tmp_path: Path, order: tuple) -> None:
    data = {"W": W, "WW": W + W}
    out = tmp_path / "ds"
    for name in order:
        (tmp_path / name).write_bytes(data[name])
        convert([tmp_path / name], out)
    assert dataset_records(out) == 800


def test_a_flush_between_two_identical_records_loses_neither(tmp_path: Path) -> None:
    """What a capture does: write the records decoded so far, commit (a flush), go on
    with the same input."""
    table = decode_bytes(DUP).table
    with DatasetWriter(tmp_path / "ds") as writer:
        writer.write(table.slice(0, 201), DUP, 0)
        writer.commit()
        writer.write(table.slice(201), DUP, 0)
    assert dataset_records(tmp_path / "ds") == 401


@pytest.mark.parametrize("rotate", [False, True])
def test_capture_converter_keeps_both_copies_across_a_flush(tmp_path: Path,
                                                            rotate: bool) -> None:
    """The capture's own converter: the segment grows with its flush (a commit) between
    the two copies, or the second copy lands in the next segment (a rotation)."""
    from knox_analytics.live.converter import SegmentConverter

    cut = ENDS[200]  # DUP's first copy ends here, its second follows
    segs = tmp_path / "segs"
    segs.mkdir()

    def seg(i: int) -> Path:
        return segs / f"seg-{i}.bsm"

    with DatasetWriter(tmp_path / "ds") as writer:
        conv = SegmentConverter(writer, seg, {}, lambda: None, lambda _m: None)
        seg(0).write_bytes(DUP[:cut])
        conv.convert(0)  # a flush: committed, the first copy in the dataset
        if rotate:
            conv.convert(0, final=True)
            seg(1).write_bytes(DUP[cut:])
            conv.convert(1, final=True)
        else:
            seg(0).write_bytes(DUP)
            conv.convert(0, final=True)
    assert dataset_records(tmp_path / "ds") == 401


def test_jobs_keep_identical_records_across_inputs_and_ranges(tmp_path: Path,
                                                              monkeypatch) -> None:
    (tmp_path / "W").write_bytes(W)
    (tmp_path / "WW").write_bytes(W + W)
    convert([tmp_path / "W", tmp_path / "WW"], tmp_path / "both", jobs=2)
    assert dataset_records(tmp_path / "both") == 800
    # WW cut into ranges: its two copies of each record land in different workers
    monkeypatch.setattr(ranges, "DEFAULT_SPLIT", len(W) // 2)
    convert([tmp_path / "WW"], tmp_path / "ranges", jobs=2)
    assert dataset_records(tmp_path / "ranges") == 800


# --- a fleet: several hosts' trails of one day --------------------------------------------

def host_trail(k: int, records: int = 800) -> bytes:
    out = io.BytesIO()
    generate(out, seed=100 + k, records=records, hosts=(f"10.0.{k}.1",),
             start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    return out.getvalue()


HOSTS = {k: host_trail(k) for k in range(3)}


def test_three_hosts_of_one_day_in_every_order_hold_their_union(tmp_path: Path) -> None:
    expected = sum(len(decode_bytes(d).table) for d in HOSTS.values())
    for k, data in HOSTS.items():
        (tmp_path / f"mac{k}.bsm").write_bytes(data)
    for n, order in enumerate(itertools.permutations(HOSTS)):
        out = tmp_path / f"ds{n}"
        loaded = []
        for k in order:
            summary = convert([tmp_path / f"mac{k}.bsm"], out, host=f"mac{k}")
            loaded.append(summary.identity.slices_loaded)
            assert summary.known == 0
        assert dataset_records(out) == expected, order
        # a host the dataset has not seen reads no other host's index: the work of
        # converting host k does not grow with k
        assert loaded == [0, 0, 0]
        assert rows(out, "record_id IS NULL") == 0
        ids = duckdb.sql(f"SELECT count(DISTINCT record_id) FROM read_parquet("
                         f"'{out}/{PART_GLOB}')").fetchall()[0][0]
        assert ids == expected


def test_the_same_bytes_under_two_host_labels_are_two_records(tmp_path: Path) -> None:
    trail = tmp_path / "t.bsm"
    trail.write_bytes(W)
    convert([trail], tmp_path / "ds", host="mac1")
    copy = tmp_path / "t-copy.bsm"
    copy.write_bytes(W[:ENDS[398]])  # not the whole content: read, records compared
    summary = convert([copy], tmp_path / "ds", host="mac2")
    assert summary.records == 399
    assert dataset_records(tmp_path / "ds") == 799


def test_a_whole_copy_under_another_host_label_is_read(tmp_path: Path) -> None:
    """The whole-content skip compares only inputs converted under the same label: the
    same file labelled for a second machine was skipped as 'renamed', its records lost."""
    (tmp_path / "a").write_bytes(W)
    (tmp_path / "b").write_bytes(W)
    convert([tmp_path / "a"], tmp_path / "ds", host="mac1")
    summary = convert([tmp_path / "b"], tmp_path / "ds", host="mac2")
    assert [f.action for f in summary.files] == ["converted"] and summary.records == 400
    assert dataset_records(tmp_path / "ds") == 800
    again = convert([tmp_path / "a"], tmp_path / "ds", host="mac2")
    assert [f.action for f in again.files] == ["skipped"]  # mac2 knows it under "b"
    unlabelled = convert([tmp_path / "a"], tmp_path / "ds")
    assert [f.action for f in unlabelled.files] == ["skipped"]  # no label: known file


def test_a_fully_known_copy_under_any_name_is_skipped_unread(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(FULL)
    (tmp_path / "b").write_bytes(FULL)
    out = tmp_path / "ds"
    convert([tmp_path / "a"], out)
    summary = convert([tmp_path / "b"], out)
    assert summary.files[0].action == "skipped" and "renamed" in summary.files[0].reason
    assert summary.identity.ids_looked_up == 0  # not decoded at all


# --- one dataset, two inputs with the same name: print selects and orders by input ------

def two_currents(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    first = FULL[:OFFSETS[1200]]
    second = WORKDAY.read_bytes()
    ends = [o + n for o, n in zip(decode_bytes(second).table["offset"].to_pylist(),
                                  decode_bytes(second).table["length"].to_pylist(),
                                  strict=True)]
    second = second[:ends[1199]]
    current = tmp_path / "current"
    out = tmp_path / "ds"
    current.write_bytes(first)
    convert([current], out)
    current.write_bytes(second)  # rotated: a new trail under the same name
    convert([current], out)
    return out, first, second


def knox_print(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "knox_analytics", "print", "-l", *args],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_print_filters_select_records_by_id_across_a_rotated_current(tmp_path: Path) -> None:
    out, first, second = two_currents(tmp_path)
    lines = knox_print("--event", "execve", str(out))
    (tmp_path / "a.bsm").write_bytes(first)
    (tmp_path / "b.bsm").write_bytes(second)
    each = [knox_print("--event", "execve", str(tmp_path / n)) for n in ("a.bsm", "b.bsm")]
    assert each[0] and each[1]
    assert sorted(lines) == sorted(each[0] + each[1])


def test_print_keeps_each_inputs_order_and_merges_inputs_by_time(tmp_path: Path) -> None:
    out, first, second = two_currents(tmp_path)
    (tmp_path / "a.bsm").write_bytes(first)
    (tmp_path / "b.bsm").write_bytes(second)
    a, b = knox_print(str(tmp_path / "a.bsm")), knox_print(str(tmp_path / "b.bsm"))
    printed = knox_print(str(out))
    # the two trails are of different days: the first's records, then the second's
    assert printed == a + b


def test_print_records_by_id(tmp_path: Path) -> None:
    trail = tmp_path / "w.bsm"
    trail.write_bytes(W)
    out = tmp_path / "ds"
    convert([trail], out)
    ids = duckdb.sql(f"SELECT hex(record_id) FROM read_parquet('{out}/{PART_GLOB}') "
                     "ORDER BY \"offset\" LIMIT 3 OFFSET 10").fetchall()
    lines = knox_print("--records", ids[0][0], "--records", f"{ids[1][0]},{ids[2][0]}",
                       str(out))
    assert lines == knox_print(str(trail))[10:13]


def test_print_records_rejects_a_malformed_id(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "knox_analytics", "print", "--records",
                           "xyz", str(WORKLOAD)], capture_output=True, text=True)
    assert done.returncode != 0
    assert "32 hex digits" in done.stderr and "Traceback" not in done.stderr


def test_ids_written_out_before_the_commit_are_still_looked_up(tmp_path: Path,
                                                              monkeypatch) -> None:
    """One big input: its ids go to staged index files as it is converted (memory stays
    bounded); the next inputs of the same run find them there."""
    from knox_analytics.store import writer as writer_module

    monkeypatch.setattr(writer_module, "IDS_IN_MEMORY", 50)
    (tmp_path / "W").write_bytes(W)
    (tmp_path / "cut").write_bytes(W[:ENDS[300]] + b"\x00" * 10)
    summary = convert([tmp_path / "W", tmp_path / "cut"], tmp_path / "ds",
                      chunk_size=4096)
    assert summary.files[1].records == 0 and summary.files[1].known == 301
    assert dataset_records(tmp_path / "ds") == 400
    assert len(list((tmp_path / "ds" / "_knox_ids").rglob("ids-*.npy"))) >= 1
