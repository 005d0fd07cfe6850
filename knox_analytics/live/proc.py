"""Process tracking over a record stream: ``paudit`` (records of named processes and their
descendants) and ``pwait`` (wait for a named process to exec).

Pids come from the decoded columns, so every subject/process token variant (32/64 bit,
``_ex`` with IPv4/IPv6 terminal) is handled alike (knox handled only 32-bit tokens).
A fork's child pid is its ``child PID`` argument or, failing that, the return value (the
kernel records fork from the parent's side); posix_spawn names the child in its argument
and the program in its path, so the spawned child is what a name matches.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

#: Event names (audit_event) that create a process, replace its image, or end it.
FORK_EVENTS = frozenset(("AUE_FORK", "AUE_VFORK", "AUE_RFORK", "AUE_FORK1", "AUE_PDFORK"))
SPAWN_EVENTS = frozenset(("AUE_POSIX_SPAWN",))
EXEC_EVENTS = frozenset(("AUE_EXECVE", "AUE_EXEC", "AUE_MAC_EXECVE", "AUE_FEXECVE"))
EXIT_EVENTS = frozenset(("AUE_EXIT",))
#: Columns the trackers read from each decoded row.
COLUMNS = ("offset", "length", "time", "event_name", "pid", "auid", "euid", "argv", "paths",
           "args", "processes", "return_value", "success")


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` with just the columns the trackers need."""
    return table.select(list(COLUMNS)).to_pylist()


def program_name(row: dict[str, Any]) -> str | None:
    """Basename of the exec'd program: its path token, else ``argv[0]``."""
    if row.get("paths"):
        return os.path.basename(row["paths"][0])
    if row.get("argv"):
        return os.path.basename(row["argv"][0])
    return None


def child_pid(row: dict[str, Any]) -> int | None:
    """The pid a fork/posix_spawn record created, when it says."""
    for arg in row.get("args") or ():
        if arg["name"] == "child PID":
            return int(arg["value"])
    procs = row.get("processes") or ()
    if procs:
        return int(procs[0]["pid"])
    if row.get("event_name") in FORK_EVENTS and (row.get("return_value") or 0) > 0:
        return int(row["return_value"])
    return None


def is_exec(row: dict[str, Any]) -> bool:
    """An execve/posix_spawn-like record (it names a program)."""
    return row.get("event_name") in EXEC_EVENTS | SPAWN_EVENTS


def exec_pid(row: dict[str, Any]) -> int | None:
    """Pid of the process running the exec'd program (the child for posix_spawn)."""
    return child_pid(row) if row.get("event_name") in SPAWN_EVENTS else row.get("pid")


@dataclass
class ProcessTracker:
    """Follows ``names`` and their descendants through a stream of decoded rows.

    >>> t = ProcessTracker({"zsh"})
    >>> t.observe({"event_name": "AUE_EXECVE", "pid": 7, "paths": ["/bin/zsh"]})
    True
    """

    names: set[str]
    tracked: set[int] = field(default_factory=set)
    parents: dict[int, int] = field(default_factory=dict)

    def observe(self, row: dict[str, Any]) -> bool:
        """Update the tracked set with ``row``; True when the record is of a tracked process."""
        event, pid = row.get("event_name"), row.get("pid")
        mine = pid in self.tracked
        if event in FORK_EVENTS | SPAWN_EVENTS and row.get("success") is not False:
            child = child_pid(row)
            if child is not None and pid is not None:
                self.parents[child] = pid
                if mine or (event in SPAWN_EVENTS and program_name(row) in self.names):
                    self.tracked.add(child)
                    mine = True
        elif event in EXEC_EVENTS and row.get("success") is not False:
            if program_name(row) in self.names and pid is not None:
                self.tracked.add(pid)
                mine = True
        elif event in EXIT_EVENTS and mine:
            self.tracked.discard(pid)  # the pid may be reused by an unrelated process
        return mine


def select_records(chunk: bytes, base_offset: int, table_rows: Iterable[dict[str, Any]],
                   tracker: ProcessTracker) -> Iterator[bytes]:
    """The raw bytes of the records of ``chunk`` that belong to tracked processes."""
    for row in table_rows:
        if tracker.observe(row):
            start = row["offset"] - base_offset
            yield chunk[start:start + row["length"]]


def first_exec(table_rows: Iterable[dict[str, Any]], names: set[str]) -> dict[str, Any] | None:
    """The first successful exec of a program named in ``names`` (for pwait)."""
    for row in table_rows:
        if is_exec(row) and row.get("success") is not False and program_name(row) in names:
            return row
    return None


def paudit(names: Iterable[str], source: str | None = None, *, follow: bool = False,
           stop: Any = None, on_stats: Any = None) -> Iterator[bytes]:
    """Raw records of processes named ``names`` and their descendants, as they arrive.

    >>> for record in paudit(["sshd"], source="/tmp/audit.fifo"):  # doctest: +SKIP
    ...     sys.stdout.buffer.write(record)
    """
    from knox_analytics.live.stream import live_chunks

    tracker = ProcessTracker(set(names))
    for chunk in live_chunks(source, follow=follow, stop=stop, on_stats=on_stats):
        yield from select_records(chunk.data, chunk.offset, rows(chunk.table), tracker)


def pwait(names: Iterable[str], source: str | None = None, *,
          timeout: float | None = None) -> dict[str, Any] | None:
    """Block until a program named in ``names`` execs; its row, or None on timeout/end.

    >>> pwait(["make"], source="/tmp/audit.fifo", timeout=5)  # doctest: +SKIP
    """
    import time

    from knox_analytics.live.stream import live_chunks

    wanted = set(names)
    deadline = None if timeout is None else time.monotonic() + timeout
    for chunk in live_chunks(source, deadline=deadline):
        row = first_exec(rows(chunk.table), wanted)
        if row is not None:
            return {**row, "pid": exec_pid(row)}
    return None
