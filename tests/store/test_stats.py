"""Per-part statistics: ``knox summary`` of a dataset adds them up and answers exactly as
the SQL over every record does, without reading a record.

Fixtures: ``tests/data/trails/synthetic-workload.bsm``, ``sample_trails/generated-workday.bsm``
and the small real trails beside them (provenance in tests/data/trails/README.md).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from knoxtest import SAMPLES, TRAILS, WORKDAY, WORKLOAD

from knox_analytics import Catalog
from knox_analytics.bsm.reader import read_trail
from knox_analytics.convert import convert
from knox_analytics.store import DatasetWriter, load_manifest
from knox_analytics.store.stats import footer_stats, merge_stats, part_stats
from knox_analytics.summary import summarize, summarize_records

TRAILS_USED = [WORKLOAD, WORKDAY, TRAILS / "macos-10.9-apple.bsm",
               TRAILS / "openbsm-test-vectors.bsm", TRAILS / "synthetic-all-tokens.bsm"]


def _summary_by_sql(root: Path, users: object = None) -> dict:
    with Catalog([root], users=users) as cat:
        s = summarize_records(cat)
        s.hosts = sorted(s.hosts)  # the SQL orders hosts by count only
        return s.to_dict()


def _summary_by_stats(root: Path, users: object = None) -> dict:
    with Catalog([root], users=users) as cat:
        s = summarize(cat)
        s.hosts = sorted(s.hosts)
        return s.to_dict()


@pytest.mark.parametrize("trail", TRAILS_USED, ids=lambda p: p.name)
def test_summary_from_statistics_equals_the_sql(trail: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    convert([trail], root, derive=False)
    users = SAMPLES / "passwd"
    assert _summary_by_stats(root, users) == _summary_by_sql(root, users)


def test_every_part_carries_its_statistics(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    convert([WORKLOAD], root, derive=False)
    parts = load_manifest(root).parts
    assert parts
    for part in parts:
        stats = footer_stats(root / part)
        assert stats is not None
        assert stats["records"] == pq.read_metadata(root / part).num_rows - sum(
            1 for t in pq.read_table(root / part, columns=["header_token"])
            .column("header_token").to_pylist() if t == 0x11)


def test_summary_of_a_dataset_reads_no_record(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Work done, not seconds: no SQL touches the records, no row group is read."""
    root = tmp_path / "ds"
    convert([WORKLOAD], root, derive=False)
    asked: list[str] = []
    read: list[int] = []
    original_sql = Catalog.sql
    original_read = pq.ParquetFile.read_row_group

    def sql(self: Catalog, query: str, params: object = None) -> object:
        asked.append(query)
        return original_sql(self, query, params)

    def read_row_group(self: pq.ParquetFile, i: int, *args: object, **kw: object) -> object:
        read.append(i)
        return original_read(self, i, *args, **kw)

    monkeypatch.setattr(Catalog, "sql", sql)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", read_row_group)
    with Catalog([root]) as cat:
        s = summarize(cat)
    assert s.records > 0
    assert read == []
    assert all("records" not in q and "events" not in q and "commands" not in q
               for q in asked), asked


def test_parts_written_before_statistics_are_counted_once(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    convert([WORKDAY], root, derive=False)
    expected = _summary_by_stats(root)
    for part in load_manifest(root).parts:  # as an older knox wrote them: no statistics
        table = pq.read_table(root / part)
        pq.write_table(table, root / part)
        assert footer_stats(root / part) is None
    assert _summary_by_stats(root) == expected
    kept = list((root / "_knox_cache" / "stats").iterdir())
    assert len(kept) == len(load_manifest(root).parts)
    assert _summary_by_stats(root) == expected  # now from the kept counts


def test_compaction_adds_up_the_statistics(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    tables = [r.table for r in read_trail(WORKLOAD)]
    with DatasetWriter(root, host="mac") as writer:
        for table in tables:  # several commits: several parts per partition
            for piece in (table.slice(0, table.num_rows // 2),
                          table.slice(table.num_rows // 2)):
                writer.write(piece)
                writer.commit()
        before = _summary_by_sql(root)
        assert writer.compact(keys=writer.parts_per_partition()) > 0
    assert all(footer_stats(root / p) is not None for p in load_manifest(root).parts)
    assert _summary_by_stats(root) == before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=6))
def test_statistics_of_pieces_add_up_to_those_of_the_whole(cuts: list[int]) -> None:
    table = _workday_table()
    bounds = sorted({0, table.num_rows, *(c % (table.num_rows + 1) for c in cuts)})
    pieces = [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    assert _canonical(merge_stats(part_stats(p) for p in pieces)) == \
        _canonical(part_stats(table))


_WORKDAY: list[pa.Table] = []


def _workday_table() -> pa.Table:
    if not _WORKDAY:
        _WORKDAY.append(pa.concat_tables(r.table for r in read_trail(WORKDAY)))
    return _WORKDAY[0]


def _canonical(stats: dict) -> dict:
    return {k: sorted(v, key=repr) if isinstance(v, list) and k != "time" else v
            for k, v in stats.items()}
