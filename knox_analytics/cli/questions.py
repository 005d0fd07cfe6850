"""The question commands: commands, files, errors, tree, network, logins, events, classes.

Each is parse → one :mod:`knox_analytics.questions` call → render; the filters are
declared once here (:func:`_filters`) and spelled the same on every command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer

from knox_analytics.cli.live_commands import Follow, LiveSource, Sudo, live_commands_cli
from knox_analytics.cli.query import Force, Format, Inputs, Output, Users, emit, open_catalog
from knox_analytics.errors import UsageError
from knox_analytics.questions import (
    Filters,
    ask,
    class_list,
    errors_by,
    event_list,
    process_tree,
)

Since = Annotated[str | None, typer.Option(
    "--since", help="From this time on (ISO 8601, YYYYMMDD[HH[MM[SS]]] or 30m/2h/7d ago; "
    "UTC). auditreduce -a.", show_default=False)]
Until = Annotated[str | None, typer.Option(
    "--until", help="Before this time (same forms). auditreduce -b.", show_default=False)]
User = Annotated[str | None, typer.Option(
    "--user", "-u", help="User name or uid (login, effective or real). auditreduce -u/-e/-r.",
    show_default=False)]
Pid = Annotated[int | None, typer.Option("--pid", help="Process id.", show_default=False)]
Command = Annotated[str | None, typer.Option(
    "--command", "-c", help="Command name or path, glob allowed ('ssh*').",
    show_default=False)]
PathGlob = Annotated[str | None, typer.Option(
    "--path", help="File path, glob allowed ('/etc/*'). auditreduce -o file=.",
    show_default=False)]
Failed = Annotated[bool, typer.Option("--failed", help="Failed records only.")]
Classes = Annotated[str | None, typer.Option(
    "--class", help="audit_control class expression: 'pc,+fc,-fr' (+ successes, "
    "- failures). auditreduce -c.", show_default=False)]
Event = Annotated[list[str] | None, typer.Option(
    "--event", "-e", help="Event name (execve, AUE_OPEN_R) or number; repeatable or "
    "comma-separated. auditreduce -m.", show_default=False)]
Limit = Annotated[int | None, typer.Option("--limit", "-n", help="At most N rows.",
                                           show_default=False)]


def _filters(since: str | None, until: str | None, user: str | None, pid: int | None,
             command: str | None, path: str | None, failed: bool, classes: str | None,
             event: list[str] | None) -> Filters:
    return Filters(since=since, until=until, user=user, pid=pid, command=command,
                   path=path, failed=failed, classes=classes, events=tuple(event or ()))


def _answer(question: str, inputs: list[Path] | None, users: str | None, f: Filters,
            limit: int | None, fmt: str, output: Path | None, force: bool) -> None:
    with open_catalog(inputs, users) as cat:
        emit(ask(cat, question, f, limit=limit), fmt, output, force=force, title=question)


def commands(inputs: Inputs = None, since: Since = None, until: Until = None,
             user: User = None, pid: Pid = None, command: Command = None,
             path: PathGlob = None, failed: Failed = False, classes: Classes = None,
             event: Event = None, limit: Limit = None, fmt: Format = "table",
             output: Output = None, force: Force = False, users: Users = None,
             source: LiveSource = None, follow: Follow = None, sudo: Sudo = False) -> None:
    """Which commands ran: time, pid, parent pid, user, outcome, command line.

    With no TRAIL or DATASET, answers live as execs happen: from the audit pipe, from
    --source FILE|FIFO|-, or tailing --follow TRAIL (same filters, same columns).

    Example: knox commands audit-parquet --user alice --since 2026-03-01T09:00
    """
    f = _filters(since, until, user, pid, command, path, failed, classes, event)
    if not inputs:
        live_commands_cli(f, fmt, output, source=source, follow=follow, sudo=sudo,
                          users=users, limit=limit)
        return
    if source is not None or follow is not None:
        raise UsageError("--source and --follow are for live commands: give no TRAIL or "
                         "DATASET with them")
    _answer("commands", inputs, users, f, limit, fmt, output, force)


def files(inputs: Inputs = None, since: Since = None, until: Until = None,
          user: User = None, pid: Pid = None, command: Command = None,
          path: PathGlob = None, failed: Failed = False, classes: Classes = None,
          event: Event = None, limit: Limit = None, fmt: Format = "table",
          output: Output = None, force: Force = False, users: Users = None) -> None:
    """Which files processes touched: operation, path(s), open flags, outcome.

    Example: knox files audit-parquet --path '/etc/*' --failed
    """
    f = _filters(since, until, user, pid, command, path, failed, classes, event)
    _answer("files", inputs, users, f, limit, fmt, output, force)


def errors(inputs: Inputs = None,
           by: Annotated[str | None, typer.Option(
               "--by", help="Summarise by errno, command or path.", show_default=False)
           ] = None,
           since: Since = None, until: Until = None, user: User = None, pid: Pid = None,
           command: Command = None, path: PathGlob = None, classes: Classes = None,
           event: Event = None, limit: Limit = None, fmt: Format = "table",
           output: Output = None, force: Force = False, users: Users = None) -> None:
    """Where errors came from: every failed record, or a summary --by errno|command|path.

    Example: knox errors audit-parquet --by command --since 2h
    """
    f = _filters(since, until, user, pid, command, path, False, classes, event)
    with open_catalog(inputs, users) as cat:
        table = errors_by(cat, by, f) if by else ask(cat, "errors", f, limit=limit)
        if by and limit:
            table = table.slice(0, limit)
        emit(table, fmt, output, force=force, title=f"errors by {by}" if by else "errors")


def network(inputs: Inputs = None, since: Since = None, until: Until = None,
            user: User = None, pid: Pid = None, command: Command = None,
            failed: Failed = False, classes: Classes = None, event: Event = None,
            limit: Limit = None, fmt: Format = "table", output: Output = None,
            force: Force = False, users: Users = None) -> None:
    """Network activity: connect/bind/accept/send/recv with addresses, ports, outcome.

    Example: knox network audit-parquet --command 'curl' --failed
    """
    f = _filters(since, until, user, pid, command, None, failed, classes, event)
    _answer("network", inputs, users, f, limit, fmt, output, force)


def logins(inputs: Inputs = None, since: Since = None, until: Until = None,
           user: User = None, pid: Pid = None, failed: Failed = False,
           classes: Classes = None, event: Event = None, limit: Limit = None,
           fmt: Format = "table", output: Output = None, force: Force = False,
           users: Users = None) -> None:
    """Logins, logouts, su/sudo, ssh and authorisation (classes lo, aa), with outcome.

    Example: knox logins /var/audit --failed
    """
    f = _filters(since, until, user, pid, None, None, failed, classes, event)
    _answer("logins", inputs, users, f, limit, fmt, output, force)


def events(inputs: Inputs = None,
           list_: Annotated[bool, typer.Option(
               "--list", help="List the event table (number, name, classes) instead.")
           ] = False,
           since: Since = None, until: Until = None, user: User = None, pid: Pid = None,
           path: PathGlob = None, failed: Failed = False, classes: Classes = None,
           event: Event = None, limit: Limit = None, fmt: Format = "table",
           output: Output = None, force: Force = False, users: Users = None) -> None:
    """Every record with readable names — or, with --list, the known audit events.

    Example: knox events --list --class lo
    """
    f = _filters(since, until, user, pid, None, path, failed, classes, event)
    with open_catalog(None if list_ else inputs, users) as cat:
        table = event_list(cat, f) if list_ else ask(cat, "events", f, limit=limit)
        emit(table, fmt, output, force=force, title="events")


def classes_(fmt: Format = "table", output: Output = None, force: Force = False) -> None:
    """The audit classes (code, mask, description) used by --class.

    Example: knox classes
    """
    with open_catalog(None, None) as cat:
        emit(class_list(cat), fmt, output, force=force, title="audit classes")


def tree(pid: Annotated[int | None, typer.Argument(help="Process id.", show_default=False)
                        ] = None,
         inputs: Annotated[list[Path] | None, typer.Option(
             "--input", "-i", help="Dataset or trail (repeatable).", show_default=False)
         ] = None,
         command: Command = None, fmt: Format = "table", output: Output = None,
         force: Force = False, users: Users = None) -> None:
    """Process tree of a pid (or of every process running --command): ancestors, the
    process, its descendants, with command, user, start and exit.

    Example: knox tree 1202 -i audit-parquet
    """
    with open_catalog(inputs, users) as cat:
        table = process_tree(cat, pid, command)
        if fmt == "table" and output is None:
            draw_tree(table)
        else:
            emit(table, fmt, output, force=force)


def draw_tree(table: pa.Table) -> None:
    """Draw process_tree rows as a rich tree per root instance."""
    from rich.console import Console
    from rich.tree import Tree

    rows = table.to_pylist()
    if not rows:
        typer.echo("no such process", err=True)
        return
    console = Console()
    for root in dict.fromkeys(r["root"] for r in rows):
        mine = {r["instance"]: r for r in rows if r["root"] == root}
        top = min(mine.values(), key=lambda r: r["depth"])
        console.print(_subtree(Tree(_label(top, root)), top["instance"], mine, root))


def _subtree(node: Any, instance: str, rows: dict[str, dict], root: str) -> Any:
    for child in sorted((r for r in rows.values() if r["parent_instance"] == instance),
                        key=lambda r: r["start_time"]):
        _subtree(node.add(_label(child, root)), child["instance"], rows, root)
    return node


def _label(r: dict, root: str) -> str:
    start = r["start_time"].strftime("%H:%M:%S.%f")[:-3] if r["start_time"] else "?"
    end = f", exit {r['exit_status']}" if r["exit_time"] else ""
    mark = "[bold]" if r["instance"] == root else ""
    close = "[/bold]" if mark else ""
    return f"{mark}{r['pid']} {r['command'] or '?'}{close} ({r['user'] or '?'}, {start}{end})"


def register(app: typer.Typer) -> None:
    """Add the question commands to the knox app."""
    for name, func in (("commands", commands), ("files", files), ("errors", errors),
                       ("tree", tree), ("network", network), ("logins", logins),
                       ("events", events), ("classes", classes_)):
        app.command(name)(func)
