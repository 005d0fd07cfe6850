"""Process state is per machine: in a dataset of several hosts a pid of one host is never
the process, the parent or the child of the same pid on another.

A machine is the set of hosts one input's records name (knox_analytics/store/machines.py):
a ``--host`` label with the addresses its records carry, or an address alone.  Before
machines were kept, the process views joined pids across hosts: the same trail converted
for two labelled Macs gave each process of one the other's records and parents, and the
keychain rule fired 6 times instead of twice
(tests/detect/test_detect_cli.py::test_the_keychain_rule_fires_once_per_machine).
"""

from __future__ import annotations

import json
from itertools import permutations
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from knoxtest import WORKDAY, WORKLOAD

from knox_analytics import Catalog
from knox_analytics.bsm.reader import read_trail
from knox_analytics.convert import convert
from knox_analytics.derived.plan import machines_moved
from knox_analytics.schema import FILE_TOKEN_ROW
from knox_analytics.store import DatasetWriter
from knox_analytics.store.machines import add_input, machine_names, machine_sql

PROCESS_COLUMNS = ("instance", "pid", "ppid", "parent_instance", "start_time", "command",
                   "exit_time", "records")


def processes(cat: Catalog, where: str = "true") -> list[tuple]:
    cols = ", ".join(PROCESS_COLUMNS)
    return sorted(cat.sql(f"SELECT {cols} FROM processes WHERE {where}").fetchall(),
                  key=repr)


def unqualified(rows: list[tuple], machine: str) -> list[tuple]:
    """``rows`` with '@<machine>' taken off their instance keys."""
    def plain(v: object) -> object:
        return v.removesuffix(f"@{machine}") if isinstance(v, str) and "@" in v else v
    return sorted((tuple(plain(v) for v in row) for row in rows), key=repr)


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    """The processes of the address-less workload converted on its own."""
    root = tmp_path_factory.mktemp("alone") / "ds"
    convert([WORKLOAD], root)
    with Catalog([root]) as cat:
        return processes(cat)


def test_one_trail_for_two_labelled_hosts_is_two_machines(tmp_path: Path,
                                                          alone: list[tuple]) -> None:
    root = tmp_path / "fleet"
    convert([WORKLOAD], root, host="mac-a")
    convert([WORKLOAD], root, host="mac-b")
    with Catalog([root]) as cat:
        for machine in ("mac-a", "mac-b"):
            mine = processes(cat, f"instance LIKE '%@{machine}'")
            assert unqualified(mine, machine) == alone
        assert len(processes(cat)) == 2 * len(alone)
        # every parent is on its child's machine
        assert cat.sql("SELECT count(*) FROM processes WHERE parent_instance IS NOT NULL "
                       "AND split_part(parent_instance, '@', 3) <> split_part(instance, '@', 3)"
                       ).fetchall() == [(0,)]
        counts = dict(cat.sql("SELECT machine, count(*) FROM activity "
                              "WHERE instance IS NULL GROUP BY ALL").fetchall())
    with Catalog([WORKLOAD]) as cat:
        orphan_records = cat.sql("SELECT count(*) FROM activity WHERE instance IS NULL"
                                 ).fetchall()[0][0]
    assert counts == {"mac-a": orphan_records, "mac-b": orphan_records} or (
        orphan_records == 0 and counts == {})


def _with_host(table: pa.Table, host: str) -> pa.Table:
    """``table``'s audit records as written by a header_ex of ``host``."""
    keep = pc.not_equal(table.column("header_token"), FILE_TOKEN_ROW).fill_null(True)
    hosts = pc.if_else(keep, pa.scalar(host), table.column("host"))
    return table.set_column(table.schema.get_field_index("host"), "host", hosts)


def test_unlabelled_hosts_told_apart_by_address_are_machines(tmp_path: Path,
                                                             alone: list[tuple]) -> None:
    """Two Macs whose records all carry their address (header32_ex), converted without a
    label: each address is its own machine."""
    root = tmp_path / "fleet"
    decoded = pa.concat_tables(r.table for r in read_trail(WORKLOAD))
    for host in ("10.0.0.1", "10.0.0.2"):
        with DatasetWriter(root) as writer:
            writer.write(_with_host(decoded, host))
            writer.end_input()
            writer.commit()
    with Catalog([root]) as cat:
        for host in ("10.0.0.1", "10.0.0.2"):
            assert unqualified(processes(cat, f"instance LIKE '%@{host}'"), host) == alone
        assert len(processes(cat)) == 2 * len(alone)


def test_one_machine_writing_several_header_kinds_stays_one(tmp_path: Path) -> None:
    """The generated workday mixes header32 and header32_ex records of two addresses (an
    IPv4 and an IPv6 one): labelled or not, its processes are those of one machine."""
    plain, labelled = tmp_path / "plain", tmp_path / "labelled"
    convert([WORKDAY], plain)
    convert([WORKDAY], labelled, host="mac-a")
    with Catalog([plain]) as a, Catalog([labelled]) as b:
        assert {m for (m,) in a.sql("SELECT DISTINCT machine FROM records").fetchall()} == {""}
        assert {m for (m,) in b.sql("SELECT DISTINCT machine FROM records").fetchall()} == {
            "mac-a"}
        assert unqualified(processes(b), "mac-a") == processes(a)


def test_inputs_sharing_a_host_are_one_machine_in_any_order() -> None:
    inputs = [({"10.0.0.1", "unknown"}, None), ({"10.0.0.2"}, None),
              ({"10.0.0.3", "mac-c"}, "mac-c"), ({"10.0.0.2", "mac-b"}, "mac-b"),
              ({"10.0.0.4"}, None)]
    seen = set()
    for order in permutations(inputs):
        groups: list = []
        for hosts, label in order:
            groups = add_input(groups, hosts, label)
        seen.add(json.dumps(groups, sort_keys=True))
    [only] = seen
    names = machine_names(json.loads(only))
    assert names == {"10.0.0.1": "", "unknown": "", "10.0.0.2": "mac-b", "mac-b": "mac-b",
                     "10.0.0.3": "mac-c", "mac-c": "mac-c", "10.0.0.4": "10.0.0.4"}


def test_machine_sql_and_moves() -> None:
    assert machine_sql(None) == "''"
    assert "WHEN '10.0.0.2' THEN 'mac-b'" in machine_sql({"10.0.0.2": "mac-b",
                                                          "mac-b": "mac-b"})
    assert not machines_moved({"a": "a"}, {"a": "a", "b": "b"})  # a new host
    assert machines_moved({"a": "a"}, {"a": "", "unknown": ""})  # found to be one
    assert machines_moved(None, {})


def test_activity_is_one_row_per_record_when_two_inputs_share_a_name(tmp_path: Path) -> None:
    """``current`` before and after a rotation: two inputs with one name and records at
    the same offsets.  `activity` joined each record to its process on (source, offset)
    and so gave such a record twice, with the other trail's process half the time."""
    ds, current = tmp_path / "ds", tmp_path / "current"
    for trail in (WORKLOAD, WORKDAY):
        current.write_bytes(trail.read_bytes())
        convert([current], ds)
    with Catalog([ds]) as cat:
        events = cat.sql("SELECT count(*) FROM events").fetchall()[0][0]
        rows = cat.sql("SELECT count(*), count(DISTINCT record_id) FROM activity").fetchall()
    assert rows == [(events, events)]


@pytest.mark.parametrize("question", ["commands", "files", "errors", "network", "logins",
                                      "events"])
def test_a_host_filter_selects_that_host_alone(tmp_path_factory: pytest.TempPathFactory,
                                               question: str) -> None:
    """`--host mac-b` over one trail converted for mac-a and mac-b: exactly the trail's
    answer, once.  Views without a host column were filtered through the records on
    (source, offset), which both hosts' records share: mac-b's filter kept mac-a's too."""
    from knox_analytics.questions import Filters, ask

    fleet = _labelled_fleet(tmp_path_factory)
    with Catalog([WORKLOAD]) as cat:
        alone = ask(cat, question).num_rows
    with Catalog([fleet]) as cat:
        assert ask(cat, question).num_rows == 2 * alone
        assert ask(cat, question, Filters(host="mac-b")).num_rows == alone > 0
        assert ask(cat, question, Filters(host="mac-b", invert=True)).num_rows == alone


_FLEET: list[Path] = []


def _labelled_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not _FLEET:
        root = tmp_path_factory.mktemp("labelled") / "fleet"
        convert([WORKLOAD], root, host="mac-a")
        convert([WORKLOAD], root, host="mac-b")
        _FLEET.append(root)
    return _FLEET[0]


def test_a_tree_stays_on_its_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``knox tree`` packs the machine into its link keys and reads the rows shown by pid:
    each machine's tree of a pid is the tree of that pid converted alone, with the
    machine's name on every key; reading the rows without the pid filter changes
    nothing."""
    from knox_analytics import tree

    root = tmp_path / "fleet"
    convert([WORKLOAD], root, host="mac-a")
    convert([WORKLOAD], root, host="mac-b")
    cols = ["root", "depth", "instance", "parent_instance", "pid", "command"]
    with Catalog([WORKLOAD]) as cat:
        pid = cat.sql("SELECT ppid FROM processes WHERE ppid IS NOT NULL GROUP BY ppid "
                      "ORDER BY count(*) DESC, ppid LIMIT 1").fetchall()[0][0]
        alone = tree.process_forest(cat, pid, limit=0).table.select(cols).to_pylist()
    assert len(alone) > 3
    with Catalog([root]) as cat:
        fleet = tree.process_forest(cat, pid, limit=0).table
        monkeypatch.setattr(tree, "PRUNE_PIDS", 0)
        assert tree.process_forest(cat, pid, limit=0).table.equals(fleet)
    for machine in ("mac-a", "mac-b"):
        mine = [r for r in fleet.to_pylist() if r["machine"] == machine]
        assert all(r["instance"].endswith(f"@{machine}") for r in mine)
        assert [{k: v.removesuffix(f"@{machine}") if isinstance(v, str) else v
                 for k, v in r.items() if k in cols} for r in mine] == alone
