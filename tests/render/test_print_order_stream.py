"""``knox print DATASET`` streams the dataset in input order in bounded memory.

The merge of :func:`knox_analytics.render.records.iter_parquet` (stretches of each part
file, merged a window of keys at a time) must give exactly the order
:func:`~knox_analytics.render.records.input_order` computes over the whole table, for any
way the rows were cut into part files and stretches; and it must never hold more than the
stretches that overlap (issue 20: ``knox print -ln DS | head`` read the whole dataset,
5.7 GB of memory at 1 GB of trail).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from knoxtest import TRAILS, WORKLOAD

from knox_analytics.bsm.reader import read_trail
from knox_analytics.render import records as inputs
from knox_analytics.render.records import input_order, iter_parquet
from knox_analytics.schema import SCHEMA


@pytest.fixture(scope="module")
def rows() -> pa.Table:
    tables = [r.table for t in (WORKLOAD, TRAILS / "macos-10.9-apple.bsm")
              for r in read_trail(t)]
    return pa.concat_tables(tables).cast(SCHEMA)


@pytest.fixture(scope="module")
def some_rows(rows: pa.Table) -> pa.Table:
    """Two inputs of 754 rows in all: enough for many row groups (97 rows each) and merge
    windows (3 and 64 rows) per input; the whole workload made each example cost 3 s."""
    return pa.concat_tables([rows.slice(0, 700), rows.slice(rows.num_rows - 54)])


def write_parts(root: Path, table: pa.Table, cuts: list[int]) -> None:
    root.mkdir()
    bounds = [0, *sorted(set(cuts)), table.num_rows]
    for i, (lo, hi) in enumerate(pairwise(bounds)):
        if hi > lo:
            pq.write_table(table.slice(lo, hi - lo), root / f"part-{i:05d}.parquet",
                           row_group_size=97)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_stream_is_input_order_however_the_rows_were_cut(
        some_rows: pa.Table, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
        monkeypatch: pytest.MonkeyPatch) -> None:
    rows = some_rows
    n = rows.num_rows
    # blocks of rows moved around: offsets fall back, inputs interleave, times go back
    blocks = data.draw(st.lists(st.integers(0, n), max_size=8))
    bounds = [0, *sorted(set(blocks)), n]
    pieces = [rows.slice(lo, hi - lo) for lo, hi in pairwise(bounds)]
    order = data.draw(st.permutations(range(len(pieces))))
    table = pa.concat_tables([pieces[i] for i in order])
    cuts = data.draw(st.lists(st.integers(0, n), max_size=12))
    root = tmp_path_factory.mktemp("ds")
    write_parts(root / "d", table, cuts)
    monkeypatch.setattr(inputs, "_MERGE_BATCH", data.draw(st.sampled_from([3, 64, 4096])))
    got = pa.concat_tables(list(iter_parquet(root / "d", batch_rows=1000)))
    expected = table.take(pa.array(input_order(table)))
    assert got.num_rows == n
    for column in ("source", "offset", "time", "raw_tokens"):
        assert got.column(column).to_pylist() == expected.column(column).to_pylist()


def test_only_the_stretches_that_overlap_are_held(rows: pa.Table, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Twenty days, one part file each: the merge holds one file's batch at a time."""
    day = 86_400_000
    ms = rows.column("time").cast(pa.int64()).to_numpy(zero_copy_only=False)
    root = tmp_path / "d"
    root.mkdir()
    for k in range(20):
        shifted = pa.array(ms + k * day, pa.int64()).cast(SCHEMA.field("time").type)
        part = rows.set_column(rows.schema.get_field_index("time"), "time", shifted)
        part = part.set_column(rows.schema.get_field_index("source"), "source",
                               pa.array([f"day{k}"] * rows.num_rows, pa.string()))
        pq.write_table(part, root / f"part-{k:05d}.parquet")
    most = [0]
    real = inputs._Stream.fill

    def fill(self: inputs._Stream) -> None:
        real(self)
        most[0] = max(most[0], len(self.keys))

    opened = []
    real_init = inputs._Stream.__init__

    def init(self: inputs._Stream, *args: object) -> None:
        real_init(self, *args)
        opened.append(self)

    monkeypatch.setattr(inputs._Stream, "fill", fill)
    monkeypatch.setattr(inputs._Stream, "__init__", init)
    monkeypatch.setattr(inputs, "_MERGE_BATCH", 256)
    seen = 0
    for table in iter_parquet(root, batch_rows=512):
        seen += table.num_rows
        live = [s for s in opened if len(s.keys) or not s.done]
        assert len(live) <= 2  # the day being printed (and the next one, opened at its edge)
    assert seen == 20 * rows.num_rows and most[0] <= 256
