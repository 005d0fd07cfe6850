"""Live command lines: every exec as it happens (time, pid, ppid, user, argv).

``knox commands`` with no file calls :func:`live_commands`; with ``--follow`` on a trail it
follows the file as auditd appends to it.  Filters match the views' spellings: ``user``
(name or uid), ``pid``, ``command`` (program basename), ``failed``, ``since``/``until``.
"""

from __future__ import annotations

import pwd
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from knox_analytics.live.device import PipeStats
from knox_analytics.live.proc import (
    ProcessTracker,
    exec_pid,
    is_exec,
    program_name,
    rows,
)
from knox_analytics.live.stream import live_chunks

UNSET_AUID = 0xFFFFFFFF


def user_name(uid: int | None) -> str | None:
    """Local name of ``uid`` (the number as text when unknown; None when unset)."""
    if uid is None or uid == UNSET_AUID:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _user_matches(want: str, row: dict[str, Any]) -> bool:
    ids = {row.get("euid"), row.get("auid")}
    if want.isdigit():
        return int(want) in ids
    return want in {user_name(i) for i in ids if i is not None}


def command_row(row: dict[str, Any], parents: dict[int, int]) -> dict[str, Any]:
    """One output row of ``commands`` from a decoded exec record."""
    pid = exec_pid(row)
    ppid = row["pid"] if row.get("event_name") == "AUE_POSIX_SPAWN" else parents.get(pid)
    return {"time": row["time"], "pid": pid, "ppid": ppid, "user": user_name(row["euid"]),
            "auid": None if row["auid"] == UNSET_AUID else row["auid"],
            "command": program_name(row), "argv": row["argv"] or [], "success": row["success"]}


def make_filter(*, user: str | None = None, pid: int | None = None,
                command: str | None = None, failed: bool = False,
                since: datetime | None = None,
                until: datetime | None = None) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    """A predicate over (decoded row, output row)."""
    def keep(row: dict[str, Any], out: dict[str, Any]) -> bool:
        t = out["time"]
        return ((user is None or _user_matches(user, row))
                and (pid is None or out["pid"] == pid)
                and (command is None or out["command"] == command)
                and (not failed or out["success"] is False)
                and (since is None or (t is not None and t >= since))
                and (until is None or (t is not None and t < until)))
    return keep


def live_commands(source: str | None = None, follow: bool = False, *,
                  stop: Callable[[], bool] | None = None, poll: float = 0.25,
                  on_stats: Callable[[PipeStats], None] | None = None,
                  **filters: Any) -> Iterator[dict[str, Any]]:
    """Yield one dict per exec as records arrive (see module docstring for ``filters``).

    From the audit pipe, ``on_stats`` gets its drop/truncate counters every minute and at
    the end (print them: a live view that silently drops records misleads).

    >>> for c in live_commands(source="/tmp/audit.fifo", user="alice"):  # doctest: +SKIP
    ...     print(c["pid"], " ".join(c["argv"]))
    """
    keep = make_filter(**filters)
    tracker = ProcessTracker(set())  # tracks no names: used for its parent map
    for chunk in live_chunks(source, follow=follow, stop=stop, poll=poll, on_stats=on_stats):
        for row in rows(chunk.table):
            tracker.observe(row)
            if is_exec(row):
                out = command_row(row, tracker.parents)
                if keep(row, out):
                    yield out
