"""Live ``knox commands``, ``knox logins``, ``knox network`` (no TRAIL or DATASET):
records as they happen, one line each.

The rows are the offline question's (:mod:`knox_analytics.live.commands`); this module
only prints them: ``--format ndjson`` exactly as offline (:func:`cli.query.emit`: the same
field names, ISO times), the default as one line per row with every control character
escaped, so an argument holding a newline or an escape sequence cannot forge output.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from knox_analytics.errors import UsageError
from knox_analytics.questions import Filters
from knox_analytics.zones import UTC, Zone
from knox_analytics.zones import zone as as_zone

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def escape_controls(text: str) -> str:
    r"""``text`` with control characters written as escapes (``\n``, ``\t``, ``\x1b``)."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def live_question_cli(question: str, f: Filters, fmt: str, output: Path | None, *,
                      source: str | None = None, follow: str | None = None,
                      sudo: bool = False, users: str | None = None,
                      limit: int | None = None, tz: Zone | str = UTC) -> None:
    """Stream the rows of ``question`` (``commands``, ``logins``, ``network``) from the
    audit pipe, ``source`` or a followed trail, one line each (``limit``: stop after that
    many), times in ``tz`` as offline."""
    from knox_analytics.cli import pipe
    from knox_analytics.cli.query import emit
    from knox_analytics.live.commands import live_question_tables, shown

    if source is not None and follow is not None:
        raise UsageError("give --source or --follow, not both")
    if output is not None or fmt not in ("table", "ndjson"):
        raise UsageError(f"live {question} print to stdout as lines or --format ndjson")
    zone = as_zone(tz)
    helper = False
    if follow is not None:
        pipe.escalate_if_needed(follow, sudo)  # reopens the trail by name at each rotation
    else:
        helper = pipe.use_helper(source, sudo)
        pipe.warn_if_not_auditing(source, sudo=helper)
    tables = live_question_tables(question, follow or source, follow is not None, filters=f,
                                  users=live_users(users, source, follow),
                                  on_stats=pipe.print_stats, sudo=helper)
    printed = 0
    for table in tables:
        if limit is not None:
            table = table.slice(0, limit - printed)
        if fmt == "ndjson":
            emit(shown(table, question), "ndjson", None, tz=zone)
        else:
            write_lines(shown(table, question), zone, question)
        printed += table.num_rows
        if limit is not None and printed >= limit:
            tables.close()  # releases the source (an audit pipe clone)
            return


def line_time(when: datetime, zone: Zone = UTC, digits: int = 3) -> str:
    """A live line's time: ``2026-03-01 09:00:00.117`` in UTC; in another zone its wall
    clock and offset (``2026-03-01 10:00:00.117+01:00``), as lines have no header."""
    wall = zone.wall(when)
    text = wall.strftime("%Y-%m-%d %H:%M:%S.%f")[:20 + digits]
    offset = wall.strftime("%z")
    return text if zone.is_utc else f"{text}{offset[:3]}:{offset[3:5]}"


def live_users(users: str | None, source: str | None, follow: str | None) -> str | None:
    """Whose names: this machine's for its own audit pipe (its processes, its users);
    a ``--source`` or ``--follow`` trail may come from elsewhere, so, as offline, only
    the names asked for (``--users``)."""
    if users is not None or source is not None or follow is not None:
        return users
    return "local"


def write_lines(table: pa.Table, zone: Zone = UTC, question: str = "commands") -> None:
    """One line per row of ``question`` (see :func:`live_line`), times in ``zone``."""
    out = sys.stdout
    for row in table.to_pylist():
        out.write(live_line(row, zone, question) + "\n")
    out.flush()


def live_line(row: dict[str, Any], zone: Zone = UTC, question: str = "commands") -> str:
    """One row as a line: time, then what the question is about, the free text last, then
    the outcome when it failed (`` [failed: ENOENT]``):

    - commands: ``2026-03-01 09:00:00.117 4242 4200 alice make -j4``
    - logins: ``2026-03-01 09:00:00.117 alice sshd_login 10.0.0.7 successful login``
    - network: ``2026-03-01 09:00:00.117 4242 alice curl connect 10.0.0.5:51234 ->
      93.184.216.34:443``
    """
    when = line_time(row["time"], zone) if row.get("time") else "?"
    status = "" if row.get("success") is not False else \
        f" [failed{': ' + row['errno_name'] if row.get('errno_name') else ''}]"
    who = row.get("user") or "-"
    if row.get("euser") and row["euser"] != row.get("user"):
        who = f"{row.get('user') or '?'}→{row['euser']}"  # as the table shows it
    if question == "logins":
        what = (f"{who} {row.get('operation') or '?'} {row.get('tid_addr') or '-'} "
                f"{row.get('text') or ''}").rstrip()
    elif question == "network":
        what = (f"{row.get('pid')} {who} {row.get('command') or '?'} "
                f"{row.get('operation') or '?'} "
                f"{_endpoint(row.get('local_addr'), row.get('local_port'))} -> "
                f"{_endpoint(row.get('remote_addr'), row.get('remote_port'))}")
    else:
        what = f"{row.get('pid')} {row.get('ppid') or '-'} {who} " \
            f"{row.get('command_line') or '?'}"
    return escape_controls(f"{when} {what}{status}")


def _endpoint(addr: str | None, port: int | None) -> str:
    """``10.0.0.5:443``, ``[fe80::1]:443``, ``10.0.0.5`` (no port), ``-`` (neither)."""
    if addr is None:
        return "-" if port is None else f"*:{port}"
    host = f"[{addr}]" if ":" in addr and port is not None else addr
    return host if port is None else f"{host}:{port}"
