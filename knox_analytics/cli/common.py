"""Options and output helpers shared by every command, so flags are spelled the same
everywhere (STYLE.md: shared options are defined once).

One spelling per meaning: inputs are the positional TRAIL|DATASET arguments of every
command; ``-f/--format`` is the output format, ``-o/--output`` the output file,
``--force`` replaces it; ``--users FILE`` / ``--groups FILE`` name ids (old spellings
``--passwd``/``--group`` are kept as aliases); ``--tz`` is the zone times are shown in.

Nothing heavy is imported here (no pyarrow, duckdb, rich at import time): ``knox --help``
loads this module for every command.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import sys
import typing
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from knox_analytics.cli.exits import (  # noqa: F401  (the commands' exit codes)
    EXIT_DAMAGED,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from knox_analytics.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from knox_analytics.bsm.damage import Damage
    from knox_analytics.catalog import Catalog
    from knox_analytics.questions import Filters
    from knox_analytics.rawcache import RawDataset
    from knox_analytics.zones import Zone



class Engine(StrEnum):
    """Where the work runs."""

    local = "local"  # this machine: knox's own converter, DuckDB for queries
    spark = "spark"


# -- options every command spells the same ------------------------------------------------
#: Tables: where event and class names come from.
TablesOption = Annotated[
    str,
    typer.Option("--tables", help="Event/class tables: auto (host's /etc/security when "
                 "present), builtin, host, or a directory holding audit_event/audit_class."),
]
#: --engine / --master, spelled the same in `knox convert` and `knox query`.
EngineOption = Annotated[
    Engine,
    typer.Option("--engine", help="local (this machine: knox's converter, DuckDB) or spark "
                 "(needs the spark extra; see docs/spark.md)."),
]
MasterOption = Annotated[
    str,
    typer.Option("--master", help="Spark master for --engine spark: local[2], "
                 "spark://host:7077, yarn, ..."),
]
Inputs = Annotated[list[Path] | None, typer.Argument(
    help="Datasets (from knox convert), trail files (.gz/.bz2/.xz too) or directories of "
    "trails.", show_default=False,
    # knox reads them and says why it cannot (sudo, a copy), exit 1: not click's usage box
    readable=False)]
FORMATS = ("table", "csv", "json", "ndjson", "parquet")


def _check_format(value: str) -> str:
    # -f CSV is csv; a wrong name is refused as the line is read, before any work.
    fmt = value.lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format {value!r}: expected one of {', '.join(FORMATS)}")
    return fmt


Format = Annotated[str, typer.Option(
    "--format", "-f", help="table | csv | json | ndjson | parquet (parquet needs --output).",
    callback=_check_format)]
def split_columns(value: str | None) -> list[str] | None:
    """``--columns a,b,c`` as a list (None: the question's own columns)."""
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


Columns = Annotated[str | None, typer.Option(
    "--columns", help="Columns to show, comma-separated (any column of the view: knox "
    "query 'DESCRIBE VIEW' lists them), instead of the question's own.", show_default=False)]
Output = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to FILE instead of stdout.", show_default=False)]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing --output file.")]
Users = Annotated[str | None, typer.Option(
    "--users", "--passwd", help="uid → name: the passwd(5) file of the machine that wrote "
    "the trail (sample_trails/passwd), or 'local' for this machine's. Without it only "
    "uid 0 is named (root).", show_default=False)]
Groups = Annotated[str | None, typer.Option(
    "--groups", "--group", help="gid → name: the group(5) file of the machine that wrote "
    "the trail, or 'local' for this machine's. Without it only gid 0 is named (wheel).",
    show_default=False)]
def _check_tz(value: str) -> str:
    # Checked as the line is read, not after the question has run; --tz local names TZ.
    from knox_analytics.zones import zone

    zone(value)
    return value


Tz = Annotated[str, typer.Option(
    "--tz", help="Time zone times are shown in: UTC, local (TZ or this machine's zone) or "
    "a name such as Europe/Paris. Named in the table header.", callback=_check_tz)]
Since = Annotated[str | None, typer.Option(
    "--since", help="From this time on (ISO 8601, YYYYMMDD[HH[MM[SS]]] or 30m/2h/7d ago; "
    "UTC unless an offset is given).", show_default=False)]
Until = Annotated[str | None, typer.Option(
    "--until", help="Before this time, exclusive (same forms).", show_default=False)]
User = Annotated[str | None, typer.Option(
    "--user", "-u", help="User name (needs --users) or uid: the login, effective or real "
    "user, any of them.", show_default=False)]
Pid = Annotated[int | None, typer.Option("--pid", help="Process id of the subject "
                                         "(auditreduce -j).", show_default=False)]
Command = Annotated[str | None, typer.Option(
    "--command", "-c", help="Command name or path, glob allowed ('ssh*').",
    show_default=False)]
PathGlob = Annotated[str | None, typer.Option(
    "--path", help="First or second file path, glob allowed ('/etc/*').",
    show_default=False)]
Failed = Annotated[bool, typer.Option("--failed", help="Failed records only.")]
Classes = Annotated[str | None, typer.Option(
    "--class", help="audit_control class expression: 'pc,+fc,-fr' (+ successes, "
    "- failures). auditreduce -c.", show_default=False)]
Event = Annotated[list[str] | None, typer.Option(
    "--event", "-e", help="Event name (AUE_OPEN_R exactly, or execve or praudit's "
    "execve(2) when it names one event) or number; repeatable or comma-separated. "
    "auditreduce -m.", show_default=False)]
Auid = Annotated[str | None, typer.Option(
    "--auid", help="Audit (login) user id or name. auditreduce -u.", show_default=False)]
Euid = Annotated[str | None, typer.Option(
    "--euid", help="Effective user id or name. auditreduce -e.", show_default=False)]
Ruid = Annotated[str | None, typer.Option(
    "--ruid", help="Real user id or name. auditreduce -r.", show_default=False)]
Egid = Annotated[int | None, typer.Option(
    "--egid", help="Effective group id. auditreduce -f.", show_default=False)]
Rgid = Annotated[int | None, typer.Option(
    "--rgid", help="Real group id. auditreduce -g.", show_default=False)]
Session = Annotated[int | None, typer.Option(
    "--session", help="Audit session id.", show_default=False)]
Terminal = Annotated[str | None, typer.Option(
    "--terminal", help="Terminal address of the subject (ausearch --terminal).",
    show_default=False)]
Host = Annotated[str | None, typer.Option(
    "--host", help="Host: the record's header address, or the --host label given to "
    "knox convert.", show_default=False)]
Invert = Annotated[bool, typer.Option(
    "--invert", help="Every record the other filters do not select. auditreduce -v.")]

#: The filter options, by parameter name (the Filters field where it differs): one
#: definition each, added to a command by :func:`with_filters`.
FILTER_OPTIONS: dict[str, tuple[Any, Any, str]] = {
    "since": (Since, None, "since"), "until": (Until, None, "until"),
    "user": (User, None, "user"), "auid": (Auid, None, "auid"), "euid": (Euid, None, "euid"),
    "ruid": (Ruid, None, "ruid"), "egid": (Egid, None, "egid"), "rgid": (Rgid, None, "rgid"),
    "pid": (Pid, None, "pid"), "session": (Session, None, "session"),
    "terminal": (Terminal, None, "terminal"), "host": (Host, None, "host"),
    "command": (Command, None, "command"), "path": (PathGlob, None, "path"),
    "failed": (Failed, False, "failed"), "classes": (Classes, None, "classes"),
    "event": (Event, None, "events"), "invert": (Invert, False, "invert"),
}


def with_filters(*, exclude: tuple[str, ...] = (), long_only: bool = False
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command every filter option (but ``exclude``) and call it with one
    :class:`~knox_analytics.questions.Filters` as ``f``: the options are defined once here
    rather than repeated in every command's signature.  The command stays a plain Python
    function: ``commands(inputs, user="alice")`` or ``commands(inputs, f=Filters(...))``.
    ``long_only`` drops the short spellings (``knox reduce`` gives -u/-e/-c auditreduce's
    meanings)."""
    names = [n for n in FILTER_OPTIONS if n not in exclude]
    shape = _long_only if long_only else (lambda a: a)

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        hints = typing.get_type_hints(func, include_extras=True)  # Annotated, resolved
        kept = [p.replace(annotation=hints.get(p.name, p.annotation))
                for p in sig.parameters.values() if p.name != "f"]
        added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY,
                                   default=FILTER_OPTIONS[n][1],
                                   annotation=shape(FILTER_OPTIONS[n][0])) for n in names]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {n: kwargs.pop(n) for n in names if n in kwargs}
            if "f" not in kwargs:
                kwargs["f"] = build_filters(**given)
            elif given:
                raise TypeError("give the filters as f=Filters(...) or as options, not both")
            return func(*args, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=kept + added)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**{k: v for k, v in hints.items() if k != "f"},
                                   **{n: shape(FILTER_OPTIONS[n][0]) for n in names}}
        return wrapper
    return decorate


def _long_only(annotation: Any) -> Any:
    """The option without its short spelling (``--user`` without ``-u``)."""
    kind, info = typing.get_args(annotation)
    info = copy.copy(info)
    info.param_decls = tuple(d for d in info.param_decls if d.startswith("--"))
    return Annotated[kind, info]


def build_filters(**options: Any) -> Filters:
    """:class:`~knox_analytics.questions.Filters` from filter option values (by option
    parameter name: ``event`` a list, ``classes`` the --class expression, ...)."""
    from knox_analytics.questions import Filters

    fields: dict[str, Any] = {}
    for name, value in options.items():
        field_name = FILTER_OPTIONS[name][2]
        if name == "event":
            value = tuple(value or ())
        fields[field_name] = value
    return Filters(**{k: v for k, v in fields.items() if v is not None})


Limit = Annotated[int | None, typer.Option("--limit", "-n", help="At most N rows.",
                                           show_default=False)]


def filters(since: str | None = None, until: str | None = None, user: str | None = None,
            pid: int | None = None, command: str | None = None, path: str | None = None,
            failed: bool = False, classes: str | None = None,
            event: list[str] | None = None) -> Filters:
    """The shared filter options as one :class:`~knox_analytics.questions.Filters`."""
    from knox_analytics.questions import Filters

    return Filters(since=since, until=until, user=user, pid=pid, command=command,
                   path=path, failed=failed, classes=classes, events=tuple(event or ()))


# -- messages -------------------------------------------------------------------------------
def warn(message: str) -> None:
    """One line on stderr, never a traceback (no markup, no wrapping)."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def stderr() -> Any:
    """A rich console on stderr (progress bars), made on first use."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def report_damage(damage: list[Damage], limit: int = 20) -> None:
    """Damaged byte ranges, said the same way by every command that reads trails."""
    for d in damage[:limit]:
        warn(f"knox: damaged: {d}")
    if len(damage) > limit:
        warn(f"knox: ... and {len(damage) - limit} more damaged range(s)")


def report_skipped(skipped: list[tuple[str, str]]) -> None:
    """Files found in a directory and not read (a README beside the trails)."""
    by_reason: dict[str, list[str]] = {}
    for path, reason in skipped:
        by_reason.setdefault(reason, []).append(path)
    for reason, paths in by_reason.items():
        shown = ", ".join(paths[:3]) + (f", ... ({len(paths)} in all)" if len(paths) > 3
                                        else "")
        warn(f"knox: skipped ({reason}): {shown}")


def damaged_exit(damage: list[Damage]) -> None:
    """Exit 3 after a complete answer when damaged ranges were skipped (README)."""
    if damage:
        raise typer.Exit(EXIT_DAMAGED)


# -- the catalog ----------------------------------------------------------------------------
def open_catalog(inputs: list[Path] | None, users: str | None = None,
                 tables: str = "auto") -> Catalog:
    """The catalog over the command line's inputs, discovered once: files found in a
    directory that are not trails are listed, empty datasets named, damage of raw trails
    reported."""
    from knox_analytics.catalog import Catalog
    from knox_analytics.inputs import Inputs, discover
    from knox_analytics.inputs import dataset as dataset_input

    found = discover(list(inputs or []), sniff=True)
    report_skipped(found.skipped)
    for item in found.datasets:
        if not item.records:
            warn(f"knox: {item.path}: the dataset holds no records yet")
    raw = _raw_dataset([Path(i.path) for i in found.of("trail")])
    if raw is not None:  # the trails are read from their dataset in the cache
        found = Inputs([i for i in found.items if i.kind != "trail"]
                       + [dataset_input(raw.path)], found.skipped, sniffed=True)
    cat = Catalog(found, users=users, tables=tables, derive_progress=derive_progress)
    if raw is not None:
        cat.damage.extend(raw.damage)
    report_damage(cat.damage)
    return cat


def _raw_dataset(trails: list[Path]) -> RawDataset | None:
    """The trails converted once into the user's cache (knox_analytics.rawcache); None:
    no trail, the cache is off or cannot be written (then they are decoded in memory)."""
    from knox_analytics.rawcache import cache_dir, cache_limit, raw_dataset

    if not trails or not cache_limit():
        return None
    bar: list[Any] = []  # the progress bar, shown on a terminal once converting starts

    def announce(entry: Path) -> None:
        if sys.stderr.isatty():
            warn(f"knox: converting {len(trails)} trail(s) once into {entry} "
                 "(the next question on them reuses it)")
            bar.append(_progress(trails))

    def on_bytes(n: int) -> None:
        if bar:
            bar[0][0].advance(bar[0][1], n)

    try:
        return raw_dataset(trails, announce=announce, on_bytes=on_bytes)
    except OSError as exc:
        warn(f"knox: the raw-trail cache {cache_dir()} cannot be written "
             f"({exc.strerror or exc}): the trails are read in memory")
        return None
    finally:
        if bar:
            bar[0][0].stop()


def _progress(trails: list[Path]) -> tuple[Any, Any]:
    """A started progress bar (and its task) over the bytes of ``trails``."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    total = 0
    for t in trails:
        with contextlib.suppress(OSError):
            total += t.stat().st_size
    progress = Progress(TextColumn("reading"), BarColumn(), DownloadColumn(),
                        TimeRemainingColumn(), console=stderr(), transient=True)
    progress.start()
    return progress, progress.add_task("read", total=total or None)


@contextlib.contextmanager
def derive_progress(console: Any = None, *, quiet: bool = False
                    ) -> Iterator[Callable[..., None] | None]:
    """What shows a derivation of the process state (a first process question on a big
    dataset takes minutes): a rich bar on ``console`` ("deriving process state  [bar]
    3/8 epochs  1.2M/7.1M records  ETA", then "merging 4 derived segments" while the
    segments are merged after the last epoch), started at the first epoch and cleared
    when the derivation ends however it ends.  None given: stderr's, and only on a terminal;
    elsewhere (scripts, tests, ``quiet``) nothing: the callback is None."""
    if quiet or (console is None and not sys.stderr.isatty()):
        yield None
        return
    bar: list[Any] = []  # (progress, task), made at the first call

    def show(done_epochs: int, epochs: int, done_records: int, records: int,
             merging: int = 0) -> None:
        counts = {"completed": done_records, "total": records or None,
                  "epochs": f"{done_epochs}/{epochs}",
                  "records": f"{_short(done_records)}/{_short(records)}",
                  "description": f"merging {merging} derived segments" if merging
                  else DERIVING}
        if not bar:
            bar.append(_derive_bar(console if console is not None else stderr(), counts))
        else:
            bar[0][0].update(bar[0][1], **counts)
            if merging:  # a merge holds the thread: say so now, not at the next tick
                bar[0][0].refresh()

    try:
        yield show
    finally:  # done, an error or Ctrl-C: the bar goes, the cursor comes back
        if bar:
            bar[0][0].stop()


#: What the derivation bar says while epochs are derived.
DERIVING = "deriving process state"


def _derive_bar(console: Any, counts: dict[str, Any]) -> tuple[Any, Any]:
    """A started progress bar of a derivation (its task counts records)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.fields[epochs]} epochs"),
                        TextColumn("{task.fields[records]} records"),
                        TimeRemainingColumn(), console=console, transient=True)
    task = progress.add_task(**counts)  # before the first frame is drawn
    progress.start()
    return progress, task


def _short(n: int) -> str:
    """1234567 as 1.2M, 5300 as 5.3k."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


# -- output ---------------------------------------------------------------------------------
def emit(table: pa.Table, fmt: str, output: Path | None, *, force: bool = False,
         title: str | None = None, tz: Zone | str = "UTC") -> None:
    """Write ``table`` in ``fmt`` to ``output`` (or stdout), through Arrow's writers."""
    from knox_analytics.cli import output as out

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if output is not None:
        out.check_output(output, force)
    if fmt == "parquet":
        if output is None:
            raise UsageError("--format parquet needs --output FILE")
        out.write_parquet(table, output)
    elif fmt == "table" and output is None:
        out.print_table(table, title, tz)
    else:
        out.write_text(table, "csv" if fmt == "table" else fmt, output, tz)
