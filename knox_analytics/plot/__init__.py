"""Pictures of audit data: a Catalog in, a matplotlib Figure out.

    >>> from knox_analytics import Catalog, plot                        # doctest: +SKIP
    >>> cat = Catalog(["sample_trails/generated-workday.bsm"])
    >>> plot.timeline(cat, session=100012)              # Gantt chart of one session
    >>> plot.save(plot.errors_heatmap(cat), "errors.png")

Each picture is a query (:mod:`knox_analytics.plot.data`, Arrow tables: what is drawn)
and a drawing (:mod:`knox_analytics.plot.draw`, tables → Figure); the functions here
compose the two.  The drawings also accept tables you made yourself (Arrow or polars
with the same columns).  Selections take the question commands'
:class:`~knox_analytics.questions.Filters` (user, command, since/until, …).  Needs the
``plot`` extra (matplotlib): ``pip install 'knox-analytics[plot]'``.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

from knox_analytics.catalog import Catalog
from knox_analytics.errors import OutputExistsError, UsageError
from knox_analytics.questions import Filters, parse_time

try:
    from matplotlib.figure import Figure
except ModuleNotFoundError as exc:  # the core install has no matplotlib
    raise UsageError("pictures need matplotlib: pip install 'knox-analytics[plot]' "
                     "(or '[notebooks]')") from exc

from knox_analytics.plot import data, draw
from knox_analytics.plot.data import sessions, subtree

__all__ = ["FORMATS", "connections", "data", "directories", "draw", "errors_heatmap",
           "failing_paths", "failures_over_time", "files", "logins", "save", "sessions",
           "subtree", "timeline", "tree"]

#: Picture formats ``save`` writes (by file suffix).
FORMATS = (".png", ".svg", ".pdf")

#: What a picture draws at most by default (``limit=``, ``knox plot --limit``): a bar or
#: tree row per process can be read (its label too) up to about a hundred rows; past a
#: few thousand points a picture is unreadable and slow to draw (a 300 MB trail holds
#: 400 k processes).  The first rows in time are drawn and the picture says how many
#: were left out; ``limit=None`` draws everything.
LIMITS = {"timeline": 100, "tree": 100, "files": 20_000, "logins": 20_000}


def _noted(fig: Figure, table: object, what: str, narrow: str, drawn: str = "") -> Figure:
    """Say on the picture (and in ``fig.knox_note``) what the limit left out; ``drawn``:
    which of the rows the limit kept are drawn, when not all of them are."""
    gone = data.left_out(table)  # type: ignore[arg-type]
    fig.knox_note = None  # type: ignore[attr-defined]
    if gone:
        kept, total = gone
        note = (f"showing the first {kept:,} of {total:,} {what}{drawn}; narrow with "
                f"{narrow} or raise --limit")
        fig.knox_note = note  # type: ignore[attr-defined]
        ax = fig.axes[0]  # under the title, where it is read first
        # wrapped to the figure's width (~0.09 in a character): a long note is not clipped
        width = max(40, int(fig.get_figwidth() / 0.09))
        ax.set_title("\n".join([ax.get_title(), *textwrap.wrap(note, width)]),
                     fontsize="medium")
    return fig


_NARROW = "--session, --pid, --since/--until or --user"


def timeline(cat: Catalog, filters: Filters = Filters(), *, session: int | None = None,
             pid: int | None = None, top_commands: int = 10,
             limit: int | None = LIMITS["timeline"]) -> Figure:
    """Gantt chart of process instances (fork → exec → exit), coloured by command; at
    most ``limit`` processes (the first by start time)."""
    table = data.timeline_data(cat, filters, session=session, pid=pid, limit=limit)
    fig = draw.timeline_figure(table, top_commands=top_commands,
                               title=_title("process timeline", session, pid),
                               window=_window(filters))
    return _noted(fig, table, "processes", _NARROW)


def tree(cat: Catalog, filters: Filters = Filters(), *, session: int | None = None,
         pid: int | None = None, limit: int | None = LIMITS["tree"]) -> Figure:
    """The process tree of a session (or of ``pid`` and its descendants); at most
    ``limit`` processes."""
    table = data.tree_data(cat, filters, session=session, pid=pid, limit=limit)
    fig = draw.tree_figure(table, title=_title("process tree", session, pid))
    return _noted(fig, table, "processes", _NARROW)


def files(cat: Catalog, filters: Filters = Filters(), *, pid: int | None = None,
          max_paths: int = 40, limit: int | None = LIMITS["files"]) -> Figure:
    """Every file ``pid`` and its descendants touched over time, failures ringed; at
    most ``limit`` accesses (the first in time)."""
    scope = f" of pid {pid} and descendants" if pid is not None else ""
    table = data.file_data(cat, filters, pid=pid, max_paths=max_paths, limit=limit)
    fig = draw.file_figure(table, title=f"file access{scope} (top {max_paths} paths)")
    gone = data.left_out(table)
    drawn = (f" ({table.num_rows:,} of them on the top {max_paths} paths drawn)"
             if gone and table.num_rows < gone[0] else "")
    return _noted(fig, table, "file accesses", "--pid, --path, --since/--until or --user",
                  drawn)


def directories(cat: Catalog, filters: Filters = Filters(), *, pid: int | None = None,
                top: int = 15) -> Figure:
    """The most-touched directories (of ``pid`` and its descendants), failures in red."""
    table = data.file_data(cat, filters, pid=pid, max_paths=1_000_000)
    return draw.directories_figure(data.directory_counts(table, top))


def errors_heatmap(cat: Catalog, filters: Filters = Filters(), *, top: int = 12) -> Figure:
    """Heat map of failed records by errno × command."""
    return draw.errors_heatmap_figure(data.error_data(cat, filters), top=top)


def failures_over_time(cat: Catalog, filters: Filters = Filters(), *, bins: int = 48,
                       top: int = 6) -> Figure:
    """Failed records per time bin, stacked by errno."""
    return draw.failures_over_time_figure(data.error_data(cat, filters), bins=bins, top=top)


def failing_paths(cat: Catalog, filters: Filters = Filters(), *, top: int = 15) -> Figure:
    """The paths with most failures, with their errno names."""
    return draw.failing_paths_figure(data.top_failing_paths(data.error_data(cat, filters),
                                                            top))


def connections(cat: Catalog, filters: Filters = Filters(), *, top: int = 12) -> Figure:
    """Heat map of connections by process (command) × destination."""
    return draw.connections_figure(data.connection_data(cat, filters), top=top)


def logins(cat: Catalog, filters: Filters = Filters(), *,
           limit: int | None = LIMITS["logins"]) -> Figure:
    """Login/logout, su, sudo, ssh and authorisation over time, with outcomes; at most
    ``limit`` records."""
    table = data.login_data(cat, filters, limit=limit)
    return _noted(draw.logins_figure(table), table, "login records",
                  "--since/--until, --user or --failed")


def save(fig: Figure, path: str | Path, *, force: bool = False, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG, SVG or PDF (by suffix); an existing file needs ``force``."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"{out}: expected a picture file name ending in "
                         f"{', '.join(FORMATS)}, found {out.suffix or 'no suffix'!r}")
    if out.exists() and not force:
        raise OutputExistsError(f"{out}: exists (use --force to replace it)")
    # no glyph is missing: a character no font can draw is escaped (plot.glyphs)
    fig.savefig(out, dpi=dpi, metadata=_metadata(out))
    return out


def _metadata(out: Path) -> dict[str, str | None]:
    # Reproducible files: no creation date (SVG/PDF) and a fixed software tag.
    if out.suffix.lower() == ".png":
        return {"Software": "knox-analytics"}
    return {"Date": None, "Creator": "knox-analytics"}


def _window(filters: Filters) -> tuple[datetime | None, datetime | None]:
    """--since/--until as times: the x axis a time picture spans when they are given."""
    return (parse_time(filters.since) if filters.since else None,
            parse_time(filters.until) if filters.until else None)


def _title(what: str, session: int | None, pid: int | None) -> str:
    scope = [f"session {session}"] if session is not None else []
    scope += [f"pid {pid} and descendants"] if pid is not None else []
    return f"{what} ({', '.join(scope)})" if scope else what
