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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from knox_analytics.bsm.tokens import AUT_OTHER_FILE32
from knox_analytics.errors import UsageError
from knox_analytics.words import count
from knox_analytics.zones import UTC as UTC_ZONE
from knox_analytics.zones import Zone

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


#: Columns of the ``records`` view a record-local filter reads (every question view can
#: be narrowed through them: see :meth:`Filters.where`).
RECORD_KEY = ("source", "offset")


@dataclass(frozen=True)
class Filters:
    """The shared selection: every field narrows the rows; None / False / () = no filter.

    ``since``/``until`` take ISO 8601 (``2026-03-01T09:00``), ``YYYYMMDD[HH[MM[SS]]]`` or
    a relative ``30m``/``2h``/``7d`` (ago); times are UTC unless they carry an offset and
    ``until`` is exclusive.  ``user`` is a name or a uid matched against the login,
    effective and real user; ``auid``/``euid``/``ruid`` (uid or name) and ``egid``/``rgid``
    (gid) match that one field of the record's subject.  ``command`` and ``path`` are glob
    patterns (``*``, ``?``): ``path`` over the first or second path of the record.
    ``classes`` is an audit_control(5) class expression (``pc,+fc,-fr``: ``+`` successes
    only, ``-`` failures only; a record without a return token counts for both);
    ``events`` are exact names (``AUE_EXECVE``), a name without ``AUE_`` or in another
    case when it names one event (``execve``), or numbers (any number, known or not).
    ``session`` is the audit session id, ``terminal`` the terminal address, ``host`` the
    record's host (header address or convert's ``--host`` label).  ``path_regex`` holds
    auditreduce's ``-o file=`` expressions (``RE`` or ``~RE``, first match decides, every
    path token must pass), ``object_pid`` the pid of a process (object) token (``-o pid=``).
    ``invert`` selects every record the rest does not select.
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
    auid: str | None = None
    euid: str | None = None
    ruid: str | None = None
    egid: int | None = None
    rgid: int | None = None
    session: int | None = None
    terminal: str | None = None
    host: str | None = None
    path_regex: tuple[str, ...] = field(default_factory=tuple)
    object_pid: int | None = None
    invert: bool = False

    def record_local(self) -> bool:
        """True when every filter is decided by the record alone (no process view)."""
        return self.command is None

    def where(self, columns: set[str], view: str,
              known_events: Mapping[str, int] | None = None) -> tuple[str, list[Any]]:
        """SQL condition (with ``?`` parameters) selecting the rows of ``view``.

        A filter is applied on the view's own columns when it has them; otherwise, when the
        view has the record key (``source``, ``offset``), through the ``records`` view, so
        every filter means the same on every question.  ``known_events`` maps event names
        to numbers (the catalog's ``audit_events``: :func:`event_numbers`); without it the
        packaged/host table is used.
        """
        direct: list[str] = []
        params: list[Any] = []
        via: list[str] = []
        via_params: list[Any] = []
        for name, build in _BUILDERS:
            value = getattr(self, name)
            if value is None or value is False or value == ():
                continue
            forms = build(value, known_events) if name == "events" else build(value)
            for need, clause, values in forms:
                if need <= columns:
                    direct.append(clause)
                    params.extend(values)
                    break
            else:
                record_form = forms[-1]
                if name == "command" or not set(RECORD_KEY) <= columns:
                    missing = forms[0][0] - columns
                    raise UsageError(f"--{_flag(name)} does not apply to {view} (no column "
                                     f"{', '.join(sorted(missing))})")
                via.append(record_form[1])
                via_params.extend(record_form[2])
        if self != Filters() and {"header_token"} <= columns:
            direct.append(f"header_token <> {AUT_OTHER_FILE32}")  # a trail's file marks
        if via:
            # (source, offset) is a record of a trail, not of a dataset (two inputs named
            # `current`, or one trail converted for two hosts): there the id names it
            key = '(source, "offset", COALESCE(record_id, \'\'::BLOB))' \
                if "record_id" in columns else '(source, "offset")'
            direct.append(f"{key} IN (SELECT {key} FROM records WHERE "
                          + " AND ".join(f"({c})" for c in via) + ")")
            params.extend(via_params)
        where = " AND ".join(f"({c})" for c in direct) or "TRUE"
        if self.invert:
            where = f"NOT COALESCE(({where}), FALSE)"
        return where, params


def _flag(name: str) -> str:
    return {"classes": "class", "events": "event", "path_regex": "path-regex",
            "session": "session", "invert": "invert"}.get(name, name)


def parse_time(text: str, *, now: datetime | None = None, zone: Zone = UTC_ZONE
               ) -> datetime:
    """A filter time: ISO 8601, ``YYYYMMDD[HH[MM[SS]]]`` or ``<n>s|m|h|d`` ago; a time
    without an offset is in ``zone`` (UTC: the filters' documented rule)."""
    now = now or datetime.now(UTC)
    rel = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if rel:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[rel.group(2)]
        return now - timedelta(**{unit: int(rel.group(1))})
    compact = re.fullmatch(r"(\d{8})(\d{2})?(\d{2})?(\d{2})?", text.strip())
    try:
        if compact:
            digits = text.strip().ljust(14, "0")
            return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=zone.tzinfo)
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(f"time {text!r}: expected ISO 8601 (2026-03-01T09:00), "
                         "YYYYMMDD[HH[MM[SS]]] or 30m / 2h / 7d") from exc
    return value if value.tzinfo else value.replace(tzinfo=zone.tzinfo)


# Each builder returns its forms, best first: (columns needed, SQL, parameters).  The last
# form reads only the `records` view's columns (and the lookup tables), so it can always
# be applied through the record key.
_Form = tuple[set[str], str, list[Any]]


def _since(v: str) -> list[_Form]:
    return [({"time"}, "time >= ?", [parse_time(v)])]


def _until(v: str) -> list[_Form]:
    return [({"time"}, "time < ?", [parse_time(v)])]


def _uid_clause(columns: tuple[str, ...], v: str) -> _Form:
    if v.isdigit():
        return set(columns), " OR ".join(f"{c} = ?" for c in columns), [int(v)] * len(columns)
    return (set(columns),
            " OR ".join(f"{c} IN (SELECT uid FROM users WHERE name = ?)" for c in columns),
            [v] * len(columns))


def _user(v: str) -> list[_Form]:
    every = _uid_clause(("auid", "euid", "ruid"), v)
    # a view without the real uid (a plot's processes) matches the ids it has; the last
    # form is the one asked of the records when a view has none of them
    return [every, _uid_clause(("auid", "euid"), v), every]


def _one_id(column: str) -> Any:
    def build(v: str | int) -> list[_Form]:
        text = str(v)
        if column in ("egid", "rgid") and not text.isdigit():
            raise UsageError(f"--{column} {text}: give a numeric gid")
        return [_uid_clause((column,), text)]
    return build


def _pid(v: int) -> list[_Form]:
    return [({"pid"}, "pid = ?", [int(v)])]


def _command(v: str) -> list[_Form]:
    return [({"command", "command_path"}, "command GLOB ? OR command_path GLOB ?", [v, v])]


def _path(v: str) -> list[_Form]:
    return [({"path", "path2"}, "path GLOB ? OR path2 GLOB ?", [v, v]),
            ({"paths"}, "paths[1] GLOB ? OR paths[2] GLOB ?", [v, v])]


def _path_regex(v: tuple[str, ...]) -> list[_Form]:
    # auditreduce -o file=RE,~RE: for each path token the first matching expression
    # decides (a ~ one rejects), no match rejects; every path token must pass.
    cases, params = [], []
    for item in v:
        negate = item.startswith("~")
        cases.append(f"WHEN regexp_matches(p, ?) THEN {'FALSE' if negate else 'TRUE'}")
        params.append(item[1:] if negate else item)
    expr = f"CASE {' '.join(cases)} ELSE FALSE END"
    return [({"paths"}, f"len(paths) > 0 AND list_bool_and(list_transform(paths, lambda p: "
             f"{expr}))", params)]


def _object_pid(v: int) -> list[_Form]:
    return [({"processes"}, "list_contains(list_transform(processes, lambda x: x.pid), ?)",
             [int(v)])]


def _failed(_: bool) -> list[_Form]:
    return [({"success"}, "success = false", [])]


def _classes(v: str) -> list[_Form]:
    from knox_analytics.bsm.classes import parse_classes

    mask = parse_classes(v)
    # auditreduce -c: a record without a return token is kept when its event is in the
    # expression for either outcome (au_preselect with AU_PRS_BOTH).
    classed = "SELECT event FROM audit_events WHERE (mask & ?) <> 0"
    tail = (f"(success IS NOT FALSE AND {{e}} IN ({classed})) OR "
            f"(success IS NOT TRUE AND {{e}} IN ({classed}))")
    return [({"event_name", "success"}, tail.format(e="event_name").replace(
                "SELECT event FROM", "SELECT name FROM"), [mask.success, mask.failure]),
            ({"event", "success"}, tail.format(e="event"), [mask.success, mask.failure])]


#: praudit names an event by its manual page: ``execve(2)``, ``audit(2)``.
_MAN_SECTION = re.compile(r"\(\d\)$")


def resolve_events(given: tuple[str, ...], known: Mapping[str, int]) -> list[int]:
    """Event numbers of ``--event`` items: numbers as given; an exact name; else the one
    event named so without ``AUE_`` or in another case; praudit's spelling of a system
    call (``execve(2)``) as its name.  A name matching several events is a usage error
    listing them; a name matching none gives no number."""
    numbers: list[int] = []
    for part in (p.strip() for item in given for p in item.split(",")):
        part = _MAN_SECTION.sub("", part)
        if not part:
            continue
        if part.isdigit():
            numbers.append(int(part))
            continue
        if part in known:
            numbers.append(known[part])
            continue
        upper = part.upper()
        alike = sorted(n for n in known if n.upper() in (upper, "AUE_" + upper))
        if len(alike) > 1:
            raise UsageError(f"--event {part}: names several events ("
                             + ", ".join(f"{n} = {known[n]}" for n in alike)
                             + "); give the exact name or the number")
        numbers.extend(known[n] for n in alike)
    return numbers


def _events(v: tuple[str, ...], known: Mapping[str, int] | None) -> list[_Form]:
    known = known if known is not None else _packaged_events()
    numbers = resolve_events(v, known)
    if not numbers:
        return [(set(), "FALSE", [])]
    marks = ", ".join("?" for _ in numbers)
    forms: list[_Form] = [({"event"}, f"event IN ({marks})", numbers)]
    by_number: dict[int, list[str]] = {}
    for name, num in known.items():
        by_number.setdefault(num, []).append(name)
    if all(len(by_number.get(n, ())) == 1 for n in numbers):  # the question views name events only
        forms.insert(0, ({"event_name"}, f"event_name IN ({marks})",
                         [by_number[n][0] for n in numbers]))
    return forms


def _packaged_events() -> dict[str, int]:
    from knox_analytics.bsm.tables import load_tables

    names = load_tables("auto").events.names
    return {str(names[i]): i for i in range(len(names) - 1, -1, -1) if names[i] is not None}


def event_numbers(cat: Catalog) -> dict[str, int]:
    """Event name -> number of the catalog's ``audit_events`` (the smallest number wins)."""
    rows = cat.sql("SELECT name, min(event) FROM audit_events GROUP BY name").fetchall()
    return {name: int(num) for name, num in rows}


def _eq(column: str, cast: Any) -> Any:
    def build(v: Any) -> list[_Form]:
        return [({column}, f"{column} = ?", [cast(v)])]
    return build


def _invert(_: bool) -> list[_Form]:
    return [(set(), "TRUE", [])]  # applied by Filters.where around the whole selection


_BUILDERS = (("since", _since), ("until", _until), ("user", _user), ("pid", _pid),
             ("command", _command), ("path", _path), ("failed", _failed),
             ("classes", _classes), ("events", _events),
             ("auid", _one_id("auid")), ("euid", _one_id("euid")), ("ruid", _one_id("ruid")),
             ("egid", _one_id("egid")), ("rgid", _one_id("rgid")),
             ("session", _eq("sid", int)), ("terminal", _eq("tid_addr", str)),
             ("host", _eq("host", str)), ("path_regex", _path_regex),
             ("object_pid", _object_pid), ("invert", _invert))


def filter_sql(cat: Catalog, filters: Filters, view: str) -> tuple[str, list[Any]]:
    """:meth:`Filters.where` for a view of ``cat``, event names resolved by its tables."""
    return filters.where(view_columns(cat, view), view, event_numbers(cat))


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
    where, params = filter_sql(cat, filters, view)
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
    where, params = filter_sql(cat, filters, "errors")
    if params or where != "TRUE":
        cat.sql(f"CREATE OR REPLACE TEMP TABLE _filtered_errors AS "
                f"SELECT * FROM errors WHERE {where}", params).fetchall()
        return cat.query(f"SELECT * FROM summarize_errors_by_{by}('_filtered_errors')")
    return cat.query(f"SELECT * FROM errors_by_{by}")


def process_tree(cat: Catalog, pid: int | None = None, command: str | None = None
                 ) -> pa.Table:
    """Ancestors and descendants of the instances of ``pid`` (or of every instance whose
    command matches the glob ``command``), one row per (root, instance), trees in the
    time order of their roots (:func:`knox_analytics.tree.process_forest` bounds them by
    depth and rows, as ``knox tree`` does)."""
    from knox_analytics.tree import process_forest

    return process_forest(cat, pid, command, limit=None).table


def event_list(cat: Catalog, filters: Filters = Filters(), *, seen: bool = False
               ) -> pa.Table:
    """The audit_event table (number, name, description, classes), optionally narrowed
    by ``--event`` names/numbers or a ``--class`` expression (either outcome); with
    ``seen``, only the events the input's records hold, with their ``records`` count."""
    clauses, params = ["TRUE"], []
    if filters.events:
        numbers = resolve_events(filters.events, event_numbers(cat)) or [-1]
        clauses.append(f"event IN ({', '.join('?' for _ in numbers)})")
        params.extend(numbers)
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
    this question, a time range outside the data, or simply no match for the filters."""
    total = _count(cat, "SELECT count(*) FROM records")
    if not total:
        return "the input holds no records"
    names = [(flag, value) for flag, value in (
        ("user", filters.user), ("auid", filters.auid), ("euid", filters.euid),
        ("ruid", filters.ruid)) if value]
    reasons = [_why_user(cat, value, flag) for flag, value in names]
    for reason in (*reasons, *_why_events(cat, question, filters), _why_time(cat, filters)):
        if reason:
            return reason
    if filters == Filters():
        return f"no {question} among the {count(total, 'record')} of the input"
    return f"no {question} matched the filters ({count(total, 'record')} in the input)"


def _count(cat: Catalog, sql: str, params: list[Any] | None = None) -> int:
    return int(cat.sql(sql, params).fetchall()[0][0])


def _why_user(cat: Catalog, user: str | None, flag: str = "user") -> str | None:
    if not user:
        return None
    if user.isdigit():
        n = _count(cat, "SELECT count(*) FROM records WHERE auid = ? OR euid = ? OR ruid = ?",
                    [int(user)] * 3)
        return None if n else f"--{flag} {user}: no record of uid {user} in the input"
    return unknown_user(cat, user, flag)


def unknown_user(cat: Catalog, user: str, flag: str = "user") -> str | None:
    """Why a user name cannot match (names unknown without --users, or not in it)."""
    if user.isdigit() or _count(cat, "SELECT count(*) FROM users WHERE name = ?", [user]):
        return None
    named = _count(cat, "SELECT count(*) FROM users")
    if named <= 1:  # only uid 0 (root) is known without --users
        return (f"--{flag} {user}: user names are not known; give --users FILE (the passwd "
                "file of the machine that wrote the trail) or a uid")
    return f"--{flag} {user}: no such user in --users (give a uid, or check the name)"


def _why_time(cat: Catalog, filters: Filters) -> str | None:
    """The asked time range misses the data entirely: say where the data is."""
    if not (filters.since or filters.until):
        return None
    first, last = cat.sql("SELECT min(time), max(time) FROM records").fetchall()[0]
    if first is None:
        return None
    if filters.since and parse_time(filters.since) > last:
        return (f"--since {filters.since}: the data ends {last:%Y-%m-%d %H:%M:%S} UTC "
                f"(it starts {first:%Y-%m-%d %H:%M:%S} UTC)")
    if filters.until and parse_time(filters.until) <= first:
        return (f"--until {filters.until}: the data starts {first:%Y-%m-%d %H:%M:%S} UTC "
                f"(it ends {last:%Y-%m-%d %H:%M:%S} UTC)")
    return None


def _why_events(cat: Catalog, question: str, filters: Filters) -> list[str | None]:
    out: list[str | None] = []
    known = event_numbers(cat)
    for given in (p.strip() for item in filters.events for p in item.split(",")):
        if not given:
            continue
        numbers = resolve_events((given,), known)
        if not numbers:
            out.append(f"--event {given}: no such event (knox events --list shows them)")
            continue
        marks = ", ".join("?" for _ in numbers)
        seen = _count(cat, f"SELECT count(*) FROM records WHERE event IN ({marks})", numbers)
        if not seen:
            out.append(f"--event {given}: no such record in the input{_alike(cat, given)}")
        elif question not in ("events", "errors"):
            view = QUESTIONS[question][0]
            where, params = filter_sql(cat, Filters(events=(given,)), view)
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
