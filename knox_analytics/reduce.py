"""``knox reduce``: auditreduce's job as a library function — the selected records written
back as a BSM trail, each record byte-identical to its input.

The selection is :class:`knox_analytics.questions.Filters` (the question filters, record by
record: :class:`knox_analytics.select.RecordSelector`), so ``knox reduce --event execve``
keeps exactly the records ``knox print --event execve`` prints.  auditreduce's own flags
(``-m -c -u -e -r -f -g -j -a -b -d -o -v``) are translated into those filters by
:func:`auditreduce_filters`, with auditreduce's meanings (``-b`` includes its whole second,
``-d`` is one day, ``-a/-b/-d`` are read in a time zone).  Records are re-encoded from
their decoded columns (:func:`knox_analytics.bsm.encode.table_to_trail`), which rebuilds
the original bytes, so trails, stdin and datasets reduce alike.

    >>> import io
    >>> out = io.BytesIO()
    >>> reduce_records(["trail.bsm"], Filters(events=("AUE_EXECVE",)), out)  # doctest: +SKIP
    474
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO

from knox_analytics.bsm.damage import Damage
from knox_analytics.errors import UsageError
from knox_analytics.questions import Filters
from knox_analytics.zones import Zone
from knox_analytics.zones import zone as as_zone

if TYPE_CHECKING:
    from knox_analytics.catalog import ProgressDisplay


def reduce_records(inputs: list[str], filters: Filters, out: BinaryIO, *,
                   users: object = None, tables: str = "auto",
                   on_damage: Callable[[Damage], None] | None = None,
                   skipped: list[tuple[str, str]] | None = None,
                   derive_progress: ProgressDisplay | None = None) -> int:
    """Write the records of ``inputs`` (trails, ``-`` for stdin, datasets) that ``filters``
    select to ``out`` as a BSM trail, in input order; return how many were written
    (``derive_progress`` as for the catalog: ``--command`` may derive)."""
    from knox_analytics.bsm.encode import write_trail
    from knox_analytics.inputs import check_trails_found_early, discover
    from knox_analytics.render.records import iter_input, iter_inputs
    from knox_analytics.select import RecordSelector, keep_whole

    report = on_damage or (lambda _d: None)
    written = 0
    if not filters.record_local() and (not inputs or "-" in inputs):
        raise UsageError("--command needs the records before it (each record's "
                         "process): give the trail or dataset as a file")
    found = discover(list(inputs) or ["-"])  # once: each input is then decoded once
    check_trails_found_early(found)  # /etc: one line, before a byte is written
    if filters.record_local():
        selector = RecordSelector(filters, users=users, tables=tables)
        try:
            for table in selector.select(iter_inputs(found, report, skipped=skipped)):
                write_trail(table, out)
                written += table.num_rows
        finally:
            selector.close()
    else:
        for table in keep_whole(found, lambda item: iter_input(item, report, skipped=skipped),
                                filters, users, derive_progress):
            write_trail(table, out)
            written += table.num_rows
    out.flush()
    return written


# -- auditreduce's flags ----------------------------------------------------------------
_DATE = re.compile(r"\d{8}(\d{2}){0,3}")


def _moment(text: str, flag: str, zone: Zone | str) -> datetime:
    """auditreduce's ``YYYYMMDD[HH[MM[SS]]]`` (missing fields are 0) in ``zone``."""
    if not _DATE.fullmatch(text):
        raise UsageError(f"-{flag} {text}: expected YYYYMMDD[HH[MM[SS]]]")
    try:
        local = datetime.strptime(text.ljust(14, "0"), "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise UsageError(f"-{flag} {text}: not a date ({exc})") from None
    return local.replace(tzinfo=as_zone(zone).tzinfo).astimezone(UTC)


def auditreduce_filters(base: Filters = Filters(), *, m: Iterable[str] = (),
                        c: str | None = None, u: str | None = None, e: str | None = None,
                        r: str | None = None, f: int | None = None, g: int | None = None,
                        j: int | None = None, a: str | None = None, b: str | None = None,
                        d: str | None = None, o: Iterable[str] = (), v: bool = False,
                        tz: Zone | str = "UTC") -> Filters:
    """``base`` narrowed by auditreduce's flags, with auditreduce's meanings.

    ``-a`` keeps records at or after the time, ``-b`` records up to the end of its second,
    ``-d`` one whole day; all three in ``tz`` (auditreduce uses the local zone: ``local``).
    ``-u/-e/-r`` are the subject's audit, effective, real uid (number or name from
    ``--users``), ``-f/-g`` its effective/real gid, ``-j`` its pid; ``-o file=RE[,~RE]``
    regular expressions over every path token; ``-o pid=N`` a process token's pid.
    """
    def merge(name: str, value: object) -> dict[str, object]:
        if value is None:
            return {}
        if getattr(base, name) not in (None, ()):
            raise UsageError(f"-{_SHORT[name]} and --{name} both given: use one")
        return {name: value}

    if d is not None and (a is not None or b is not None):
        raise UsageError("-d is exclusive with -a and -b (as in auditreduce)")
    changes: dict[str, object] = {}
    since = until = None
    if a is not None:
        since = _moment(a, "a", tz)
    if b is not None:
        until = _moment(b, "b", tz) + timedelta(seconds=1)  # the whole -b second
    if d is not None:
        if len(d) != 8:
            raise UsageError(f"-d {d}: expected YYYYMMDD")
        since = _moment(d, "d", tz)
        until = _moment(d + "235959", "d", tz) + timedelta(seconds=1)
    changes.update(merge("since", since.isoformat() if since else None))
    changes.update(merge("until", until.isoformat() if until else None))
    events = tuple(m)
    if events:
        changes["events"] = base.events + events
    changes.update(merge("classes", c))
    changes.update(merge("auid", u))
    changes.update(merge("euid", e))
    changes.update(merge("ruid", r))
    changes.update(merge("egid", f))
    changes.update(merge("rgid", g))
    changes.update(merge("pid", j))
    regex: list[str] = []
    for item in o:
        kind, sep, value = item.partition("=")
        if not sep or not value:
            raise UsageError(f"-o {item}: expected file=RE[,~RE] or pid=N")
        if kind == "file":
            regex.extend(p for p in value.split(",") if p)
        elif kind == "pid":
            if not value.isdigit():
                raise UsageError(f"-o pid={value}: expected a process id")
            changes.update(merge("object_pid", int(value)))
        else:
            raise UsageError(f"-o {kind}=: not supported by knox reduce (file= and pid= are); "
                             "use knox query over the ipcs/sockets columns")
    if regex:
        changes["path_regex"] = base.path_regex + tuple(regex)
    if v:
        changes["invert"] = not base.invert
    return replace(base, **changes)


_SHORT = {"since": "a", "until": "b", "classes": "c", "auid": "u", "euid": "e",
          "ruid": "r", "egid": "f", "rgid": "g", "pid": "j", "object_pid": "o pid"}
