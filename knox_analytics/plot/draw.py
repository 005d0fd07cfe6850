"""Draw the tables of :mod:`knox_analytics.plot.data` as matplotlib Figures.

Each function takes an Arrow table (or a polars DataFrame with the same columns) and
returns a :class:`matplotlib.figure.Figure` built without pyplot, so nothing is kept in a
global figure list and no GUI backend is needed (PNG/SVG/PDF render with Agg).  Every
row of the table is drawn: one bar per process, one point per access or login, one
matrix cell count per pair, so pictures can be checked against the views.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pyarrow as pa
from matplotlib import colormaps, rc_context
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from knox_analytics.plot import glyphs
from knox_analytics.plot.data import OTHER, UNKNOWN, count_matrix
from knox_analytics.words import count
from knox_analytics.zones import UTC, Zone

#: Colours of file operation kinds (data.operation_kind).
KIND_COLOURS = {"read": "#4c72b0", "write": "#dd8452", "create": "#55a868",
                "delete": "#8c564b", "rename": "#8172b3", "attributes": "#937860",
                "other": "#8c8c8c"}
FAILED = "#d62728"
SUCCEEDED = "#2ca02c"
GREY = "#b0b0b0"


def as_arrow(table: Any) -> pa.Table:
    """An Arrow table from an Arrow table or a polars DataFrame."""
    if isinstance(table, pa.Table):
        return table
    if hasattr(table, "to_arrow"):  # polars.DataFrame
        return table.to_arrow()
    raise TypeError(f"expected a pyarrow.Table or polars.DataFrame, found {type(table)}")


class KnoxFigure(Figure):
    """A Figure whose texts (paths, command lines: any Unicode) are drawn with the fallback
    fonts, what none of them can draw escaped and said (:mod:`~knox_analytics.plot.glyphs`),
    however it is drawn: saved, or shown in a notebook."""

    def draw(self, renderer: Any) -> None:
        # tick labels made while drawing take the fonts from rcParams
        with rc_context({"font.family": list(glyphs.families())}):
            glyphs.fit_figure(self)
            super().draw(renderer)


def new_figure(width: float, height: float) -> tuple[Figure, Any]:
    """A Figure with one Axes, sized in inches, with a tight layout."""
    fig = KnoxFigure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def empty_figure(title: str, message: str) -> Figure:
    """A small figure saying there is nothing to draw (instead of an error)."""
    fig, ax = new_figure(6, 2)
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    fig.knox_empty = True  # type: ignore[attr-defined]  # the CLI says why, draws nothing
    return fig


def _times(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamps as matplotlib date numbers (UTC)."""
    values = column.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
    return mdates.date2num(values)


def _time_axis(ax: Any, zone: Zone = UTC) -> None:
    """Ticks and labels in ``zone`` (the data stays UTC; the label names the zone)."""
    locator = mdates.AutoDateLocator(tz=zone.tzinfo)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone.tzinfo))
    ax.set_xlabel(f"time ({zone.name})")


def command_colours(commands: list[str], top: int = 10) -> dict[str, Any]:
    """The ``top`` most frequent commands get a colour each; the rest are grey."""
    palette = colormaps["tab10" if top <= 10 else "tab20"]
    ranked = [c for c, _ in Counter(commands).most_common(top)]
    return {c: palette(i % palette.N) for i, c in enumerate(ranked)}


# -- processes ------------------------------------------------------------------------------
#: Height of one bar / tree row / path row, inches: a label (x-small, ~7 pt) needs ~0.12.
ROW_INCHES = 0.16
#: The tallest picture drawn, inches (at 100 dpi: 4,000 px); past it rows get thinner
#: and their labels are left out rather than drawn over each other.
MAX_INCHES = 40.0
#: Label font size in points (matplotlib's x-small at the default 10 pt).
LABEL_POINTS = 6.94


def timeline_figure(table: Any, *, top_commands: int = 10, title: str | None = None,
                    window: tuple[datetime | None, datetime | None] = (None, None),
                    zone: Zone = UTC) -> Figure:
    """Gantt chart: one bar per process instance from its fork/spawn (or first record)
    to its exit (paler when no exit was seen), ticks at successful execs, coloured by
    command.

    The x axis follows ``window`` (``--since``/``--until``) where given, else what is
    drawn: from the first start to the last start or exec, stretched to the bars' ends
    by at most that span again, so one long-lived process (a daemon running for days)
    does not squash every other bar into a pixel; a bar that goes on is cut at the edge.
    """
    t = as_arrow(table)
    if t.num_rows == 0:
        return empty_figure(title or "process timeline", "no processes")
    start, end = _times(t.column("start_time")), _times(t.column("end"))
    commands = [c or UNKNOWN for c in t.column("command").to_pylist()]
    colours = command_colours(commands, top_commands)
    exited = t.column("exited").to_pylist()
    fills = [to_rgba(colours.get(c, GREY), 1.0 if done else 0.4)
             for c, done in zip(commands, exited, strict=True)]
    rows = np.arange(t.num_rows)
    execs = t.column("exec_times").to_pylist()
    lo, hi = _x_range(start, end, execs, window)
    fig, ax = new_figure(11, _height(2.0, t.num_rows))
    ax.barh(rows, np.maximum(end - start, (hi - lo) * 0.003), left=start, color=fills,
            height=0.7)
    _exec_ticks(ax, execs)
    _row_labels(ax, [f"{p} {c}" for p, c in zip(t.column("pid").to_pylist(), commands,
                                               strict=True)])
    ax.set_xlim(lo, hi)
    _time_axis(ax, zone)
    handles = [Patch(color=c, label=name) for name, c in colours.items()]
    if len(set(commands)) > len(colours):
        handles.append(Patch(color=GREY, label=OTHER))
    handles.append(Patch(color=(0.5, 0.5, 0.5, 0.4), label="no exit seen"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.set_title(f"{title or 'process timeline'} — {count(t.num_rows, 'process', 'processes')}")
    return fig


def _height(fixed: float, rows: int) -> float:
    """Figure height (inches) for ``rows`` rows of ROW_INCHES, at most MAX_INCHES."""
    return min(fixed + ROW_INCHES * rows, MAX_INCHES)


def _x_range(start: np.ndarray, end: np.ndarray, execs: list[list[Any] | None],
             window: tuple[datetime | None, datetime | None]) -> tuple[float, float]:
    """The timeline's x limits (matplotlib date numbers): see :func:`timeline_figure`."""
    ticks = [mdates.date2num(when) for times in execs for when in times or []]
    first = float(start.min())
    last = float(max(start.max(), max(ticks, default=first)))
    span = max(last - first, 1 / 86400)  # at least a second
    lo = first - span * 0.02
    hi = min(float(end.max()), last + span) + span * 0.02
    since, until = window
    if since is not None:
        lo = float(mdates.date2num(since))
    if until is not None:
        hi = float(mdates.date2num(until))
    return lo, max(hi, lo + 1 / 86400)


def _exec_ticks(ax: Any, exec_times: list[list[Any] | None]) -> None:
    xs, ys = [], []
    for row, times in enumerate(exec_times):
        for when in times or []:
            xs.append(mdates.date2num(when))
            ys.append(row)
    ax.scatter(xs, ys, marker="|", color="black", s=60, linewidths=1.2, label="exec",
               zorder=3)


def _row_labels(ax: Any, labels: list[str], limit: int = 120) -> None:
    # Past `limit` rows, or when a row is thinner than a label, the labels cannot be read
    # (they overlap), and a tick per row costs seconds of matplotlib layout (2,000 rows:
    # 7 s): no ticks then, the rows speak for themselves.
    if len(labels) <= limit and _fits(ax, len(labels)):
        ax.set_yticks(range(len(labels)), labels, fontsize="x-small")
    else:
        ax.set_yticks([])
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first row on top


def _fits(ax: Any, rows: int) -> bool:
    """Whether ``rows`` rows of labels fit the axes' height without overlapping."""
    fig = ax.get_figure()
    inches = fig.get_figheight() * ax.get_position().height
    return rows == 0 or inches * 72 / rows >= LABEL_POINTS * 1.15


def tree_figure(table: Any, *, top_commands: int = 10, title: str | None = None) -> Figure:
    """The process tree as an indented tree (``pstree``-like): one node per instance at
    (depth, row), an elbow from each parent to each child, label ``pid command (user)``;
    a non-zero exit status is written in red."""
    t = as_arrow(table)
    if t.num_rows == 0:
        return empty_figure(title or "process tree", "no processes")
    rows = t.to_pylist()
    at = {r["instance"]: (r["depth"], r["row"]) for r in rows}
    commands = [r["command"] or UNKNOWN for r in rows]
    colours = command_colours(commands, top_commands)
    depth = max(r["depth"] for r in rows)
    fig, ax = new_figure(6.5 + 0.5 * depth, _height(1.5, len(rows)))
    labelled = _fits(ax, len(rows))
    days = {r["start_time"].date() for r in rows if r.get("start_time")}
    segments = [[(at[r["parent_instance"]][0], at[r["parent_instance"]][1]),
                 (at[r["parent_instance"]][0], r["row"]), (r["depth"], r["row"])]
                for r in rows if r["parent_instance"] is not None]
    ax.add_collection(LineCollection(segments, colors=GREY, linewidths=1))
    ax.scatter([r["depth"] for r in rows], [r["row"] for r in rows], s=24, zorder=3,
               c=[colours.get(c, GREY) for c in commands])
    for r, command in zip(rows, commands, strict=True) if labelled else ():
        status = r.get("exit_status")
        bad = status not in (None, 0)
        ax.text(r["depth"] + 0.12, r["row"], _node_label(r, command, len(days) > 1),
                va="center", fontsize=LABEL_POINTS, color=FAILED if bad else "black")
    ax.set_xlim(-0.5, depth + 3.5)
    ax.set_ylim(len(rows) - 0.5, -0.8)
    ax.set_axis_off()
    unlabelled = "" if labelled else "\n(too many rows to label: narrow, or lower --limit)"
    ax.set_title(f"{title or 'process tree'} — "
                 f"{count(len(rows), 'process', 'processes')}{unlabelled}")
    return fig


def _node_label(r: dict[str, Any], command: str, dated: bool = False) -> str:
    status = r.get("exit_status")
    end = f" exit {status}" if status not in (None, 0) else ""
    when = "%Y-%m-%d %H:%M:%S" if dated else "%H:%M:%S"  # several days: which day
    start = r["start_time"].strftime(when) if r.get("start_time") else "?"
    return f"{r['pid']} {command} ({r.get('user') or '?'}, {start}){end}"


# -- files ----------------------------------------------------------------------------------
def file_figure(table: Any, *, title: str | None = None, zone: Zone = UTC) -> Figure:
    """Every file access over time: one row per path (in order of first touch), one point
    per access coloured by kind of operation; failed accesses ringed in red."""
    t = as_arrow(table)
    if t.num_rows == 0:
        return empty_figure(title or "file access", "no file access")
    paths = t.column("path").to_pylist()
    order = {p: i for i, p in enumerate(dict.fromkeys(paths))}
    y = np.array([order[p] for p in paths])
    x = _times(t.column("time"))
    kinds = np.array(t.column("kind").to_pylist())
    ok = np.array([s is not False for s in t.column("success").to_pylist()])
    fig, ax = new_figure(11, min(2.0 + 0.22 * len(order), 30))
    for kind, colour in KIND_COLOURS.items():
        sel = kinds == kind
        if sel.any():
            ax.scatter(x[sel], y[sel], s=22, color=colour, label=kind, zorder=2)
    if (~ok).any():
        ax.scatter(x[~ok], y[~ok], s=110, facecolors="none", edgecolors=FAILED,
                   linewidths=1.5, label="failed", zorder=3)
    _row_labels(ax, [_short(p) for p in order])
    _time_axis(ax, zone)
    ax.grid(axis="y", color="#eeeeee")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.set_title(f"{title or 'file access'} — {count(t.num_rows, 'access', 'accesses')}, "
                 f"{int((~ok).sum())} failed, {count(len(order), 'path')}")
    return fig


def _short(path: str, width: int = 60) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1):]


def directories_figure(table: Any, *, title: str | None = None) -> Figure:
    """Horizontal bars: accesses per directory, the failed part in red."""
    t = as_arrow(table)
    if t.num_rows == 0:
        return empty_figure(title or "directories", "no file access")
    labels = [_short(d, 50) for d in t.column("directory").to_pylist()]
    fig, ax = new_figure(9, 1.2 + 0.3 * t.num_rows)
    rows = np.arange(t.num_rows)
    ax.barh(rows, t.column("accesses").to_numpy(), color=KIND_COLOURS["read"],
            label="accesses")
    ax.barh(rows, t.column("failures").to_numpy(), color=FAILED, label="failed")
    _row_labels(ax, labels)
    ax.set_xlabel("accesses")
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title(title or "most-touched directories")
    return fig


# -- matrices -------------------------------------------------------------------------------
def heatmap_figure(rows: list[str], cols: list[str], *, top: int = 12, title: str,
                   row_label: str, col_label: str, cmap: str = "Reds") -> Figure:
    """Counts of (row, col) pairs as an annotated heat map (top rows/columns, the rest
    as ``(other)``); every non-zero cell is written with its count."""
    if not rows:
        return empty_figure(title, "nothing to count")
    labels_r, labels_c, matrix = count_matrix(rows, cols, top, top)
    m = np.array(matrix)
    fig, ax = new_figure(2.5 + 0.55 * len(labels_c), 1.8 + 0.35 * len(labels_r))
    image = ax.imshow(m, cmap=cmap, aspect="auto")
    high = m.max() * 0.6
    for (i, j), n in np.ndenumerate(m):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize="x-small",
                    color="white" if n > high else "black")
    ax.set_xticks(range(len(labels_c)), [_short(c, 40) for c in labels_c], rotation=45,
                  ha="right", fontsize="small")
    ax.set_yticks(range(len(labels_r)), labels_r, fontsize="small")
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(title)
    return fig


def errors_heatmap_figure(table: Any, *, top: int = 12, title: str | None = None) -> Figure:
    """errno × command: how many failed records each command got with each errno."""
    t = as_arrow(table)
    return heatmap_figure(t.column("command").to_pylist(), t.column("errno_name").to_pylist(),
                          top=top, row_label="command", col_label="errno",
                          title=f"{title or 'failures by command and errno'} — "
                          f"{count(t.num_rows, 'failed record')}")


def connections_figure(table: Any, *, top: int = 12, title: str | None = None) -> Figure:
    """command × destination: connections (and accepts) each process made to each peer."""
    t = as_arrow(table)
    failed = sum(1 for s in t.column("success").to_pylist() if s is False)
    return heatmap_figure(t.column("command").to_pylist(),
                          t.column("destination").to_pylist(), top=top, cmap="Blues",
                          row_label="command", col_label="destination",
                          title=f"{title or 'connections by process and destination'} — "
                          f"{t.num_rows}, {failed} failed")


# -- errors over time -----------------------------------------------------------------------
def failures_over_time_figure(table: Any, *, bins: int = 48, top: int = 6,
                              title: str | None = None, zone: Zone = UTC) -> Figure:
    """Stacked bars of failed records per time bin, one colour per errno (top ``top``;
    the rest as ``(other)``)."""
    t = as_arrow(table)
    if t.num_rows == 0:
        return empty_figure(title or "failures over time", "no failed records")
    x = _times(t.column("time"))
    errnos = t.column("errno_name").to_pylist()
    keep = [e for e, _ in Counter(errnos).most_common(top)]
    labels = [e if e in keep else OTHER for e in errnos]
    edges = np.linspace(x.min(), max(x.max(), x.min() + 1e-6), bins + 1)
    fig, ax = new_figure(11, 4)
    bottom = np.zeros(bins)
    palette = colormaps["tab10"]
    for i, name in enumerate(keep + ([OTHER] if OTHER in labels else [])):
        counts, _ = np.histogram(x[np.array(labels) == name], bins=edges)
        colour = GREY if name == OTHER else palette(i % palette.N)
        ax.bar(edges[:-1], counts, width=np.diff(edges), bottom=bottom, align="edge",
               color=colour, label=name)
        bottom += counts
    _time_axis(ax, zone)
    ax.set_ylabel("failed records")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.set_title(f"{title or 'failures over time'} — {count(t.num_rows, 'failed record')}")
    return fig


def failing_paths_figure(table: Any, *, title: str | None = None) -> Figure:
    """Horizontal bars: failures per path (from data.top_failing_paths), errno names
    written at the end of each bar."""
    t = as_arrow(table)
    if t.num_rows == 0:
        return empty_figure(title or "top failing paths", "no failed record has a path")
    failures = t.column("failures").to_numpy()
    fig, ax = new_figure(10, 1.2 + 0.3 * t.num_rows)
    rows = np.arange(t.num_rows)
    ax.barh(rows, failures, color=FAILED)
    for row, n, names in zip(rows, failures, t.column("errno_names").to_pylist(),
                             strict=True):
        ax.text(n, row, " " + ", ".join(names), va="center", fontsize="x-small")
    _row_labels(ax, [_short(p, 50) for p in t.column("path").to_pylist()])
    ax.set_xlim(0, failures.max() * 1.35)
    ax.set_xlabel("failed records")
    ax.set_title(title or "top failing paths")
    return fig


# -- logins ---------------------------------------------------------------------------------
def _mark_size(points: int) -> tuple[float, float]:
    """Marker area and opacity for ``points`` marks: large and solid for a few, small and
    translucent for thousands."""
    if points <= 200:
        return 40.0, 1.0
    return max(4.0, 40.0 * (200 / points) ** 0.5), max(0.25, (200 / points) ** 0.25)


def logins_figure(table: Any, *, title: str | None = None, zone: Zone = UTC) -> Figure:
    """Login/logout, su, sudo, ssh and authorisation over time: one row per (operation,
    user), a green dot per success and a red cross per failure."""
    t = as_arrow(table)
    if t.num_rows == 0:
        return empty_figure(title or "logins", "no login, su, sudo or auth records")
    keys = [f"{o} · {u}" for o, u in zip(t.column("operation").to_pylist(),
                                         t.column("user").to_pylist(), strict=True)]
    order = {k: i for i, k in enumerate(sorted(set(keys)))}
    y = np.array([order[k] for k in keys])
    x = _times(t.column("time"))
    ok = np.array([s is not False for s in t.column("success").to_pylist()])
    fig, ax = new_figure(11, 1.5 + 0.3 * len(order))
    # Many marks on one row hide each other: shrink and thin them as they grow, and draw
    # the failures under the successes, so an 80 % success row does not look all red.
    size, alpha = _mark_size(len(x))
    ax.scatter(x[~ok], y[~ok] - 0.15, marker="x", s=size, color=FAILED, alpha=alpha,
               label="failed", zorder=2)
    ax.scatter(x[ok], y[ok] + 0.15, marker="o", s=size, color=SUCCEEDED, alpha=alpha,
               label="succeeded", zorder=3)
    rates = {k: (0, 0) for k in order}
    for k, good in zip(keys, ok, strict=True):
        n, g = rates[k]
        rates[k] = (n + 1, g + int(good))
    order = {f"{k} ({g * 100 // n} % ok of {n})": i for k, i in order.items()
             for n, g in [rates[k]]}
    _row_labels(ax, list(order))
    ax.grid(axis="y", color="#eeeeee")
    _time_axis(ax, zone)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.set_title(f"{title or 'logins, su, sudo and authorisation'} — {t.num_rows}, "
                 f"{int((~ok).sum())} failed")
    return fig
