"""The process rules are one: the SQL macros generated from bsm/process_events.py answer
as its Python functions (the live tracker's) do, on every kind of record."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from knox_analytics.bsm import process_events as pe
from knox_analytics.engine import GENERATED_PROCESS_SQL, sql_files
from knox_analytics.schema import SCHEMA

EVENTS = [*pe.FORK_EVENTS, *pe.SPAWN_EVENTS, *pe.EXEC_EVENTS, *pe.EXIT_EVENTS,
          "AUE_OPEN_R", "AUE_KILL", None]
ARG = st.fixed_dictionaries({
    "num": st.integers(0, 3),
    "value": st.integers(0, 2**32 - 1),
    "name": st.sampled_from([pe.CHILD_PID_ARG, "flags", "signal"]),
})
ROW = st.fixed_dictionaries({
    "event_name": st.sampled_from(EVENTS),
    "pid": st.one_of(st.none(), st.integers(0, 99999)),
    "args": st.one_of(st.none(), st.lists(ARG, max_size=3)),
    "return_value": st.one_of(st.none(), st.integers(-1, 99999)),
    "success": st.one_of(st.none(), st.booleans()),
})


def _table(rows: list[dict]) -> pa.Table:
    schema = pa.schema([SCHEMA.field(c) for c in
                        ("event_name", "pid", "args", "return_value", "success")])
    return pa.Table.from_pylist(rows, schema=schema)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(ROW, min_size=1, max_size=30))
def test_sql_macros_follow_the_python_rules(rows: list[dict]) -> None:
    con = duckdb.connect()
    con.execute(pe.sql_macros())
    records = _table(rows)  # noqa: F841 (read by DuckDB by name)
    got = con.sql("""
        SELECT child_pid_of(event_name, args, return_value),
               exec_pid_of(event_name, args, pid, success),
               spawner_pid_of(event_name, args, pid, success),
               is_fork_event(event_name) OR is_spawn_event(event_name),
               is_image_event(event_name), is_exit_event(event_name)
        FROM records""").fetchall()
    want = [(pe.child_pid(r), pe.exec_pid(r), pe.spawner_pid(r),
             None if r["event_name"] is None else
             r["event_name"] in pe.FORK_EVENTS + pe.SPAWN_EVENTS,
             None if r["event_name"] is None else r["event_name"] in pe.IMAGE_EVENTS,
             None if r["event_name"] is None else r["event_name"] in pe.EXIT_EVENTS)
            for r in rows]
    assert got == want


def test_setexec_is_an_exec_in_place() -> None:
    setexec = {"event_name": "AUE_POSIX_SPAWN", "pid": 777, "args": [], "success": True}
    assert pe.child_pid(setexec) is None and pe.is_exec_in_place(setexec)
    assert pe.exec_pid(setexec) == 777 and pe.spawner_pid(setexec) is None
    spawn = {**setexec, "args": [{"name": pe.CHILD_PID_ARG, "value": 778}]}
    assert (pe.exec_pid(spawn), pe.spawner_pid(spawn)) == (778, 777)
    failed = {**setexec, "success": False}  # no process runs a failed spawn's program
    assert (pe.exec_pid(failed), pe.spawner_pid(failed)) == (None, 777)
    fork = {"event_name": "AUE_FORK", "pid": 1, "return_value": 779, "success": True}
    assert pe.child_pid(fork) == 779


def test_the_generated_macros_are_among_the_sql_files() -> None:
    generated = [f for f in sql_files() if f.name == GENERATED_PROCESS_SQL]
    assert [f.text for f in generated] == [pe.sql_macros()]
    assert {"child_pid_of", "exec_pid_of", "spawner_pid_of"} <= set(generated[0].defines)
