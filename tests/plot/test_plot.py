"""Pictures (knox_analytics.plot) and ``knox plot``: what is drawn equals what the views say.

Fixture: ``sample_trails/generated-workday.bsm`` (written by ``python -m
knox_analytics.workload --seed 1 --records 3000``, see sample_trails/README.md).  Every
test counts the artists of a figure (bars, points, segments, labels, annotated cells) and
compares them with an independent query over the catalog views.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="pictures need the plot extra (matplotlib): "
                    "pip install -e '.[plot]'")

import polars as pl
from knoxtest import ROOT, WORKDAY
from matplotlib.collections import LineCollection
from typer.testing import CliRunner

from knox_analytics import plot
from knox_analytics.catalog import Catalog
from knox_analytics.errors import KnoxError, NoAnswerError, OutputExistsError, UsageError
from knox_analytics.plot import data, draw
from knox_analytics.questions import Filters

# end-to-end: in `make test`, not in the fast `make check` loop
pytestmark = pytest.mark.slow

TRAIL = WORKDAY
SESSION = 100012  # alice's shorter login session: a zsh (pid 740), 29 processes
SHELL = 740


@pytest.fixture(scope="module")
def cat() -> Catalog:
    with Catalog([TRAIL]) as c:
        yield c


def scalar(cat: Catalog, sql: str, params: list | None = None) -> object:
    return cat.query(sql, params).column(0)[0].as_py()


def axes(fig: object) -> object:
    return fig.axes[0]


def collections(ax: object, label: str) -> list:
    return [c for c in ax.collections if c.get_label() == label]


def points(ax: object, label: str) -> int:
    return sum(len(c.get_offsets()) for c in collections(ax, label))


# -- processes ------------------------------------------------------------------------------
def test_timeline_one_bar_per_process_and_a_tick_per_exec(cat: Catalog) -> None:
    ax = axes(plot.timeline(cat, session=SESSION))
    procs = cat.query("SELECT pid, command, instance FROM processes WHERE sid = ? "
                      "ORDER BY start_time, instance", [SESSION]).to_pylist()
    assert len(ax.patches) == len(procs) == 29
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"{p['pid']} {p['command'] or data.UNKNOWN}" for p in procs]
    execs = scalar(cat, "SELECT count(*) FROM commands WHERE success AND instance IN "
                   "(SELECT instance FROM processes WHERE sid = ?)", [SESSION])
    assert points(ax, "exec") == execs > 0


def test_timeline_bars_run_from_start_to_exit(cat: Catalog) -> None:
    import matplotlib.dates as mdates

    table = data.timeline_data(cat, session=SESSION)
    ax = axes(draw.timeline_figure(table))
    row = table.to_pylist()[0]  # the login shell: the longest bar
    bar = ax.patches[0]
    assert row["pid"] == SHELL and row["exited"]
    assert bar.get_x() == pytest.approx(mdates.date2num(row["start_time"]))
    assert bar.get_x() + bar.get_width() == pytest.approx(mdates.date2num(row["end"]))


def test_timeline_filters_are_the_question_filters(cat: Catalog) -> None:
    fig = plot.timeline(cat, Filters(command="curl", since="2026-03-02T12:00"))
    n = scalar(cat, "SELECT count(*) FROM processes WHERE command = 'curl' AND "
               "start_time >= TIMESTAMPTZ '2026-03-02 12:00:00+00'")
    assert len(axes(fig).patches) == n > 0
    with pytest.raises(UsageError, match="--failed does not apply"):
        plot.timeline(cat, Filters(failed=True))


def test_tree_of_a_session_draws_every_process_and_parent_link(cat: Catalog) -> None:
    table = data.tree_data(cat, session=SESSION)
    ax = axes(plot.tree(cat, session=SESSION))
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    links = scalar(cat, "SELECT count(*) FROM processes AS c JOIN processes AS p ON "
                   "p.instance = c.parent_instance WHERE c.sid = ? AND p.sid = ?",
                   [SESSION, SESSION])
    assert len(ax.texts) == table.num_rows == 29
    assert len(lines.get_segments()) == links == 27  # 741 has no known parent
    rows = {r["instance"]: r for r in table.to_pylist()}
    for r in rows.values():  # children sit below and one level right of their parent
        if r["parent_instance"]:
            parent = rows[r["parent_instance"]]
            assert r["depth"] == parent["depth"] + 1 and r["row"] > parent["row"]
    assert next(t.get_text() for t in ax.texts).startswith(f"{SHELL} zsh")


def test_tree_of_a_pid_is_the_pid_and_its_descendants(cat: Catalog) -> None:
    table = data.tree_data(cat, pid=SHELL)
    expected = cat.query("SELECT DISTINCT instance FROM process_tree(?) WHERE depth >= 0",
                         [SHELL]).column(0).to_pylist()
    assert sorted(table.column("instance").to_pylist()) == sorted(expected)
    assert [r["depth"] for r in table.to_pylist() if r["pid"] == SHELL] == [0]
    with pytest.raises(NoAnswerError, match="pid 99999"):
        plot.tree(cat, pid=99999)


def test_layout_tree_keeps_unknown_parents_as_roots() -> None:
    rows = [{"instance": "a", "parent_instance": None}, {"instance": "c",
            "parent_instance": "b"}, {"instance": "b", "parent_instance": "a"},
            {"instance": "d", "parent_instance": "gone"}]
    out = data.layout_tree(rows)
    assert [(r["instance"], r["depth"], r["row"]) for r in out] == [
        ("a", 0, 0), ("b", 1, 1), ("c", 2, 2), ("d", 0, 3)]


# -- files ----------------------------------------------------------------------------------
def test_file_timeline_one_point_per_access_failures_ringed(cat: Catalog) -> None:
    ax = axes(plot.files(cat, pid=SHELL))
    q = ("FROM file_access WHERE path IS NOT NULL AND instance IN (SELECT instance FROM "
         "process_tree(?) WHERE depth >= 0)")
    total = scalar(cat, f"SELECT count(*) {q}", [SHELL])
    failed = scalar(cat, f"SELECT count(*) {q} AND NOT success", [SHELL])
    paths = cat.query(f"SELECT path, min(time) AS t, min(\"offset\") AS o {q} GROUP BY path "
                      "ORDER BY t, o", [SHELL]).column("path").to_pylist()
    drawn = sum(points(ax, kind) for kind in draw.KIND_COLOURS)
    assert drawn == total == 33
    assert points(ax, "failed") == failed == 9
    assert [t.get_text() for t in ax.get_yticklabels()] == [draw._short(p) for p in paths]


def test_file_timeline_keeps_the_most_touched_paths(cat: Catalog) -> None:
    table = data.file_data(cat, max_paths=5)
    top = cat.query("SELECT path, count(*) AS n FROM file_access WHERE path IS NOT NULL "
                    "GROUP BY path ORDER BY n DESC LIMIT 5").to_pylist()
    kept = pl.from_arrow(table).group_by("path").len()["len"].sort(descending=True)
    assert kept.to_list() == [r["n"] for r in top]  # ties may keep another path, same count
    assert table.num_rows == sum(r["n"] for r in top)


def test_operation_kinds() -> None:
    assert data.operation_kind("open_r", "O_RDONLY") == "read"
    assert data.operation_kind("openat_wtc", "O_WRONLY|O_CREAT|O_TRUNC") == "create"
    assert data.operation_kind("open_rw", "O_RDWR") == "write"
    assert data.operation_kind("unlink", None) == "delete"
    assert data.operation_kind("rename", None) == "rename"
    assert data.operation_kind("chmod", None) == "attributes"
    assert data.operation_kind("mkdir", None) == "create"


def test_directories_bars_count_accesses_per_directory(cat: Catalog) -> None:
    ax = axes(plot.directories(cat, top=8))
    expected = cat.query(
        "SELECT regexp_replace(path, '/[^/]*$', '') AS d, count(*) AS n, "
        "count(*) FILTER (WHERE NOT success) AS f FROM file_access WHERE path LIKE '/%/%' "
        "GROUP BY d ORDER BY n DESC, d LIMIT 8").to_pylist()
    accesses, failures = ax.containers
    assert [b.get_width() for b in accesses] == [r["n"] for r in expected]
    assert [b.get_width() for b in failures] == [r["f"] for r in expected]


# -- errors ---------------------------------------------------------------------------------
def test_errors_heatmap_cells_are_errors_view_counts(cat: Catalog) -> None:
    ax = axes(plot.errors_heatmap(cat, top=30))  # top 30: every pair has its own cell
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    cells = {(rows[round(t.get_position()[1])], cols[round(t.get_position()[0])]):
             int(t.get_text()) for t in ax.texts}
    expected = cat.query("SELECT COALESCE(command, '(unknown)') AS c, errno_name AS e, "
                         "count(*) AS n FROM errors GROUP BY ALL").to_pylist()
    assert cells == {(r["c"], r["e"]): r["n"] for r in expected}


def test_errors_heatmap_gathers_the_rest_and_keeps_the_total(cat: Catalog) -> None:
    ax = axes(plot.errors_heatmap(cat, top=4))
    assert sum(int(t.get_text()) for t in ax.texts) == scalar(
        cat, "SELECT count(*) FROM errors") == 230
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == data.OTHER


def test_failures_over_time_stack_to_the_number_of_errors(cat: Catalog) -> None:
    ax = axes(plot.failures_over_time(cat, bins=24, top=3))
    assert len(ax.containers) == 4  # 3 errnos + (other)
    assert sum(b.get_height() for c in ax.containers for b in c) == 230
    enoent = scalar(cat, "SELECT count(*) FROM errors WHERE errno_name = 'ENOENT'")
    first = ax.containers[0]
    assert first.get_label() == "ENOENT" and sum(b.get_height() for b in first) == enoent


def test_failing_paths_are_errors_by_path(cat: Catalog) -> None:
    ax = axes(plot.failing_paths(cat, top=10))
    expected = cat.query("SELECT path, failures FROM errors_by_path LIMIT 10").to_pylist()
    assert [b.get_width() for b in ax.patches] == [r["failures"] for r in expected]
    assert [t.get_text() for t in ax.get_yticklabels()] == [draw._short(r["path"], 50)
                                                            for r in expected]


def test_count_matrix_other_bucket() -> None:
    rows, cols, m = data.count_matrix(list("aaabbc"), list("xxyyzz"), top_rows=2, top_cols=2)
    assert rows == ["a", "b", data.OTHER] and cols == ["x", "y", data.OTHER]
    assert m == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert sum(map(sum, m)) == 6


# -- network and logins ---------------------------------------------------------------------
def test_connections_heatmap_counts_connections(cat: Catalog) -> None:
    fig = plot.connections(cat, top=50)
    cells = sum(int(t.get_text()) for t in axes(fig).texts)
    n = scalar(cat, "SELECT count(*) FROM network WHERE list_contains(?, operation) AND "
               "CASE WHEN family = 'unix' THEN socket_path ELSE remote_addr END IS NOT NULL",
               [list(data.CONNECT_OPERATIONS)])
    assert cells == n == 193
    curl = scalar(cat, "SELECT count(*) FROM network WHERE command = 'curl' AND "
                  "operation = 'connect' AND remote_addr = '10.0.0.8' AND remote_port = 443")
    table = data.connection_data(cat)
    assert table.filter(pl.from_arrow(table).select(
        (pl.col("command") == "curl") & (pl.col("destination") == "10.0.0.8:443")
    ).to_series().to_arrow()).num_rows == curl


def test_destination_forms() -> None:
    assert data._destination("inet6", "2001:db8::5", 443, None) == "[2001:db8::5]:443"
    assert data._destination("inet", "10.0.0.8", 22, None) == "10.0.0.8:22"
    assert data._destination("unix", None, None, "/var/run/x") == "/var/run/x"
    assert data._destination(None, None, None, None) is None


def test_logins_one_point_per_record_failures_crossed(cat: Catalog) -> None:
    ax = axes(plot.logins(cat))
    total = scalar(cat, "SELECT count(*) FROM logins")
    failed = scalar(cat, "SELECT count(*) FROM logins WHERE NOT success")
    assert points(ax, "succeeded") + points(ax, "failed") == total == 50
    assert points(ax, "failed") == failed == 15
    rows = cat.query("SELECT operation || ' · ' || \"user\" AS k, count(*) AS n, "
                     "count(*) FILTER (WHERE success) AS ok FROM logins GROUP BY 1 "
                     "ORDER BY k").to_pylist()
    want = [f"{r['k']} ({r['ok'] * 100 // r['n']} % ok of {r['n']})" for r in rows]
    assert [t.get_text() for t in ax.get_yticklabels()] == want  # each row's success rate


def test_many_logins_do_not_bury_successes_under_failures() -> None:
    size, alpha = draw._mark_size(20_000)
    assert size < 10 and alpha < 0.5 and draw._mark_size(50) == (40.0, 1.0)


def test_pictures_have_a_limit_and_say_what_they_left_out(cat: Catalog) -> None:
    total = scalar(cat, "SELECT count(*) FROM processes")
    fig = plot.timeline(cat, limit=5)
    assert len(data.timeline_data(cat, limit=5)) == 5
    assert fig.knox_note == (f"showing the first 5 of {total:,} processes; narrow with "
                             "--session, --pid, --since/--until or --user or raise --limit")
    title = fig.axes[0].get_title().split("\n")
    assert " ".join(title[1:]) == fig.knox_note  # under the title, wrapped to the width
    assert plot.timeline(cat, session=None, limit=None).knox_note is None
    assert plot.logins(cat, limit=3).knox_note.startswith("showing the first 3 of 50 login")
    assert plot.LIMITS["timeline"] == plot.LIMITS["tree"] == 100  # readable: issue 23



def test_the_files_note_names_the_limit_applied(cat: Catalog) -> None:
    """Issue 23 item 17: the note named the rows left after keeping the top paths
    ("the first 148 of …" under --limit 500) as if it were the limit."""
    total = scalar(cat, "SELECT count(*) FROM file_access WHERE path IS NOT NULL")
    assert total > 50
    fig = plot.files(cat, limit=50, max_paths=3)
    drawn = fig.axes[0].get_title().split("\n")[0]
    shown = int(drawn.split(" — ")[1].split(" ")[0])
    assert shown < 50  # the top 3 paths hold fewer than the 50 accesses the limit kept
    assert fig.knox_note.startswith(f"showing the first 50 of {total:,} file accesses "
                                    f"({shown} of them on the top 3 paths drawn); ")
    assert plot.files(cat, limit=50, max_paths=1000).knox_note.startswith(
        f"showing the first 50 of {total:,} file accesses; narrow")

def test_the_cli_defaults_are_the_plot_limits() -> None:
    import inspect

    from knox_analytics.cli import plot as plot_cli

    for name in ("timeline", "tree", "files", "logins"):
        default = inspect.signature(getattr(plot_cli, name)).parameters["limit"].default
        assert default == plot.LIMITS[name], name


def test_plot_cli_says_what_it_left_out(tmp_path: Path) -> None:
    import typer as _typer

    from knox_analytics.cli import plot as plot_cli

    app = _typer.Typer()
    plot_cli.register(app)
    out = tmp_path / "t.png"
    result = CliRunner().invoke(app, ["plot", "timeline", str(TRAIL), "--limit", "4", "-o",
                                      str(out)])
    assert result.exit_code == 0, result.output
    assert "knox: showing the first 4 of" in result.stderr and out.is_file()


# -- inputs, empty pictures, files ----------------------------------------------------------
def test_drawings_accept_polars(cat: Catalog) -> None:
    table = data.timeline_data(cat, session=SESSION)
    a = axes(draw.timeline_figure(table))
    b = axes(draw.timeline_figure(pl.from_arrow(table)))
    assert len(a.patches) == len(b.patches) == 29
    with pytest.raises(TypeError):
        draw.timeline_figure([1, 2])


def test_nothing_to_draw_is_a_figure_not_an_error(cat: Catalog) -> None:
    none = Filters(user="nobody-at-all")
    for fig in (plot.logins(cat, none), plot.timeline(cat, none), plot.tree(cat, none),
                plot.errors_heatmap(cat, none), plot.failures_over_time(cat, none),
                plot.failing_paths(cat, none), plot.files(cat, none),
                plot.connections(cat, none), plot.directories(cat, none)):
        assert not axes(fig).collections and not axes(fig).patches
        assert axes(fig).texts[0].get_text().startswith(("no ", "nothing"))


def test_sessions_lists_every_session(cat: Catalog) -> None:
    table = plot.sessions(cat)
    assert table.num_rows == scalar(cat, "SELECT count(DISTINCT sid) FROM processes")
    row = next(r for r in table.to_pylist() if r["sid"] == SESSION)
    assert row["processes"] == 29 and "zsh" in row["commands"]


def test_save_png_svg_and_refusals(cat: Catalog, tmp_path: Path) -> None:
    fig = plot.logins(cat)
    png, svg = plot.save(fig, tmp_path / "l.png"), plot.save(fig, tmp_path / "l.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()
    with pytest.raises(OutputExistsError):
        plot.save(fig, png)
    plot.save(fig, png, force=True)
    with pytest.raises(UsageError, match="ending in"):
        plot.save(fig, tmp_path / "l.jpeg")


def test_a_dataset_draws_like_its_trail(cat: Catalog, tmp_path: Path) -> None:
    from knox_analytics.convert import convert

    convert([str(TRAIL)], tmp_path / "ds")
    with Catalog([tmp_path / "ds"]) as ds:
        assert points(axes(plot.logins(ds)), "failed") == points(axes(plot.logins(cat)),
                                                                  "failed")
        assert len(axes(plot.timeline(ds, session=SESSION)).patches) == 29


# -- knox plot --------------------------------------------------------------------------------
PICTURES = {"timeline": ["-s", str(SESSION)], "tree": ["--pid", str(SHELL)],
            "errors": ["--show", "time"], "files": ["--pid", str(SHELL)],
            "network": [], "logins": ["--failed"]}


@pytest.fixture(scope="module")
def app() -> object:
    import typer

    from knox_analytics.cli import plot as plot_cli

    app = typer.Typer()
    plot_cli.register(app)
    return app


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_knox_plot_writes_a_picture(app: object, name: str, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.svg"
    result = CliRunner().invoke(app, ["plot", name, str(TRAIL), *PICTURES[name],
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().lstrip().startswith("<?xml") and "<svg" in out.read_text()


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_knox_plot_help_ends_with_an_example(app: object, name: str) -> None:
    from knox_analytics.cli.plot import plot_app

    (command,) = [c for c in plot_app.registered_commands if c.name == name]
    last = (command.callback.__doc__ or "").strip().splitlines()[-1].strip()
    assert last.startswith(f"Example: knox plot {name} ")
    out = CliRunner().invoke(app, ["plot", name, "--help"], terminal_width=200).output
    assert f"Example: knox plot {name}" in " ".join(out.split())


def test_knox_plot_refuses_bad_output_before_decoding(app: object, tmp_path: Path) -> None:
    for args in (["-o", str(tmp_path / "x.txt")], ["-o", str(tmp_path / "x.png"),
                                                   "--show", "nope"]):
        result = CliRunner().invoke(app, ["plot", "errors", str(TRAIL), *args])
        assert isinstance(result.exception, KnoxError), args
    (tmp_path / "there.png").write_bytes(b"x")
    result = CliRunner().invoke(app, ["plot", "logins", str(TRAIL), "-o",
                                      str(tmp_path / "there.png")])
    assert isinstance(result.exception, OutputExistsError)
    assert (tmp_path / "there.png").read_bytes() == b"x"


def test_docs_images_are_small_pngs_linked_from_the_docs() -> None:
    docs = ROOT / "docs"
    text = (docs / "notebooks.md").read_text(encoding="utf-8")
    linked = sorted(re.findall(r"\(images/([^)]+\.png)\)", text))
    assert linked == sorted(p.name for p in (docs / "images").glob("*.png"))
    for name in linked:
        data_ = (docs / "images" / name).read_bytes()
        assert data_[:8] == b"\x89PNG\r\n\x1a\n" and len(data_) < 100_000, name
    for name in PICTURES:
        assert f"knox plot {name} " in text, name


def test_without_matplotlib_knox_works_and_plot_says_what_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (  # block matplotlib as if the plot extra were not installed
        "import sys; sys.modules['matplotlib'] = None; sys.modules['matplotlib.figure'] = None\n"
        "from typer.testing import CliRunner\n"
        "from knox_analytics.cli.main import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        f"r = CliRunner().invoke(app, ['plot', 'logins', {str(TRAIL)!r}, '-o', "
        f"{str(tmp_path / 'x.png')!r}])\n"
        "print(type(r.exception).__name__, r.exception)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("UsageError pictures need matplotlib: pip install")


# -- readable default pictures (issue 23 items 4 and 6) -----------------------------------
@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """Four generated days in one trail: daemons that live for days (pid 1 is never seen
    to exit), ~300 processes a day."""
    from datetime import UTC, datetime

    from knox_analytics.testing.workload import generate

    trail = tmp_path_factory.mktemp("days") / "4days.bsm"
    with trail.open("wb") as out:
        for d in range(4):
            generate(out, seed=d, records=3000,
                     start=datetime(2026, 3, 2 + d, 7, tzinfo=UTC))
    with Catalog([trail]) as c:
        yield c


def pixels(fig: object) -> tuple[int, int]:
    w, h = fig.get_size_inches() * 100  # plot.save's dpi
    return round(w), round(h)


def overlaps(boxes: list) -> int:
    """How many vertically neighbouring boxes (sorted by y) overlap."""
    boxes = sorted(boxes, key=lambda b: b.y0)
    return sum(a.y1 > b.y0 + 0.5 for a, b in pairwise(boxes))


def drawn(fig: object) -> object:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def test_default_timeline_of_days_is_readable(days: Catalog) -> None:
    """Before: 2,000 bars in 1100×4000 px, the x axis four days wide (the daemons), every
    bar a pixel.  Now: 100 bars, labelled without overlap, an axis spanning what is
    drawn (minutes), the long-lived bars cut at its edge."""
    total = scalar(days, "SELECT count(*) FROM processes")
    assert total > 1000
    fig = plot.timeline(days)
    ax = axes(fig)
    assert len(ax.patches) == plot.LIMITS["timeline"] == 100
    w, h = pixels(fig)
    assert w == 1100 and h <= 2000
    labels = ax.get_yticklabels()
    assert len(labels) == 100
    renderer = drawn(fig)
    assert overlaps([t.get_window_extent(renderer) for t in labels]) == 0
    starts = data.timeline_data(days, limit=100).column("start_time").to_pylist()
    lo, hi = ax.get_xlim()
    from matplotlib.dates import date2num

    assert lo <= date2num(min(starts)) and date2num(max(starts)) <= hi
    span_starts = date2num(max(starts)) - date2num(min(starts))
    assert hi - lo <= 2.1 * span_starts < 1  # not the daemons' four days
    assert any(b.get_x() + b.get_width() > hi for b in ax.patches)  # cut at the edge


def test_timeline_axis_follows_since_and_until(days: Catalog) -> None:
    from datetime import UTC, datetime

    from matplotlib.dates import date2num

    since, until = datetime(2026, 3, 4, 9, tzinfo=UTC), datetime(2026, 3, 4, 10, tzinfo=UTC)
    ax = axes(plot.timeline(days, Filters(since="2026-03-04T09:00",
                                          until="2026-03-04T10:00")))
    assert ax.get_xlim() == pytest.approx((date2num(since), date2num(until)))
    ax = axes(plot.timeline(days, Filters(since="2026-03-04T09:00")))
    assert ax.get_xlim()[0] == pytest.approx(date2num(since))


def test_default_tree_is_readable_and_dated_over_days(days: Catalog) -> None:
    """Before: 1,000 rows squeezed into 6,000 px, labels drawn over each other, the
    subtitle cut at the sides.  Now: 100 rows, no two labels overlap, the note wrapped
    inside the picture, and a date on each label when the rows span several days."""
    fig = plot.tree(days)
    ax = axes(fig)
    w, h = pixels(fig)
    assert h <= 2000 and len(ax.texts) == 100
    renderer = drawn(fig)
    assert overlaps([t.get_window_extent(renderer) for t in ax.texts]) == 0
    title = ax.title.get_window_extent(renderer)
    assert title.x0 >= 0 and title.x1 <= w
    assert "\n" in ax.get_title() and fig.knox_note.startswith("showing the first 100")
    zsh = plot.tree(days, Filters(command="zsh"), limit=None)  # started on four days
    assert all(re.search(r"2026-03-0[2-5] \d\d:\d\d:\d\d", t.get_text())
               for t in axes(zsh).texts)
    assert not re.search(r"2026-", axes(plot.tree(days, limit=20)).texts[0].get_text())


def test_too_many_rows_to_label_are_not_labelled(days: Catalog) -> None:
    """Raising --limit past what the tallest picture can label draws the rows without
    labels (and says so) rather than labels over each other."""
    fig = plot.tree(days, limit=600)
    assert not axes(fig).texts and "too many rows to label" in axes(fig).get_title()
    fig = plot.timeline(days, limit=600)
    assert not axes(fig).get_yticklabels() and pixels(fig)[1] <= 4000


# -- glyphs no font has ---------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_a_glyph_no_font_has_is_escaped_and_said_never_a_box(tmp_path: Path,
                                                             suffix: str) -> None:
    """Issue 23 item 17: file names matplotlib's font cannot draw became boxes, silently
    (the "Glyph … missing from font(s)" warning was filtered).  The fonts fall back along
    a list; what no installed font has is escaped and the picture says so."""
    import warnings
    from datetime import UTC, datetime

    import pyarrow as pa

    from knox_analytics.plot import glyphs

    nowhere = "\U0010fffd"  # a private-use code point: in no font
    assert ord(nowhere) not in glyphs.drawable()
    assert glyphs.families()[0] == "DejaVu Sans"
    paths = [f"/tmp/{nowhere}.txt", "/Users/alice/文档/笔记.txt", "/tmp/café ✓.txt"]
    when = datetime(2026, 3, 1, tzinfo=UTC)
    table = pa.table({"time": pa.array([when] * 3), "path": paths,
                      "kind": ["read", "write", "create"], "success": [True, False, True]})
    fig = draw.file_figure(table)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        plot.save(fig, tmp_path / f"f{suffix}")
    assert not [w for w in seen if "missing from font" in str(w.message)], \
        [str(w.message) for w in seen]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "/tmp/\\U0010fffd.txt" and labels[2] == "/tmp/café ✓.txt"
    if ord("文") not in glyphs.drawable():  # no CJK font installed here
        assert labels[1] == "/Users/alice/\\u6587\\u6863/\\u7b14\\u8bb0.txt"
    assert fig.knox_note == glyphs.ESCAPED_NOTE
    assert fig.axes[0].get_title().endswith(f"({glyphs.ESCAPED_NOTE})")
    plot.save(fig, tmp_path / f"again{suffix}", force=True)  # drawn again: said once
    assert fig.axes[0].get_title().count(glyphs.ESCAPED_NOTE) == 1
