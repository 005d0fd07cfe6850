"""The question commands as library functions: one view, one set of filters.

``knox commands|files|errors|tree|network|logins|events`` are thin wrappers over these::

    >>> with Catalog(["audit-parquet"]) as cat:                       # doctest: +SKIP
    ...     ask(cat, "commands", Filters(user="alice", failed=True)).to_pylist()

:class:`Filters` is defined once and means the same on every view; a filter on a column
a view does not have is refused (UsageError) rather than silently ignored.  The mapping
from auditreduce(1) flags is in ``docs/questions.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from knox_analytics.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pyarrow as pa

    from knox_analytics.catalog import Catalog

#: What each question shows (columns of its view), in display order.
QUESTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "commands": ("commands", ("time", "pid", "ppid", "user", "euser", "success",
                              "errno_name", "command_line")),
    "files": ("file_access", ("time", "pid", "user", "euser", "command", "operation",
                              "path", "path2", "open_flags", "success", "errno_name")),
    "errors": ("errors", ("time", "errno_name", "event_name", "pid", "user", "euser",
                          "command", "path")),
    "network": ("network", ("time", "pid", "user", "euser", "command", "operation",
                            "family", "local_addr", "local_port", "remote_addr",
                            "remote_port", "success", "errno_name")),
    "logins": ("logins", ("time", "user", "euser", "operation", "tid_addr", "text",
                          "success", "errno_name")),
    "events": ("events", ("time", "event_name", "event_classes", "user", "euser", "pid",
                          "path", "success", "errno_name")),
    "processes": ("processes", ("start_time", "pid", "ppid", "user", "command",
                                "exit_time", "exit_status", "instance", "parent_instance")),
}
ERROR_GROUPS = ("errno", "command", "path")


@dataclass(frozen=True)
class Filters:
    """The shared selection: every field narrows the rows; None / False = no filter.

    ``since``/``until`` take ISO 8601 (``2026-03-01T09:00``), auditreduce's
    ``YYYYMMDD[HH[MM[SS]]]`` or a relative ``30m``/``2h``/``7d`` (ago); times are UTC
    unless they carry an offset.  ``user`` is a name or a uid (matched against the login,
    effective and real user); ``command`` and ``path`` are glob patterns (``*``, ``?``)
    over the base name or full path; ``classes`` is an audit_control(5) class expression
    (``pc,+fc,-fr``: ``+`` successes only, ``-`` failures only); ``events`` are names
    (``execve``, ``AUE_EXECVE``) or numbers.
    """

    since: str | None = None
    until: str | None = None
    user: str | None = None
    pid: int | None = None
    command: str | None = None
    path: str | None = None
    failed: bool = False
    classes: str | None = None
    events: tuple[str, ...] = field(default_factory=tuple)

    def where(self, columns: set[str], view: str) -> tuple[str, list[Any]]:
        """SQL condition (with ``?`` parameters) selecting the rows of ``view``."""
        clauses: list[str] = []
        params: list[Any] = []
        for name, build in _BUILDERS:
            value = getattr(self, name)
            if value in (None, False, ()):
                continue
            need, clause, values = build(value)
            missing = need - columns
            if missing:
                raise UsageError(f"--{_flag(name)} does not apply to {view} (no column "
                                 f"{', '.join(sorted(missing))})")
            clauses.append(clause)
            params.extend(values)
        return (" AND ".join(f"({c})" for c in clauses) or "TRUE"), params


def _flag(name: str) -> str:
    return {"classes": "class", "events": "event"}.get(name, name)


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """A filter time: ISO 8601, ``YYYYMMDD[HH[MM[SS]]]`` or ``<n>s|m|h|d`` ago (UTC)."""
    now = now or datetime.now(UTC)
    rel = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if rel:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[rel.group(2)]
        return now - timedelta(**{unit: int(rel.group(1))})
    compact = re.fullmatch(r"(\d{8})(\d{2})?(\d{2})?(\d{2})?", text.strip())
    try:
        if compact:
            digits = text.strip().ljust(14, "0")
            return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(f"time {text!r}: expected ISO 8601 (2026-03-01T09:00), "
                         "YYYYMMDD[HH[MM[SS]]] or 30m / 2h / 7d") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _since(v: str) -> tuple[set[str], str, list[Any]]:
    return {"time"}, "time >= ?", [parse_time(v)]


def _until(v: str) -> tuple[set[str], str, list[Any]]:
    return {"time"}, "time < ?", [parse_time(v)]


def _user(v: str) -> tuple[set[str], str, list[Any]]:
    if v.isdigit():
        return {"auid", "euid"}, "auid = ? OR euid = ?", [int(v), int(v)]
    return {"user", "euid"}, '"user" = ? OR euid IN (SELECT uid FROM users WHERE name = ?)', \
        [v, v]


def _pid(v: int) -> tuple[set[str], str, list[Any]]:
    return {"pid"}, "pid = ?", [int(v)]


def _command(v: str) -> tuple[set[str], str, list[Any]]:
    return {"command", "command_path"}, "command GLOB ? OR command_path GLOB ?", [v, v]


def _path(v: str) -> tuple[set[str], str, list[Any]]:
    return {"path"}, "path GLOB ?", [v]


def _failed(_: bool) -> tuple[set[str], str, list[Any]]:
    return {"success"}, "success = false", []


def _classes(v: str) -> tuple[set[str], str, list[Any]]:
    from knox_analytics.bsm.classes import parse_classes

    mask = parse_classes(v)
    clause = ("(success AND event_name IN (SELECT name FROM audit_events WHERE (mask & ?) <> 0))"
              " OR (NOT success AND event_name IN "
              "(SELECT name FROM audit_events WHERE (mask & ?) <> 0))")
    return {"event_name", "success"}, clause, [mask.success, mask.failure]


def _events(v: tuple[str, ...]) -> tuple[set[str], str, list[Any]]:
    names = []
    for item in v:
        for part in item.split(","):
            part = part.strip()
            if part.isdigit():
                names.append(f"#{int(part)}")
            elif part:
                names.append(part.upper() if part.upper().startswith("AUE_")
                             else "AUE_" + part.upper())
    marks = ", ".join("?" for _ in names)
    clause = (f"upper(event_name) IN ({marks}) OR event_name IN (SELECT name FROM "
              f"audit_events WHERE '#' || event IN ({marks}))")
    return {"event_name"}, clause, names + names


_BUILDERS = (("since", _since), ("until", _until), ("user", _user), ("pid", _pid),
             ("command", _command), ("path", _path), ("failed", _failed),
             ("classes", _classes), ("events", _events))


def view_columns(cat: Catalog, view: str) -> set[str]:
    """The column names of a view (or table)."""
    return set(cat.sql(f"SELECT * FROM {view} LIMIT 0").columns)


def ask(cat: Catalog, question: str, filters: Filters = Filters(), *,
        limit: int | None = None, all_columns: bool = False,
        columns: Sequence[str] | None = None) -> pa.Table:
    """Answer a question (a key of :data:`QUESTIONS`) with the filters applied.

    ``columns`` chooses the columns shown (any of the view's, in that order) instead of
    the question's own; an unknown name is refused with the nearest ones."""
    if question not in QUESTIONS:
        raise UsageError(f"unknown question {question!r}; expected one of "
                         f"{', '.join(QUESTIONS)}")
    view, shown = QUESTIONS[question]
    have = view_columns(cat, view)
    where, params = filters.where(have, view)
    order = "start_time" if view == "processes" else 'time, "offset"'
    if columns:
        shown = tuple(_known_columns(columns, have, view))
    cols = "*" if all_columns else ", ".join(f'"{c}"' for c in shown)
    sql = f"SELECT {cols} FROM {view} WHERE {where} ORDER BY {order}"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return cat.query(sql, params)


def _known_columns(columns: Sequence[str], have: set[str], view: str) -> list[str]:
    import difflib

    for name in columns:
        if name not in have:
            near = difflib.get_close_matches(name, sorted(have), n=3)
            hint = f"did you mean {', '.join(near)}?" if near else \
                f"{view} has {', '.join(sorted(have))}"
            raise UsageError(f"--columns {name}: no such column of {view}; {hint}")
    return list(columns)


def errors_by(cat: Catalog, by: str, filters: Filters = Filters()) -> pa.Table:
    """Failed records summarised by ``errno``, ``command`` or ``path``, after filtering."""
    if by not in ERROR_GROUPS:
        raise UsageError(f"--by {by!r}: expected one of {', '.join(ERROR_GROUPS)}")
    where, params = filters.where(view_columns(cat, "errors"), "errors")
    if params or where != "TRUE":
        cat.sql(f"CREATE OR REPLACE TEMP TABLE _filtered_errors AS "
                f"SELECT * FROM errors WHERE {where}", params).fetchall()
        return cat.query(f"SELECT * FROM summarize_errors_by_{by}('_filtered_errors')")
    return cat.query(f"SELECT * FROM errors_by_{by}")


def process_tree(cat: Catalog, pid: int | None = None, command: str | None = None
                 ) -> pa.Table:
    """Ancestors and descendants of the instances of ``pid`` (or of every instance whose
    command matches the glob ``command``), one row per (root, instance)."""
    if (pid is None) == (command is None):
        raise UsageError("tree: give a PID or --command NAME (one of them)")
    if pid is not None:
        return cat.query("SELECT * FROM process_tree(?)", [int(pid)])
    instances = [r[0] for r in cat.sql("SELECT instance FROM processes WHERE command GLOB ? "
                                       "ORDER BY start_time", [command]).fetchall()]
    return cat.query("SELECT * FROM process_forest_of(?::VARCHAR[])", [instances])


def event_list(cat: Catalog, filters: Filters = Filters(), *, seen: bool = False
               ) -> pa.Table:
    """The audit_event table (number, name, description, classes), optionally narrowed
    by ``--event`` names/numbers or a ``--class`` expression (either outcome); with
    ``seen``, only the events the input's records hold, with their ``records`` count."""
    clauses, params = ["TRUE"], []
    if filters.events:
        where, p = _events(filters.events)[1:]
        clauses.append(where.replace("event_name", "name"))
        params.extend(p)
    if filters.classes:
        from knox_analytics.bsm.classes import parse_classes

        mask = parse_classes(filters.classes)
        clauses.append("(mask & ?) <> 0")
        params.append(mask.success | mask.failure)
    if seen:
        return cat.query(
            "SELECT a.event, a.name, a.description, a.classes, r.records FROM audit_events "
            "AS a JOIN (SELECT event_name, count(*) AS records FROM records GROUP BY 1) AS r "
            f"ON r.event_name = a.name WHERE {' AND '.join(clauses)} ORDER BY a.event",
            params)
    return cat.query(f"SELECT event, name, description, classes FROM audit_events "
                     f"WHERE {' AND '.join(clauses)} ORDER BY event", params)


def class_list(cat: Catalog) -> pa.Table:
    """The audit_class table: class code, mask, description."""
    return cat.query("SELECT class, printf('0x%08x', mask) AS mask, description "
                     "FROM audit_classes ORDER BY mask")


# -- why an answer is empty ---------------------------------------------------------------
def why_empty(cat: Catalog, question: str, filters: Filters = Filters()) -> str:
    """One line saying why ``question`` found nothing: no records at all, an unknown user
    name (or names unknown without ``--users``), no such event, an event that is not of
    this question, or simply no match for the filters."""
    total = _count(cat, "SELECT count(*) FROM records")
    if not total:
        return "the input holds no records"
    for reason in (_why_user(cat, filters.user), *_why_events(cat, question, filters)):
        if reason:
            return reason
    if filters == Filters():
        return f"no {question} among the {total:,} records of the input"
    return f"no {question} matched the filters ({total:,} records in the input)"


def _count(cat: Catalog, sql: str, params: list[Any] | None = None) -> int:
    return int(cat.sql(sql, params).fetchall()[0][0])


def _why_user(cat: Catalog, user: str | None) -> str | None:
    if not user:
        return None
    if user.isdigit():
        n = _count(cat, "SELECT count(*) FROM records WHERE auid = ? OR euid = ? OR ruid = ?",
                    [int(user)] * 3)
        return None if n else f"--user {user}: no record of uid {user} in the input"
    if _count(cat, "SELECT count(*) FROM users WHERE name = ?", [user]):
        return None
    named = _count(cat, "SELECT count(*) FROM users")
    if named <= 1:  # only uid 0 (root) is known without --users
        return (f"--user {user}: user names are not known; give --users FILE (the passwd "
                "file of the machine that wrote the trail) or a uid")
    return f"--user {user}: no such user in --users (give a uid, or check the name)"


def _why_events(cat: Catalog, question: str, filters: Filters) -> list[str | None]:
    out: list[str | None] = []
    for given in (p.strip() for item in filters.events for p in item.split(",")):
        if not given:
            continue
        where, params = _events((given,))[1:]
        known = _count(cat, f"SELECT count(*) FROM audit_events WHERE "
                        f"{where.replace('event_name', 'name')}", params)
        if not known:
            out.append(f"--event {given}: no such event (knox events --list shows them)")
            continue
        seen = _count(cat, f"SELECT count(*) FROM records WHERE {where}", params)
        if not seen:
            out.append(f"--event {given}: no such record in the input{_alike(cat, given)}")
        elif question not in ("events", "errors"):
            view = QUESTIONS[question][0]
            mine = _count(cat, f"SELECT count(*) FROM {view} WHERE {where}", params)
            if not mine:
                out.append(f"--event {given}: its {seen:,} record(s) are not {question} "
                           f"(knox events --event {given} shows them)")
    return out


def _alike(cat: Catalog, given: str) -> str:
    """Events of the input whose name contains ``given`` (``open`` -> AUE_OPEN_R ...)."""
    stem = given.upper().removeprefix("AUE_")
    if stem.isdigit():
        return ""
    rows = cat.sql("SELECT DISTINCT event_name FROM records WHERE upper(event_name) LIKE ? "
                   "ORDER BY 1 LIMIT 6", [f"%{stem}%"]).fetchall()
    return f"; seen here: {', '.join(r[0] for r in rows)}" if rows else ""
