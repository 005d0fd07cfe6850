"""``knox plot timeline|tree|errors|files|network|logins``: the notebooks' pictures from
the shell, written to a PNG, SVG or PDF file.

Each command is parse → one :mod:`knox_analytics.plot` call → save.  The filters are the
question commands' (same flags, same meaning).  matplotlib is imported only when a
picture is drawn, so ``knox`` works without the ``plot`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from knox_analytics.cli.common import (
    Classes,
    Command,
    Event,
    Failed,
    Force,
    Inputs,
    PathGlob,
    Since,
    Until,
    User,
    Users,
    damaged_exit,
    filters,
    open_catalog,
    warn,
)
from knox_analytics.cli.output import check_output
from knox_analytics.errors import NoAnswerError, UsageError
from knox_analytics.questions import Filters

if TYPE_CHECKING:
    from matplotlib.figure import Figure

plot_app = typer.Typer(
    help="Draw the pictures of the notebooks to a PNG, SVG or PDF file (needs the plot "
    "extra: pip install 'knox-analytics\\[plot]').\n\n"
    "Example: knox plot timeline audit-parquet --session 100012 -o timeline.png",
    no_args_is_help=True,
)

Out = Annotated[Path, typer.Option(
    "--output", "-o", help="Picture file: .png, .svg or .pdf (by suffix).",
    show_default=False)]
Session = Annotated[int | None, typer.Option(
    "--session", "-s", help="Audit session id (sid): its processes only.",
    show_default=False)]
Pid = Annotated[int | None, typer.Option(
    "--pid", help="This process and its descendants only.", show_default=False)]
# The defaults below are plot.LIMITS (not imported: it needs matplotlib; a test checks).
PlotLimit = Annotated[int, typer.Option(
    "--limit", help="Draw at most this many processes / accesses / records (the first in "
    "time); the picture says how many were left out. 0: no limit.")]
Top = Annotated[int, typer.Option("--top", help="Rows/columns (or colours) shown; the rest "
                                  "is gathered as (other).")]


def _draw(inputs: list[Path] | None, users: str | None, output: Path, force: bool,
          picture: str, **kwargs: object) -> None:
    """Open the catalog, draw ``plot.<picture>(cat, **kwargs)``, save it."""
    _check_output(output, force)
    from knox_analytics import plot
    from knox_analytics.known import check_filters

    with open_catalog(inputs, users) as cat:
        if isinstance(f := kwargs.get("filters"), Filters):
            check_filters(cat, f)
        try:
            fig: Figure = getattr(plot, picture)(cat, **kwargs)
        except NoAnswerError as exc:
            raise NoAnswerError(f"{exc} (no picture written)") from None
        if getattr(fig, "knox_empty", False):  # a blank picture explains nothing
            raise NoAnswerError(f"{_why_nothing(cat, picture, kwargs)} (no picture "
                                "written)")
        plot.save(fig, output, force=force)
    if getattr(fig, "knox_note", None):
        warn(f"knox: {fig.knox_note}")
    warn(f"wrote {output}")
    damaged_exit(cat.damage)


#: The question whose rows each picture draws (to say why there are none).
_QUESTION = {"timeline": "processes", "tree": "processes", "files": "files",
             "directories": "files", "errors_heatmap": "errors",
             "failures_over_time": "errors", "failing_paths": "errors",
             "connections": "network", "logins": "logins"}


def _why_nothing(cat: object, picture: str, kwargs: dict[str, object]) -> str:
    from knox_analytics.questions import why_empty

    f = kwargs.get("filters")
    question = _QUESTION[picture]
    why = why_empty(cat, question, f if isinstance(f, Filters) else Filters())
    scope = ", ".join(f"--{k} {v}" for k in ("session", "pid")
                      if (v := kwargs.get(k)) is not None)
    return why.replace(f"no {question} ", f"no {question} with {scope} ", 1) if scope \
        else why


def _check_output(output: Path, force: bool) -> None:
    # Refuse a bad name or place before decoding anything (save() checks again).
    if output.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--output {output}: expected a name ending in .png, .svg or .pdf")
    check_output(output, force)


@plot_app.command("timeline")
def timeline(output: Out, inputs: Inputs = None,
             session: Session = None, pid: Pid = None, since: Since = None,
             until: Until = None, user: User = None, command: Command = None,
             top: Top = 10, limit: PlotLimit = 100, force: Force = False,
             users: Users = None) -> None:
    """Gantt chart of processes: fork/spawn → exec → exit, coloured by command.

    One bar per process instance, ticks at its execs; --since/--until select processes
    by start time.

    Example: knox plot timeline audit-parquet --session 100012 -o timeline.png
    """
    f = filters(since=since, until=until, user=user, command=command)
    _draw(inputs, users, output, force, "timeline", filters=f, session=session, pid=pid,
          top_commands=top, limit=limit or None)


@plot_app.command("tree")
def tree(output: Out, inputs: Inputs = None, session: Session = None,
         pid: Pid = None, since: Since = None, until: Until = None, user: User = None,
         command: Command = None, limit: PlotLimit = 100, force: Force = False,
         users: Users = None) -> None:
    """Process tree of a session (--session) or of a process and its descendants (--pid).

    Who started whom, with user, start time and non-zero exit statuses (in red).

    Example: knox plot tree /var/audit/current --pid 740 -o tree.svg
    """
    f = filters(since=since, until=until, user=user, command=command)
    _draw(inputs, users, output, force, "tree", filters=f, session=session, pid=pid,
          limit=limit or None)


ERROR_PICTURES = {"heatmap": "errors_heatmap", "time": "failures_over_time",
                  "paths": "failing_paths"}


@plot_app.command("errors")
def errors(output: Out, inputs: Inputs = None,
           show: Annotated[str, typer.Option(
               "--show", help="heatmap (errno × command), time (failures over time, by "
               "errno) or paths (top failing paths).")] = "heatmap",
           since: Since = None, until: Until = None, user: User = None,
           command: Command = None, path: PathGlob = None, classes: Classes = None,
           event: Event = None, top: Top = 12, force: Force = False,
           users: Users = None) -> None:
    """Where errors come from: errno × command, failures over time, failing paths.

    --show heatmap (default), time or paths.

    Example: knox plot errors audit-parquet --show time --since 2026-03-02 -o failures.png
    """
    if show not in ERROR_PICTURES:
        raise UsageError(f"--show {show!r}: expected one of {', '.join(ERROR_PICTURES)}")
    f = filters(since=since, until=until, user=user, command=command, path=path, classes=classes,
                event=event)
    _draw(inputs, users, output, force, ERROR_PICTURES[show], filters=f, top=top)


@plot_app.command("files")
def files(output: Out, inputs: Inputs = None, pid: Pid = None,
          show: Annotated[str, typer.Option(
              "--show", help="timeline (every access by path over time) or directories "
              "(most-touched directories).")] = "timeline",
          since: Since = None, until: Until = None, user: User = None,
          command: Command = None, path: PathGlob = None, failed: Failed = False,
          top: Annotated[int, typer.Option("--top", help="Paths (or directories) shown.")
                         ] = 40,
          limit: PlotLimit = 20000, force: Force = False, users: Users = None) -> None:
    """Files a process and its descendants (--pid) touched over time, failures ringed.

    One row per path, one point per access coloured by kind of operation; --show
    directories draws the most-touched directories instead.

    Example: knox plot files audit-parquet --pid 740 -o files.png
    """
    f = filters(since=since, until=until, user=user, command=command, path=path, failed=failed)
    if show == "timeline":
        _draw(inputs, users, output, force, "files", filters=f, pid=pid, max_paths=top,
              limit=limit or None)
    elif show == "directories":
        _draw(inputs, users, output, force, "directories", filters=f, pid=pid, top=top)
    else:
        raise UsageError(f"--show {show!r}: expected timeline or directories")


@plot_app.command("network")
def network(output: Out, inputs: Inputs = None, since: Since = None,
            until: Until = None, user: User = None, command: Command = None,
            failed: Failed = False, top: Top = 12, force: Force = False,
            users: Users = None) -> None:
    """Connections by process and destination, as a heat map of counts.

    connect, accept, sendto and sendmsg records; the destination is address:port or the
    unix socket path.

    Example: knox plot network audit-parquet --users sample_trails/passwd --user alice -o net.png
    """
    f = filters(since=since, until=until, user=user, command=command, failed=failed)
    _draw(inputs, users, output, force, "connections", filters=f, top=top)


@plot_app.command("logins")
def logins(output: Out, inputs: Inputs = None, since: Since = None,
           until: Until = None, user: User = None, failed: Failed = False,
           limit: PlotLimit = 20000, force: Force = False, users: Users = None) -> None:
    """Login/logout, su, sudo, ssh and authorisation over time, with outcomes.

    One row per operation and user; a green dot per success, a red cross per failure.

    Example: knox plot logins /var/audit -o logins.svg
    """
    f = filters(since=since, until=until, user=user, failed=failed)
    _draw(inputs, users, output, force, "logins", filters=f, limit=limit or None)


def register(app: typer.Typer) -> None:
    """Add ``knox plot`` and its subcommands to the knox app."""
    app.add_typer(plot_app, name="plot")

