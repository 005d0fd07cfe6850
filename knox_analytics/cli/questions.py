"""The question commands: commands, files, errors, tree, network, logins, events, classes.

Each is parse → one :mod:`knox_analytics.questions` call → render; the options are the
shared ones of :mod:`knox_analytics.cli.common`, spelled the same on every command.  An
empty answer says on stderr why nothing matched (:func:`questions.why_empty`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from knox_analytics.cli.common import (
    Columns,
    Command,
    Force,
    Format,
    Inputs,
    Limit,
    Output,
    Pid,
    Tz,
    Users,
    damaged_exit,
    emit,
    open_catalog,
    split_columns,
    warn,
    with_filters,
)
from knox_analytics.cli.live_commands import live_question_cli
from knox_analytics.cli.pipe import FollowOpt, SourceOpt, SudoOpt
from knox_analytics.errors import UsageError
from knox_analytics.questions import Filters
from knox_analytics.tree import TREE_LIMIT


def _answer(question: str, inputs: list[Path] | None, users: str | None, f: Filters,
            limit: int | None, fmt: str, output: Path | None, force: bool, tz: str,
            columns: str | None = None) -> None:
    from knox_analytics.known import check_filters
    from knox_analytics.questions import ask, why_empty

    with open_catalog(inputs, users) as cat:
        check_filters(cat, f)
        table = ask(cat, question, f, limit=limit, columns=split_columns(columns))
        if not table.num_rows:
            warn(f"knox: {why_empty(cat, question, f)}")
        emit(table, fmt, output, force=force, title=question, tz=tz)
    damaged_exit(cat.damage)


@with_filters()
def commands(inputs: Inputs = None, limit: Limit = None, columns: Columns = None,
             fmt: Format = "table",
             output: Output = None, force: Force = False, users: Users = None,
             tz: Tz = "UTC", source: SourceOpt = None, follow: FollowOpt = None,
             sudo: SudoOpt = False, f: Filters = Filters()) -> None:
    """Which commands ran: time, pid, parent pid, user, outcome, command line.

    With no TRAIL or DATASET, answers live as execs happen: from the audit pipe, from
    --source FILE|FIFO|-, or tailing --follow TRAIL (same filters, same columns).

    Example: knox commands audit-parquet --users sample_trails/passwd --user alice --since
    2026-03-01T09:00
    """
    _live_or_answer("commands", inputs, users, f, limit, fmt, output, force, tz, columns,
                    source, follow, sudo)


def _live_or_answer(question: str, inputs: list[Path] | None, users: str | None,
                    f: Filters, limit: int | None, fmt: str, output: Path | None,
                    force: bool, tz: str, columns: str | None, source: str | None,
                    follow: str | None, sudo: bool) -> None:
    """With TRAIL or DATASET, the offline answer; with none, the live one (the audit
    pipe, ``--source`` or ``--follow``): the same filters, columns and ``--tz``."""
    if not inputs:
        if columns:  # live lines have one fixed form
            raise UsageError(f"--columns is for a TRAIL or DATASET, not live {question}")
        live_question_cli(question, f, fmt, output, source=source, follow=follow,
                          sudo=sudo, users=users, limit=limit, tz=tz)
        return
    if source is not None or follow is not None:
        raise UsageError(f"--source and --follow are for live {question}: give no TRAIL "
                         "or DATASET with them")
    _answer(question, inputs, users, f, limit, fmt, output, force, tz, columns)


@with_filters()
def files(inputs: Inputs = None, limit: Limit = None, columns: Columns = None,
             fmt: Format = "table",
          output: Output = None, force: Force = False, users: Users = None,
          tz: Tz = "UTC", f: Filters = Filters()) -> None:
    """Which files processes touched: operation, path(s), open flags, outcome.

    Example: knox files audit-parquet --path '/etc/*' --failed
    """
    _answer("files", inputs, users, f, limit, fmt, output, force, tz, columns)


@with_filters(exclude=("failed",))
def errors(inputs: Inputs = None,
           by: Annotated[str | None, typer.Option(
               "--by", help="Summarise by errno, command or path.", show_default=False)
           ] = None,
           limit: Limit = None, columns: Columns = None,
             fmt: Format = "table",
           output: Output = None, force: Force = False, users: Users = None,
           tz: Tz = "UTC", f: Filters = Filters()) -> None:
    """Where errors came from: every failed record, or a summary --by errno|command|path.

    Example: knox errors audit-parquet --by command --since 2h
    """
    from knox_analytics.known import check_filters
    from knox_analytics.questions import ask, errors_by, why_empty

    with open_catalog(inputs, users) as cat:
        check_filters(cat, f)
        if by and columns:
            raise UsageError("--columns chooses columns of the failed records: not with --by")
        table = errors_by(cat, by, f) if by else ask(cat, "errors", f, limit=limit,
                                                        columns=split_columns(columns))
        if by and limit:
            table = table.slice(0, limit)
        if not table.num_rows:
            warn(f"knox: {why_empty(cat, 'errors', f)}")
        emit(table, fmt, output, force=force, title=f"errors by {by}" if by else "errors",
             tz=tz)
    damaged_exit(cat.damage)


@with_filters()
def network(inputs: Inputs = None, limit: Limit = None, columns: Columns = None,
             fmt: Format = "table",
            output: Output = None, force: Force = False, users: Users = None,
            tz: Tz = "UTC", source: SourceOpt = None, follow: FollowOpt = None,
            sudo: SudoOpt = False, f: Filters = Filters()) -> None:
    """Network activity: connect/bind/accept/send/recv with addresses, ports, outcome.

    With no TRAIL or DATASET, answers live as records arrive: from the audit pipe, from
    --source FILE|FIFO|-, or tailing --follow TRAIL (same filters, same columns).

    Example: knox network audit-parquet --command 'curl' --failed
    """
    _live_or_answer("network", inputs, users, f, limit, fmt, output, force, tz, columns,
                    source, follow, sudo)


@with_filters(exclude=("command",))
def logins(inputs: Inputs = None, limit: Limit = None, columns: Columns = None,
           fmt: Format = "table", output: Output = None, force: Force = False,
           users: Users = None, tz: Tz = "UTC", source: SourceOpt = None,
           follow: FollowOpt = None, sudo: SudoOpt = False, f: Filters = Filters()) -> None:
    """Logins, logouts, su/sudo, ssh and authorisation (classes lo, aa), with outcome.

    With no TRAIL or DATASET, answers live as records arrive: from the audit pipe, from
    --source FILE|FIFO|-, or tailing --follow TRAIL (same filters, same columns).

    Example: knox logins /var/audit --failed
    """
    _live_or_answer("logins", inputs, users, f, limit, fmt, output, force, tz, columns,
                    source, follow, sudo)


@with_filters(exclude=("command",))
def events(inputs: Inputs = None,
           list_: Annotated[bool, typer.Option(
               "--list", help="List the event table (number, name, classes) instead; "
               "with TRAIL or DATASET, the events it holds, with their record counts.")
           ] = False,
           limit: Limit = None, columns: Columns = None,
           fmt: Format = "table", output: Output = None, force: Force = False,
           users: Users = None, tz: Tz = "UTC", f: Filters = Filters()) -> None:
    """Every record with readable names — or, with --list, the known audit events.

    Example: knox events --list --class lo
    """
    from knox_analytics.known import check_filters
    from knox_analytics.questions import event_list

    if list_:  # with inputs: the events they hold, counted
        with open_catalog(inputs or None, users) as cat:
            check_filters(cat, f)
            table = event_list(cat, f, seen=bool(inputs))
            if not table.num_rows:
                warn("knox: no known event matches --event/--class")
            emit(table, fmt, output, force=force, title="events", tz=tz)
        return
    _answer("events", inputs, users, f, limit, fmt, output, force, tz, columns)


def classes_(fmt: Format = "table", output: Output = None, force: Force = False) -> None:
    """The audit classes (code, mask, description) used by --class.

    Example: knox classes
    """
    from knox_analytics.questions import class_list

    with open_catalog(None, None) as cat:
        emit(class_list(cat), fmt, output, force=force, title="audit classes")


def tree(inputs: Annotated[list[str] | None, typer.Argument(
             help="Datasets, trail files or directories of trails (as every command).",
             show_default=False)] = None,
         pid: Pid = None, command: Command = None,
         depth: Annotated[int | None, typer.Option(
             "--depth", "-d", help="Descendants down to N levels (0: the process and its "
             "ancestors only).", show_default=False)] = None,
         limit: Annotated[int, typer.Option(
             "--limit", "-n", help="At most N processes (0: all); a note says what was "
             "left out.")] = TREE_LIMIT,
         old_inputs: Annotated[list[Path] | None, typer.Option(
             "--input", "-i", hidden=True, help="Old spelling of the inputs.")] = None,
         fmt: Format = "table", output: Output = None, force: Force = False,
         users: Users = None, tz: Tz = "UTC") -> None:
    """Process tree of a --pid (or of every process running --command): ancestors, the
    process, its descendants, with command, user, start and exit.

    Example: knox tree audit-parquet --pid 1202 --depth 2
    """
    from knox_analytics.tree import process_forest

    paths, pid = _tree_inputs(list(inputs or []), pid)
    paths += [Path(p) for p in old_inputs or []]
    with open_catalog(paths, users) as cat:
        flat = not _lifecycle_records(cat)  # no parent is known: group by session instead
        forest = process_forest(cat, pid, command, depth=depth, limit=limit,
                                by_session=flat)
        table = forest.table
        if not table.num_rows:
            warn(f"knox: no process {pid if pid is not None else command!r} in the input")
        else:
            if flat:  # a session tree must not pass for the fork tree
                warn("knox: no fork/exit records (class pc not audited): parent links "
                     "unknown; grouped by audit session instead (each process under its "
                     "session's leader)")
            if fmt == "table" and output is None:
                draw_tree(table, forest.children, tz)
            else:
                emit(table, fmt, output, force=force, tz=tz)
        if forest.note():
            warn(f"knox: {forest.note()}")
    damaged_exit(cat.damage)


def _lifecycle_records(cat: Any) -> bool:
    """Are there fork/spawn or exit records in the input (without them no parent is
    known)?  The first one found answers: counting them all was most of a tree's time."""
    return any(cat.sql(f"SELECT 1 FROM {source} LIMIT 1").fetchall()
               for source in ("records WHERE is_exit_event(event_name)", "process_starts"))


def _tree_inputs(given: list[str], pid: int | None) -> tuple[list[Path], int | None]:
    """`knox tree 1202 -i DS` (the old form: a leading number that is no file) still works."""
    if given and pid is None and given[0].isdigit() and not Path(given[0]).exists():
        return [Path(p) for p in given[1:]], int(given[0])
    return [Path(p) for p in given], pid


def draw_tree(table: Any, children: dict[str, int] | None = None,
              tz: str = "UTC") -> None:
    """Draw process_tree rows as a rich tree per root instance; under a process whose
    children were not all shown (``children``: instance -> how many it has), a line says
    how many were left out.  Times are in zone ``tz``, with the date when the rows shown
    start on more than one day of it."""
    from rich.console import Console
    from rich.tree import Tree

    from knox_analytics.zones import zone

    rows = table.to_pylist()
    place = zone(tz)
    days = {place.wall(r["start_time"]).date() for r in rows if r["start_time"]}
    clock = "%Y-%m-%d %H:%M:%S.%f" if len(days) > 1 else "%H:%M:%S.%f"
    console = Console()
    for root in dict.fromkeys(r["root"] for r in rows):
        mine = [r for r in rows if r["root"] == root]
        kids: dict[str, list[dict]] = {}
        for r in mine:  # rows come level by level in start order: children stay in order
            kids.setdefault(r["parent_instance"], []).append(r)
        top = min(mine, key=lambda r: r["depth"])
        label = _label(top, root, place, clock)
        console.print(_subtree(Tree(label), top, kids, root, children or {}, place, clock))


def _subtree(node: Any, row: dict, kids: dict[str, list[dict]], root: str,
             children: dict[str, int], place: Any, clock: str) -> Any:
    todo = [(node, row)]
    while todo:  # iterative: a chain of thousands of processes is no recursion limit
        at, row = todo.pop()
        below = [r for r in kids.get(row["instance"], []) if r["depth"] > row["depth"]]
        todo.extend(reversed([(at.add(_label(r, root, place, clock)), r) for r in below]))
        more = children.get(row["instance"], len(below)) - len(below)
        if more > 0 and row["depth"] >= 0:
            at.add(f"… {more:,} more not shown")
    return node


def _label(r: dict, root: str, place: Any, clock: str) -> Any:
    from rich.text import Text

    start = place.wall(r["start_time"]).strftime(clock)[:-3] if r["start_time"] else "?"
    end = f", exit {r['exit_status']}" if r["exit_time"] else ""
    label = Text(f"{r['pid']} {r['command'] or '?'}",
                 style="bold" if r["instance"] == root else "")
    return label + Text(f" ({r['user'] or '?'}, {start} {place.name}{end})")


def register(app: typer.Typer) -> None:
    """Add the question commands to the knox app."""
    for name, func in (("commands", commands), ("files", files), ("errors", errors),
                       ("tree", tree), ("network", network), ("logins", logins),
                       ("events", events), ("classes", classes_)):
        app.command(name)(func)
