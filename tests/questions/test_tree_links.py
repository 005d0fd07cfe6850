"""``knox tree`` resolves parent links on integer keys packed from the parts of instance
keys; they must find exactly the rows the key strings do, on every machine, with names
that hold '@', parents that are not rows, and parts too wide to pack (the distinct parts
are numbered then)."""

from __future__ import annotations

import functools

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knox_analytics import tree
from knox_analytics.engine import sql_files
from knox_analytics.tree import _BY_FORK, _LINKS, link_keys

Part = tuple[int, int, str]  # pid, start ms, machine


def key(pid: int, ms: int, machine: str) -> str:
    """An instance key as sql/01_constants.sql's instance_key writes it."""
    return f"{pid}@{ms}" + (f"@{machine}" if machine else "")


@functools.cache
def connect() -> duckdb.DuckDBPyConnection:
    """One connection with the knox macros for the module (hypothesis runs hundreds)."""
    con = duckdb.connect()
    con.execute(next(f.text for f in sql_files() if f.name == "01_constants.sql"))
    return con


def links_of(rows: list[Part], parents: list[Part | None]) -> pa.Table:
    """The links of processes ``rows`` whose parents are ``parents`` (on their machine)."""
    con = connect()
    con.register("given", pa.table({
        "pid": pa.array([r[0] for r in rows], pa.uint32()),
        "ms": pa.array([r[1] for r in rows], pa.int64()),
        "machine": pa.array([r[2] for r in rows], pa.string()),
        "parent_instance": pa.array([key(*p) if p else None for p in parents], pa.string())}))
    con.execute("CREATE OR REPLACE VIEW processes AS SELECT "
                "instance_key(pid, ms, machine) AS instance, parent_instance, "
                "make_timestamptz(ms * 1000) AS start_time, pid, 0 AS sid, machine FROM given")
    return con.sql(_LINKS.format(named="false", **_BY_FORK)).to_arrow_table()


def parent_rows(links: pa.Table) -> list[int]:
    """Each row's parent's row, by the keys (-1: none)."""
    mine, theirs = link_keys(links)
    row = {int(k): i for i, k in enumerate(mine)}
    assert len(row) == links.num_rows  # one key per instance
    return [row.get(int(k), -1) if k >= 0 else -1 for k in theirs]


def keys_of(links: pa.Table) -> list[str]:
    """The links rows' instance keys, composed by the SQL macro."""
    con = connect()
    con.register("links", links)
    return [k for (k,) in con.sql("SELECT instance_key(i_pid, i_ms, machine) FROM links"
                                  ).fetchall()]


def expected(links: pa.Table, rows: list[Part], parents: list[Part | None]) -> list[int]:
    """Each links row's parent's row, by the key strings."""
    keys = keys_of(links)
    row = {k: i for i, k in enumerate(keys)}
    parent_of = {key(*r): (key(*p) if p else None) for r, p in zip(rows, parents, strict=True)}
    return [row.get(parent_of[k], -1) for k in keys]


# start times of 2026, and before 1970 (a damaged clock): negative parts
parts = st.tuples(st.integers(0, 120),
                  st.integers(1_772_000_000_000, 1_772_000_000_040) | st.integers(-40, 40),
                  st.sampled_from(["", "mac-a", "10.0.0.1", "a@b", "2001:db8::17"]))


def parents_for(data: st.DataObject, rows: list[Part]) -> list[Part | None]:
    """A parent for each row: another row of its machine, a process that is no row, or
    none (sql/21_process_instances.sql joins a parent on the child's machine)."""
    return [data.draw(st.one_of(
        st.none(), st.sampled_from([r for r in rows if r[2] == m]),
        st.tuples(st.integers(0, 120), st.integers(-40, 40), st.just(m))))
        for _, _, m in rows]


@settings(max_examples=200, deadline=None)
@given(st.lists(parts, min_size=1, max_size=60, unique=True), st.data())
def test_packed_keys_find_the_rows_the_strings_do(rows: list[Part],
                                                  data: st.DataObject) -> None:
    parents = parents_for(data, rows)
    links = links_of(rows, parents)
    assert link_keys(links)[0].min() >= 0
    assert parent_rows(links) == expected(links, rows, parents)
    # the parts read back compose the keys the SQL wrote
    assert sorted(keys_of(links)) == sorted(key(*r) for r in rows)


@settings(max_examples=50, deadline=None)
@given(st.lists(parts, min_size=1, max_size=40, unique=True), st.data())
def test_keys_too_wide_to_pack_are_numbered(rows: list[Part], data: st.DataObject) -> None:
    parents = parents_for(data, rows)
    links = links_of(rows, parents)
    packed = parent_rows(links)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tree, "KEY_BITS", 0)
        assert tree._packed_keys(*_parts(links)) is None
        assert parent_rows(links) == packed == expected(links, rows, parents)


def _parts(links: pa.Table) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, int]:
    """What link_keys packs: (machine number, pid, ms) of each row and of its parent."""
    names = links["machine"].to_pylist()
    number = {m: i for i, m in enumerate(dict.fromkeys(names))}
    machine = np.array([number[m] for m in names], np.int64)
    return ([machine, links["i_pid"].to_numpy(), links["i_ms"].to_numpy()],
            [machine, links["p_pid"].to_numpy(), links["p_ms"].to_numpy()],
            links["parent"].to_numpy(), len(number))


def test_a_parent_that_started_before_1970_is_found() -> None:
    """A damaged clock gives negative start times: the packed keys stay non-negative."""
    rows = [(0, -5, ""), (3, 7, "")]
    parents = [None, rows[0]]
    links = links_of(rows, parents)
    assert tree._packed_keys(*_parts(links)) is not None
    assert parent_rows(links) == expected(links, rows, parents) == [-1, 0]


def test_a_process_without_a_start_is_in_no_tree() -> None:
    con = duckdb.connect()
    con.execute(next(f.text for f in sql_files() if f.name == "01_constants.sql"))
    con.execute("CREATE VIEW processes AS SELECT '5@1' AS instance, NULL AS parent_instance, "
                "NULL::TIMESTAMPTZ AS start_time, 5::UINTEGER AS pid, 0 AS sid, '' AS machine")
    assert con.sql(_LINKS.format(named="true", **_BY_FORK)).fetchall() == []


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
