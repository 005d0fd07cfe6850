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

import warnings
from pathlib import Path

from knox_analytics.catalog import Catalog
from knox_analytics.errors import OutputExistsError, UsageError
from knox_analytics.questions import Filters

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


def timeline(cat: Catalog, filters: Filters = Filters(), *, session: int | None = None,
             pid: int | None = None, top_commands: int = 10) -> Figure:
    """Gantt chart of process instances (fork → exec → exit), coloured by command."""
    return draw.timeline_figure(data.timeline_data(cat, filters, session=session, pid=pid),
                                top_commands=top_commands, title=_title(
                                    "process timeline", session, pid))


def tree(cat: Catalog, filters: Filters = Filters(), *, session: int | None = None,
         pid: int | None = None) -> Figure:
    """The process tree of a session (or of ``pid`` and its descendants)."""
    return draw.tree_figure(data.tree_data(cat, filters, session=session, pid=pid),
                            title=_title("process tree", session, pid))


def files(cat: Catalog, filters: Filters = Filters(), *, pid: int | None = None,
          max_paths: int = 40) -> Figure:
    """Every file ``pid`` and its descendants touched over time, failures ringed."""
    scope = f" of pid {pid} and descendants" if pid is not None else ""
    return draw.file_figure(data.file_data(cat, filters, pid=pid, max_paths=max_paths),
                            title=f"file access{scope} (top {max_paths} paths)")


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


def logins(cat: Catalog, filters: Filters = Filters()) -> Figure:
    """Login/logout, su, sudo, ssh and authorisation over time, with outcomes."""
    return draw.logins_figure(data.login_data(cat, filters))


def save(fig: Figure, path: str | Path, *, force: bool = False, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG, SVG or PDF (by suffix); an existing file needs ``force``."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"{out}: expected a picture file name ending in "
                         f"{', '.join(FORMATS)}, found {out.suffix or 'no suffix'!r}")
    if out.exists() and not force:
        raise OutputExistsError(f"{out}: exists (use --force to replace it)")
    with warnings.catch_warnings():  # a glyph missing from the font is drawn as a box
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        fig.savefig(out, dpi=dpi, metadata=_metadata(out))
    return out


def _metadata(out: Path) -> dict[str, str | None]:
    # Reproducible files: no creation date (SVG/PDF) and a fixed software tag.
    if out.suffix.lower() == ".png":
        return {"Software": "knox-analytics"}
    return {"Date": None, "Creator": "knox-analytics"}


def _title(what: str, session: int | None, pid: int | None) -> str:
    scope = [f"session {session}"] if session is not None else []
    scope += [f"pid {pid} and descendants"] if pid is not None else []
    return f"{what} ({', '.join(scope)})" if scope else what
