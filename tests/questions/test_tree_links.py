"""``knox tree`` resolves parent links on integer keys packed from the parts of instance
keys; they must find exactly the rows the key strings do, on every machine, with names
that hold '@', parents that are not rows, and parts too wide to pack (the strings are
matched then)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knox_analytics import tree
from knox_analytics.tree import _BY_FORK, _LINKS, link_keys


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


def parent_rows(links: pa.Table) -> list[int]:
    """Each row's parent's row, by the keys (-1: none)."""
    mine, theirs = link_keys(links)
    row = {int(k): i for i, k in enumerate(mine)}
    assert len(row) == links.num_rows  # one key per instance
    return [row.get(int(k), -1) if k >= 0 else -1 for k in theirs]


def expected(links: pa.Table, instances: list[str], parents: list[str | None]) -> list[int]:
    """Each links row's parent's row, by the key strings."""
    row = {k: i for i, k in enumerate(tree._compose(links, "i").to_pylist())}
    parent_of = dict(zip(instances, parents, strict=True))
    return [row.get(parent_of[k], -1) for k in tree._compose(links, "i").to_pylist()]


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
    assert parent_rows(links) == expected(links, instances, parents)
    # the keys composed from their parts are the keys the SQL wrote
    assert sorted(tree._compose(links, "i").to_pylist()) == sorted(instances)
    parent_of = dict(zip(instances, parents, strict=True))
    assert tree._compose(links, "p").to_pylist() == [
        parent_of[k] for k in tree._compose(links, "i").to_pylist()]


def test_keys_too_wide_to_pack_are_matched_as_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    instances = [key(7, 1_772_000_000_000, ""), key(8, 1_772_000_000_005, ""),
                 key(7, 1_772_000_000_000, "m")]
    parents = [None, instances[0], key(1, 5, "m")]
    links = links_of(instances, parents)
    assert parent_rows(links) == expected(links, instances, parents)
    monkeypatch.setattr(tree, "KEY_BITS", 4)
    assert tree._packed_keys(links) is None
    assert parent_rows(links) == expected(links, instances, parents)
    assert sorted(parent_rows(links)) == [-1, -1, tree._compose(links, "i").to_pylist().index(
        instances[0])]


def test_a_parent_that_started_before_1970_is_found() -> None:
    """A damaged clock gives negative start times: the packed keys stay non-negative."""
    instances = [key(0, -5, ""), key(3, 7, "")]
    parents = [None, instances[0]]
    links = links_of(instances, parents)
    assert tree._packed_keys(links) is not None
    assert parent_rows(links) == expected(links, instances, parents)


def walk(parents: list[int], starts: list[int] | None = None) -> tree._Walk:
    """A walk over rows keyed 10, 20, ... whose parents are the rows ``parents``."""
    mine = np.arange(len(parents), dtype=np.int64) * 10 + 10
    theirs = np.array([mine[p] if p >= 0 else -1 for p in parents], np.int64)
    return tree._Walk(mine, theirs, np.array(starts or range(len(parents)), np.int64))


@pytest.mark.parametrize("scans", [0, 3, 1000])  # rows found by a scan, sorted, or both
def test_a_tree_shows_ancestors_in_order_and_children_by_start(
        monkeypatch: pytest.MonkeyPatch, scans: int) -> None:
    monkeypatch.setattr(tree._Walk, "SCANS", scans)
    # 0 <- 1 <- ... <- 9 (a chain), and 9's children 10, 11, 12 started in reverse order
    w = walk([-1, *range(9), 9, 9, 9, 10], [*range(10), 30, 20, 10, 40])
    rows, found, deeper = w.tree(9, None)
    assert found == len(rows) == 14
    assert rows.tolist() == [[-9, 0, -1], *[[k - 9, k, k - 1] for k in range(1, 9)],
                             [0, 9, 8], [1, 12, 9], [1, 11, 9], [1, 10, 9], [2, 13, 10]]
    assert deeper == 0
    rows, found, deeper = w.tree(9, 1)
    assert rows[:, 1].tolist()[-3:] == [12, 11, 10] and deeper == 1  # 13 one level down
    assert found == len(rows) == 13
    rows, found, deeper = w.tree(9, None, keep=11)  # the first 11 held, all 14 counted
    assert rows[:, 1].tolist() == [*range(10), 12] and found == 14 and deeper == 0
    assert w.child_counts(np.array([9, 10, 13])).tolist() == [3, 1, 0]


def test_damaged_parent_links_end_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    rows, _, _ = walk([1, 0]).tree(0, None)  # each the other's parent
    assert rows.tolist() == [[-1, 1, 0], [0, 0, 1]]
    monkeypatch.setattr(tree, "MAX_ANCESTORS", 3)
    rows, _, _ = walk([-1, *range(9)]).tree(9, 0)
    assert rows.tolist() == [[-3, 6, 5], [-2, 7, 6], [-1, 8, 7], [0, 9, 8]]
