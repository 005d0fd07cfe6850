"""Live ``knox commands`` (no TRAIL or DATASET): execs as they happen, one line each."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import typer

from knox_analytics.errors import UsageError
from knox_analytics.questions import Filters, parse_time


def live_commands_cli(f: Filters, fmt: str, output: Path | None) -> None:
    """Stream execs from the live audit pipe, one line per command."""
    from knox_analytics.live.commands import live_commands

    if f.path or f.classes or f.events:
        raise UsageError("live commands support --since/--until/--user/--pid/--command/"
                         "--failed only")
    if output is not None or fmt not in ("table", "ndjson"):
        raise UsageError("live commands print to stdout as table lines or --format ndjson")
    since = parse_time(f.since) if f.since else None
    until = parse_time(f.until) if f.until else None
    for row in live_commands(user=f.user, pid=f.pid, command=f.command, failed=f.failed,
                             since=since, until=until):
        typer.echo(live_line(row, fmt))


def live_line(row: dict[str, Any], fmt: str) -> str:
    """One output line of live ``commands``."""
    if fmt == "ndjson":
        return json.dumps(row, default=str, ensure_ascii=False)
    when = row["time"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if row.get("time") else "?"
    status = "" if row.get("success") is not False else " [failed]"
    return (f"{when} {row.get('pid')} {row.get('ppid') or '-'} {row.get('user') or '-'} "
            f"{shlex.join(row.get('argv') or [row.get('command') or '?'])}{status}")
