"""Process tracking over a record stream: ``paudit`` (records of named processes and their
descendants) and ``pwait`` (wait for a named process to exec).

Pids come from the decoded columns, so every subject/process token variant (32/64 bit,
``_ex`` with IPv4/IPv6 terminal) is handled alike (knox handled only 32-bit tokens).
Which events fork, spawn, exec and exit, which pid a record created and which pid runs
a program are the rules of :mod:`knox_analytics.bsm.process_events`, the same the SQL
views use: a posix_spawn names the child it created, and the spawned child is what a
name matches; one without a child (``POSIX_SPAWN_SETEXEC``, how launchd starts daemons
on macOS) is an exec in place: the subject's pid runs the program.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from knox_analytics.bsm.process_events import (
    EXEC_EVENTS,
    EXIT_EVENTS,
    FORK_EVENTS,
    IMAGE_EVENTS,
    SPAWN_EVENTS,
    child_pid,
    exec_pid,
    is_exec_in_place,
)

if TYPE_CHECKING:  # the tracker itself needs no pyarrow (FreeBSD installs, docs/real-hosts.md)
    import pyarrow as pa

#: Columns the trackers read from each decoded row.
COLUMNS = ("offset", "length", "time", "event_name", "pid", "auid", "euid", "argv", "paths",
           "args", "return_value", "success")
_STARTS = frozenset(FORK_EVENTS + SPAWN_EVENTS)
_EXECS = frozenset(EXEC_EVENTS)
_EXITS = frozenset(EXIT_EVENTS)
_IMAGES = frozenset(IMAGE_EVENTS)


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


def is_exec(row: dict[str, Any]) -> bool:
    """An execve/posix_spawn-like record (it names a program)."""
    return row.get("event_name") in _IMAGES


#: Most pids the tracker remembers a parent for.  Pids are bounded by the kernel
#: (99999 on macOS and FreeBSD, pid_max on Linux), and an entry goes on exit; the cap
#: bounds memory even on a stream that never shows exits (a month-long run).
MAX_REMEMBERED = 1 << 17


@dataclass
class Process:
    """A running process as the platform's process list shows it (for seeding)."""

    pid: int
    ppid: int
    name: str


@dataclass
class ProcessTracker:
    """Follows ``names`` and their descendants through a stream of decoded rows.

    A tracked pid is dropped when the process exits, and also when a fork/spawn from a
    process that is not tracked announces the same pid: the tracked process died without
    an exit record (killed by a signal) and the pid now belongs to an unrelated process.
    So ``tracked`` holds at most one entry per live pid, and ``parents`` (kept for the
    ``ppid`` of live ``commands``) at most ``max_remembered``, oldest dropped first.

    >>> t = ProcessTracker({"zsh"})
    >>> t.observe({"event_name": "AUE_EXECVE", "pid": 7, "paths": ["/bin/zsh"]})
    True
    """

    names: set[str]
    tracked: set[int] = field(default_factory=set)
    parents: dict[int, int] = field(default_factory=dict)
    max_remembered: int = MAX_REMEMBERED

    def seed(self, processes: Iterable[Process], pids: Iterable[int] = ()) -> set[int]:
        """Track running processes named in ``names`` or listed in ``pids``, and all their
        running descendants; returns the pids now tracked."""
        procs = list(processes)
        for p in procs:
            self._remember(p.pid, p.ppid)
        self.tracked |= {p.pid for p in procs if os.path.basename(p.name) in self.names}
        self.tracked |= set(pids)
        children: dict[int, list[int]] = {}
        for p in procs:
            children.setdefault(p.ppid, []).append(p.pid)
        todo = list(self.tracked)
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in self.tracked:
                    self.tracked.add(child)
                    todo.append(child)
        return set(self.tracked)

    def _remember(self, child: int, parent: int) -> None:
        self.parents.pop(child, None)  # re-insert: the newest entries are kept longest
        self.parents[child] = parent
        while len(self.parents) > self.max_remembered:
            del self.parents[next(iter(self.parents))]

    def _forget(self, pid: int) -> None:
        self.tracked.discard(pid)
        self.parents.pop(pid, None)

    def observe(self, row: dict[str, Any]) -> bool:
        """Update the tracked set with ``row``; True when the record is of a tracked process."""
        event, pid = row.get("event_name"), row.get("pid")
        ok = row.get("success") is not False
        mine = pid in self.tracked
        if pid is None:
            return mine
        if event in _EXITS:
            self._forget(pid)  # the pid may be reused by an unrelated process
            return mine
        if not ok:  # a failed fork/exec changes nothing
            return mine
        if is_exec_in_place(row):
            return self._exec(row, pid, mine)  # SETEXEC: the caller becomes the program
        if event in _STARTS:
            return self._fork(row, pid, mine)
        if event in _EXECS:
            return self._exec(row, pid, mine)
        return mine

    def _exec(self, row: dict[str, Any], pid: int, mine: bool) -> bool:
        if program_name(row) in self.names:
            self.tracked.add(pid)
            return True
        return mine

    def _fork(self, row: dict[str, Any], pid: int, mine: bool) -> bool:
        child = child_pid(row)
        if child is None:
            return mine
        self._remember(child, pid)
        if mine or (row.get("event_name") in SPAWN_EVENTS and program_name(row) in self.names):
            self.tracked.add(child)
            return True
        self.tracked.discard(child)  # a reused pid: not the process we were following
        return False


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


ProcessList = Callable[[], Iterable[Process]]


def paudit(names: Iterable[str], source: str | None = None, *, follow: bool = False,
           stop: Any = None, on_stats: Any = None, pids: Iterable[int] = (),
           processes: ProcessList | None = None, sudo: bool = False) -> Iterator[bytes]:
    """Raw records of processes named ``names`` (or with a pid in ``pids``) and their
    descendants, as they arrive.

    ``processes`` lists the processes running now (the platform's process list, see
    :func:`knox_analytics.live.processes.list_processes`): those named, and their
    descendants, are followed from the first record on.  The list is taken after the
    source is open: a child forked in between is in the list or in the records (listed
    first, it would be in neither).  The source is closed when the iteration ends or the
    generator is closed; ``sudo``: see :func:`~knox_analytics.live.source.open_source`.

    >>> for record in paudit(["sshd"], source="/tmp/audit.fifo"):  # doctest: +SKIP
    ...     sys.stdout.buffer.write(record)
    """
    from knox_analytics.live.stream import live_chunks

    tracker = ProcessTracker(set(names))

    def seed() -> None:
        tracker.seed(processes() if processes is not None else (), pids)

    with closing(live_chunks(source, follow=follow, stop=stop, on_stats=on_stats,
                             on_open=seed, sudo=sudo)) as chunks:
        for chunk in chunks:
            yield from select_records(chunk.data, chunk.offset, rows(chunk.table), tracker)


def pwait(names: Iterable[str], source: str | None = None, *,
          timeout: float | None = None, sudo: bool = False) -> dict[str, Any] | None:
    """Block until a program named in ``names`` execs; its row, or None on timeout/end.

    The row's ``pid`` is the process running the program (see
    :func:`knox_analytics.bsm.process_events.exec_pid`).  The
    source is closed before returning: on macOS each open audit pipe holds one of a
    limited number of clones.

    >>> pwait(["make"], source="/tmp/audit.fifo", timeout=5)  # doctest: +SKIP
    """
    import time

    from knox_analytics.live.stream import live_chunks

    wanted = set(names)
    deadline = None if timeout is None else time.monotonic() + timeout
    with closing(live_chunks(source, deadline=deadline, sudo=sudo)) as chunks:
        for chunk in chunks:
            row = first_exec(rows(chunk.table), wanted)
            if row is not None:
                return {**row, "pid": exec_pid(row)}
    return None
