"""``knox tree`` costs what it shows: ``--depth``, a default ``--limit`` whose note says
what was left out, trees in the time order of their roots, and the same rows as the SQL
``process_forest`` macro when nothing is cut.

Fixtures: ``sample_trails/generated-workday.bsm`` (provenance in tests/data/trails/README.md)
and a synthetic trail written here by the workload simulator's machine: one shell that
forks 100,000 children.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from random import Random

import pytest
from knoxtest import WORKDAY
from typer.testing import CliRunner

from knox_analytics.catalog import Catalog
from knox_analytics.cli.main import app
from knox_analytics.cli.questions import draw_tree
from knox_analytics.convert import convert
from knox_analytics.testing.machine import ALICE, Machine
from knox_analytics.testing.simulation import Simulation
from knox_analytics.tree import TREE_LIMIT, process_forest

CHILDREN = 100_000


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A dataset where one shell forks 100,000 children (each exits at once)."""
    out = io.BytesIO()
    machine = Machine(out, None, Random(1), 1_772_438_400_000, ["10.0.0.1"])
    sim = Simulation(machine, Random(1), 1000.0)
    shell = machine.new_proc(None, "/bin/zsh", user=ALICE, auid=ALICE.uid)
    for _ in range(CHILDREN):
        child = sim.start_child(shell)
        machine.now += 1
        sim.exit(child)
    machine.flush()
    trail = tmp_path_factory.mktemp("wide") / "wide.bsm"
    trail.write_bytes(out.getvalue())
    root = trail.parent / "ds"
    convert([trail], root, derive=False)
    return root, shell.pid


def test_a_process_with_100k_children_answers_with_its_limit_note(
        wide: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    root, pid = wide
    with Catalog([root]) as cat:
        forest = process_forest(cat, pid)
    assert forest.table.num_rows == TREE_LIMIT  # rows read in full: only those shown
    assert forest.found == CHILDREN + 1
    assert forest.left_out == CHILDREN + 1 - TREE_LIMIT
    assert f"showing {TREE_LIMIT:,} of {CHILDREN + 1:,} processes" in forest.note()
    assert forest.children[forest.table["instance"][0].as_py()] == CHILDREN
    draw_tree(forest.table, forest.children)
    drawn = capsys.readouterr().out
    assert f"… {CHILDREN - TREE_LIMIT + 1:,} more not shown" in drawn
    assert drawn.count("\n") == TREE_LIMIT + 1


def test_depth_zero_counts_the_children_it_leaves_out(wide: tuple[Path, int]) -> None:
    root, pid = wide
    with Catalog([root]) as cat:
        forest = process_forest(cat, pid, depth=0)
    assert forest.table.num_rows == 1 and forest.deeper == CHILDREN
    assert f"{CHILDREN:,} processes deeper than --depth 0" in forest.note()


def test_tree_cli_prints_the_note_on_stderr(wide: tuple[Path, int]) -> None:
    root, pid = wide
    result = CliRunner().invoke(app, ["tree", str(root), "--pid", str(pid), "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert f"showing 5 of {CHILDREN + 1:,} processes" in result.stderr
    assert result.stdout.count("\n") == 6  # the shell, 4 children, the "more" line


def _sql_forest(cat: Catalog, pids: list[int]) -> set[tuple]:
    return set(cat.sql("SELECT root, depth, instance FROM process_forest(?)",
                       [pids]).fetchall())


def test_unbounded_trees_are_the_sql_forest_in_time_order() -> None:
    with Catalog([WORKDAY]) as cat:
        pids = [r[0] for r in cat.sql("SELECT DISTINCT pid FROM processes ORDER BY 1"
                                      ).fetchall()][::7]
        for pid in pids:
            forest = process_forest(cat, pid, limit=0)
            got = forest.table.select(["root", "depth", "instance"]).to_pylist()
            assert {tuple(r.values()) for r in got} == _sql_forest(cat, [pid])
            assert forest.found == len(got) and forest.note() is None
            starts = forest.table.to_pylist()
            roots = [r["start_time"] for r in starts if r["depth"] == 0]
            assert roots == sorted(roots)  # trees in the time order of their roots
            for a, b in itertools.pairwise(starts):
                if a["root"] == b["root"]:  # within a tree: by level, then start time
                    assert (a["depth"], a["start_time"]) <= (b["depth"], b["start_time"])


def test_depth_keeps_the_levels_asked_for_and_counts_the_next() -> None:
    with Catalog([WORKDAY]) as cat:
        full = process_forest(cat, 302, limit=0).table.to_pylist()
        cut = process_forest(cat, 302, depth=1, limit=0)
    assert {r["instance"] for r in cut.table.to_pylist()} == \
        {r["instance"] for r in full if r["depth"] <= 1}
    assert cut.deeper == sum(1 for r in full if r["depth"] == 2) > 0
