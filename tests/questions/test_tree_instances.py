"""``knox tree --command`` roots only at the instances running that command, not at every
process that ever had one of their pids (pid reuse).  Fixture: sample_trails/generated-workday.bsm
(deterministic workload, seed 1: pid 318 runs `mv` at 08:14 and, reused, `make` at 12:12)."""

from __future__ import annotations

from knoxtest import WORKDAY

from knox_analytics.catalog import Catalog
from knox_analytics.questions import process_tree


def test_tree_by_command_roots_at_matching_instances_only() -> None:
    with Catalog([WORKDAY]) as cat:
        forest = process_tree(cat, command="make").to_pylist()
        roots = {r["instance"] for r in forest if r["depth"] == 0}
        commands = {r["command"] for r in forest if r["depth"] == 0}
        assert commands == {"make"} and len(roots) > 1
        by_pid = process_tree(cat, pid=318).to_pylist()
    # the pid itself names both incarnations
    assert {r["command"] for r in by_pid if r["depth"] == 0} == {"mv", "make"}
