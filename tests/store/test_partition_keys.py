"""Partition keys (``host=…/date=…``) per row, against a row-by-row reference: null
hosts take the label, a host equal to the label shares its key, '/' is replaced, null
times land in hive's null partition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from knox_analytics.store.partition import NULL_VALUE, UNKNOWN_HOST, partition_keys

HOSTS = st.sampled_from([None, "10.0.0.1", "fd00::1", "a/b", "lab"])
TIMES = st.one_of(st.none(), st.integers(0, 5).map(
    lambda d: datetime(2026, 3, 1, 23, 30, tzinfo=UTC) + timedelta(hours=d * 7)))


def reference(host: str | None, time: datetime | None, label: str | None) -> str:
    h = (label or UNKNOWN_HOST) if host is None else host.replace("/", "_")
    return f"host={h}/date={NULL_VALUE if time is None else time.date().isoformat()}"


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(HOSTS, TIMES), max_size=40),
       label=st.sampled_from([None, "lab", "other"]), chunks=st.integers(1, 3))
def test_keys_match_the_row_by_row_rule(rows: list, label: str | None, chunks: int) -> None:
    hosts = [h for h, _ in rows]
    times = [t for _, t in rows]
    cut = len(rows) // chunks
    table = pa.Table.from_batches([
        pa.record_batch([pa.array(hosts[i:j], pa.string()),
                         pa.array(times[i:j], pa.timestamp("ms", tz="UTC"))],
                        names=["host", "time"])
        for i, j in ((0, cut), (cut, len(rows)))],
        schema=pa.schema([("host", pa.string()), ("time", pa.timestamp("ms", tz="UTC"))]))
    keys = partition_keys(table, label)
    names = keys.dictionary.to_pylist()
    assert len(set(names)) == len(names)  # one code per key
    assert [names[i] for i in keys.indices.to_pylist()] == \
        [reference(h, t, label) for h, t in rows]
