"""What a record says about processes: the event sets and the child-pid rules, once.

Both process models read this: the SQL views (as the macros of :func:`sql_macros`, a
generated file among ``knox_analytics/sql/*.sql``) and the live tracker
(:mod:`knox_analytics.live.proc`, through the Python functions below).

The rules, as the kernels write the records (OpenBSM ``audit_bsm.c``, xnu):

* A fork-family record is written in the parent; the child's pid is its ``child PID``
  argument or, failing that, the return value (fork(2) returns the child's pid).
* A posix_spawn record is written in the spawner; the child's pid is its ``child PID``
  argument, present only when a child was created.  A *successful* posix_spawn without
  it is ``POSIX_SPAWN_SETEXEC`` (launchd -> xpcproxy -> daemon on macOS): an exec in
  place, the subject's own pid runs the program and no process is created.
* An exec record (execve and kin) runs the program in the subject's pid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Event names (audit_event) that create a process, from the parent's side.
FORK_EVENTS = ("AUE_FORK", "AUE_VFORK", "AUE_FORK1", "AUE_RFORK", "AUE_PDFORK")
#: posix_spawn: creates a child running a program, or (SETEXEC) re-images the caller.
SPAWN_EVENTS = ("AUE_POSIX_SPAWN",)
#: Replace the subject's image.
EXEC_EVENTS = ("AUE_EXECVE", "AUE_MAC_EXECVE", "AUE_FEXECVE", "AUE_EXEC")
#: End a process.
EXIT_EVENTS = ("AUE_EXIT",)
#: Records that load a program image (the ``execs`` view, ``knox commands``).
IMAGE_EVENTS = EXEC_EVENTS + SPAWN_EVENTS
#: Name of the argument token that names a created child.
CHILD_PID_ARG = "child PID"

Row = Mapping[str, Any]


def child_pid(row: Row) -> int | None:
    """The pid a fork or posix_spawn record created; None when it created none (a
    SETEXEC spawn, a record of another event)."""
    event = row.get("event_name")
    if event not in FORK_EVENTS and event not in SPAWN_EVENTS:
        return None
    for arg in row.get("args") or ():
        if arg["name"] == CHILD_PID_ARG:
            return int(arg["value"])
    value = row.get("return_value")
    if event in FORK_EVENTS and value is not None and value > 0:
        return int(value)
    return None


def is_exec_in_place(row: Row) -> bool:
    """A successful posix_spawn that created no child (``POSIX_SPAWN_SETEXEC``)."""
    return (row.get("event_name") in SPAWN_EVENTS and row.get("success") is not False
            and child_pid(row) is None)


def exec_pid(row: Row) -> int | None:
    """The pid that runs the program an image record loads: the child of a posix_spawn,
    the subject of an exec or of an exec in place; None for a failed spawn (no process
    runs the program)."""
    if row.get("event_name") in SPAWN_EVENTS and not is_exec_in_place(row):
        return child_pid(row)
    return row.get("pid")


def spawner_pid(row: Row) -> int | None:
    """The pid that spawned the process running the program: the subject of a
    posix_spawn that is not an exec in place, else None (a forking parent is found
    from the process instances)."""
    if row.get("event_name") in SPAWN_EVENTS and not is_exec_in_place(row):
        return row.get("pid")
    return None


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def sql_macros() -> str:
    """The DuckDB macros of the rules above (each body self-contained: the Spark
    generator inlines one macro level, see :mod:`knox_analytics.spark.sqlgen`)."""
    arg = (f"CAST(list_filter(args, lambda a: a.name = '{CHILD_PID_ARG}')[1].value "
           "AS UINTEGER)")
    fork, spawn = _in(FORK_EVENTS), _in(SPAWN_EVENTS)
    child = (f"COALESCE({arg}, CASE WHEN event_name IN {fork} AND return_value > 0 "
             "THEN CAST(return_value AS UINTEGER) END)")
    in_place = f"(event_name IN {spawn} AND success AND {arg} IS NULL)"
    return f"""\
-- Question: what does a record say about processes (which events fork, spawn, exec, exit;
-- which pid a fork or spawn created; which pid runs the program an exec loads)?
-- Generated from knox_analytics/bsm/process_events.py (its docstring states the rules);
-- the live tracker (live/proc.py) reads the same data.
-- is_fork_event / is_spawn_event / is_exec_event / is_image_event / is_exit_event(event_name)
-- child_pid_of(event_name, args, return_value): the pid a fork or spawn created, or NULL
-- exec_pid_of(event_name, args, pid, success): the pid that runs the loaded program
-- spawner_pid_of(event_name, args, pid, success): the spawner of that pid, or NULL
CREATE OR REPLACE MACRO is_fork_event(event_name) AS event_name IN {fork};

CREATE OR REPLACE MACRO is_spawn_event(event_name) AS event_name IN {spawn};

CREATE OR REPLACE MACRO is_exec_event(event_name) AS event_name IN {_in(EXEC_EVENTS)};

CREATE OR REPLACE MACRO is_image_event(event_name) AS event_name IN {_in(IMAGE_EVENTS)};

CREATE OR REPLACE MACRO is_exit_event(event_name) AS event_name IN {_in(EXIT_EVENTS)};

CREATE OR REPLACE MACRO child_pid_of(event_name, args, return_value) AS
    CASE WHEN event_name IN {fork} OR event_name IN {spawn} THEN {child} END;

CREATE OR REPLACE MACRO exec_pid_of(event_name, args, pid, success) AS
    CASE WHEN event_name IN {spawn} AND NOT {in_place} THEN {arg} ELSE pid END;

CREATE OR REPLACE MACRO spawner_pid_of(event_name, args, pid, success) AS
    CASE WHEN event_name IN {spawn} AND NOT {in_place} THEN pid END;
"""
