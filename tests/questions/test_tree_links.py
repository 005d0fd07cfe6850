"""``knox tree`` resolves parent links on integer keys packed from the parts of instance
keys; they must find exactly the rows the key strings do, on every machine, with names
that hold '@', parents that are not rows, and parts too wide to pack (the strings are
matched then)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knox_analytics import tree
from knox_analytics.tree import _BY_FORK, _LINKS, parent_rows


def key(pid: int, ms: int, machine: str) -> str:
    """An instance key as sql/21_process_instances.sql writes it."""
    return f"{pid}@{ms}" + (f"@{machine}" if machine else "")


def links_of(instances: list[str], parents: list[str | None]) -> pa.Table:
    con = duckdb.connect()
    con.register("given", pa.table({"instance": pa.array(instances, pa.string()),
                                    "parent_instance": pa.array(parents, pa.string())}))
    con.execute("CREATE VIEW processes AS SELECT instance, parent_instance, "
                "NULL::TIMESTAMPTZ AS start_time, 0 AS pid, 0 AS sid FROM given")
    return con.sql(_LINKS.format(named="false", **_BY_FORK)).to_arrow_table()


def expected(links: pa.Table, instances: list[str], parents: list[str | None]) -> list[int]:
    """Each links row's parent's row, by the key strings."""
    row = {k: i for i, k in enumerate(links["instance"].to_pylist())}
    parent_of = dict(zip(instances, parents, strict=True))
    return [row.get(parent_of[k], -1) for k in links["instance"].to_pylist()]


# start times of 2026, and before 1970 (a damaged clock): negative parts
parts = st.tuples(st.integers(0, 120),
                  st.integers(1_772_000_000_000, 1_772_000_000_040) | st.integers(-40, 40),
                  st.sampled_from(["", "mac-a", "10.0.0.1", "a@b", "2001:db8::17"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(parts, min_size=1, max_size=60, unique=True), st.data())
def test_packed_keys_find_the_rows_the_strings_do(rows: list[tuple[int, int, str]],
                                                  data: st.DataObject) -> None:
    instances = [key(*r) for r in rows]
    # a parent: another row's key, a key that is no row, or none
    parents = data.draw(st.lists(st.one_of(st.none(), st.sampled_from(instances),
                                           parts.map(lambda r: key(*r))),
                                 min_size=len(rows), max_size=len(rows)))
    links = links_of(instances, parents)
    assert tree._packed_keys(links) is not None
    assert parent_rows(links).tolist() == expected(links, instances, parents)
    assert tree._parent_keys(links).to_pylist() == [
        dict(zip(instances, parents, strict=True))[k] for k in links["instance"].to_pylist()]


def test_keys_too_wide_to_pack_are_matched_as_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    instances = [key(7, 1_772_000_000_000, ""), key(8, 1_772_000_000_005, ""),
                 key(7, 1_772_000_000_000, "m")]
    parents = [None, instances[0], key(1, 5, "m")]
    links = links_of(instances, parents)
    assert parent_rows(links).tolist() == expected(links, instances, parents)
    monkeypatch.setattr(tree, "KEY_BITS", 4)
    assert tree._packed_keys(links) is None
    assert parent_rows(links).tolist() == expected(links, instances, parents)
    assert sorted(parent_rows(links).tolist()) == [-1, -1, links["instance"].to_pylist().index(
        instances[0])]


def test_a_parent_that_started_before_1970_is_found() -> None:
    """A damaged clock gives negative start times: the packed keys stay non-negative."""
    instances = [key(0, -5, ""), key(3, 7, "")]
    parents = [None, instances[0]]
    links = links_of(instances, parents)
    assert tree._packed_keys(links) is not None
    assert parent_rows(links).tolist() == expected(links, instances, parents)
