"""Byte ranges of a trail (knox_analytics.bsm.ranges, read by `knox convert --jobs` and
Spark tasks) decode to what one sequential read gives, wherever the cuts fall.

Fixtures: the trails in tests/data/trails (see its README for provenance) and trails
written here by knox_analytics.workload with fixed seeds.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pytest
from knoxtest import TRAILS

from knox_analytics.bsm.ranges import decode_range, split_trail
from knox_analytics.bsm.reader import read_trail
from knox_analytics.workload import generate

# end-to-end: in `make test`, not in the fast `make check` loop
pytestmark = pytest.mark.slow


def _sequential(path: Path) -> tuple[pa.Table, int, int]:
    results = list(read_trail(path))
    table = pa.concat_tables([r.table for r in results])
    return table, sum(r.consumed for r in results), sum(len(r.damage) for r in results)


def _by_ranges(path: Path, split: int, open_ended: bool = False) -> tuple[pa.Table, int, int]:
    ranges = split_trail(str(path), 0, path.stat().st_size, split_bytes=split,
                         open_ended=open_ended)
    results = [decode_range(r) for r in ranges]
    table = pa.concat_tables([r.table for r in results])
    return table, results[-1].end, sum(len(r.damage) for r in results)


def _same(a: pa.Table, b: pa.Table) -> bool:
    """Equal rows (chunks and per-chunk dictionaries may differ)."""
    return a.schema.equals(b.schema) and a.to_pylist() == b.to_pylist()


@pytest.fixture(scope="module")
def workload_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated trail (seed 7, 1,500 records) cut into many ranges below."""
    path = tmp_path_factory.mktemp("ranges") / "seed7.bsm"
    with open(path, "wb") as fh:
        generate(fh, None, seed=7, records=1500)
    return path


@pytest.mark.parametrize("split", [701, 4096, 50_000])
def test_ranges_equal_sequential_decode(workload_trail: Path, split: int) -> None:
    want, end, damage = _sequential(workload_trail)
    got, got_end, got_damage = _by_ranges(workload_trail, split)
    assert len(split_trail(str(workload_trail), 0, workload_trail.stat().st_size,
                           split_bytes=split)) > 1
    assert _same(got, want)
    assert (got_end, got_damage) == (end, damage)


@pytest.mark.parametrize("name", sorted(p.name for p in TRAILS.glob("*.bsm")))
def test_reference_trails_split_anywhere(name: str) -> None:
    """Real trails (a record quoted in opaque tokens, every token kind) cut into ~40
    ranges (at least 61 bytes) decode to the same rows as one sequential read."""
    path = TRAILS / name
    want, end, damage = _sequential(path)
    got, got_end, got_damage = _by_ranges(path, max(61, path.stat().st_size // 40))
    assert _same(got, want)
    assert (got_end, got_damage) == (end, damage)


def test_damaged_trail_split_equals_sequential(tmp_path: Path, workload_trail: Path) -> None:
    """Garbage spliced into the middle, and a truncated last record: same rows, same
    number of damaged spans, whatever the cut points."""
    data = bytearray(workload_trail.read_bytes())
    data[5000:5000] = b"\x14\x00\x00\x00\x40garbage-not-a-record" * 7
    damaged = tmp_path / "damaged.bsm"
    damaged.write_bytes(bytes(data[:-10]))
    want, end, damage = _sequential(damaged)
    assert damage >= 2
    for split in (2048, 20_000):
        got, got_end, got_damage = _by_ranges(damaged, split)
        assert _same(got, want)
        assert (got_end, got_damage) == (end, damage)


def test_open_ended_trail_leaves_the_unfinished_record(tmp_path: Path,
                                                       workload_trail: Path) -> None:
    """auditd's `current`: a half-written last record is not damage; the conversion
    ends before it (where the next run resumes)."""
    data = workload_trail.read_bytes()
    current = tmp_path / "20260302080000.not_terminated"
    current.write_bytes(data[:-30])
    want = list(read_trail(current, open_ended=True))
    _, end, damage = _by_ranges(current, 3000, open_ended=True)
    assert damage == 0
    assert end == sum(r.consumed for r in want) < len(data) - 30


def test_compressed_trail_is_one_streamed_range(tmp_path: Path, workload_trail: Path) -> None:
    import gzip

    path = tmp_path / "seed7.bsm.gz"
    path.write_bytes(gzip.compress(workload_trail.read_bytes()))
    ranges = split_trail(str(path), 0, 10 << 20, split_bytes=1000)
    assert len(ranges) == 1 and ranges[0].compressed
    got = decode_range(ranges[0])
    want, end, _ = _sequential(path)
    assert _same(got.table, want) and got.end == end


def test_generated_trail_is_deterministic() -> None:
    """The fixture generator gives the same bytes for the same seed (provenance)."""
    a, b = io.BytesIO(), io.BytesIO()
    generate(a, None, seed=7, records=50)
    generate(b, None, seed=7, records=50)
    assert a.getvalue() == b.getvalue()
