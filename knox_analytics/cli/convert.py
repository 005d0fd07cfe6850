"""``knox convert``: trails → Parquet dataset."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from knox_analytics.bsm.tables import load_tables
from knox_analytics.cli.common import (
    EXIT_DAMAGED,
    EXIT_OK,
    Engine,
    EngineOption,
    MasterOption,
    TablesOption,
    derive_progress,
    report_damage,
    report_skipped,
    stderr,
    warn,
)
from knox_analytics.convert import ConvertSummary, convert
from knox_analytics.inputs import STDIN, Inputs, discover
from knox_analytics.words import count


def _total_bytes(inputs: Inputs) -> int | None:
    files = [item.path for item in inputs.items]  # convert() says what is not a trail
    if STDIN in files:
        return None
    try:
        return sum(Path(f).stat().st_size for f in files)
    except OSError:
        return None


def convert_command(
    inputs: Annotated[list[str], typer.Argument(
        help="Trail files, directories of trails (e.g. a copy of /var/audit), or - for "
             "stdin. .gz/.bz2/.xz are read transparently.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset directory.")],
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing dataset that was not written by knox."
    )] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail at the first damaged byte range instead of skipping it."
    )] = False,
    host: Annotated[str | None, typer.Option(help="Host label for the host= partition "
                                             "(default: the header_ex address).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1,
                                      help="Worker processes (a big trail is split among "
                                           "them at record boundaries).")] = 1,
    derive: Annotated[bool | None, typer.Option(
        "--derive/--no-derive", show_default=False, help="Extend the derived process "
        "state by the new records now, so that the next process question is fast. "
        "Default: when the dataset already keeps one (a process question was asked of "
        "it); a first derivation takes about 4x the CPU time of converting, in "
        "bounded memory (docs/derived-state.md).")] = None,
    allow_foreign_owner: Annotated[bool, typer.Option(
        "--allow-foreign-owner", help="As root, write into an output directory another "
        "user owns (they could redirect root's writes through a link).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    tables: TablesOption = "auto",
    engine: EngineOption = Engine.local,
    master: MasterOption = "local[2]",
) -> None:
    """Convert BSM trails into a hive-partitioned Parquet dataset (zstd).

    Re-running converts only what is new: trails already converted are skipped, a trail
    that grew (auditd's current) is converted from where the last run stopped, and a
    renamed trail is recognised by its content. Damaged byte ranges are skipped and listed.

    Exit status: 0 all converted; 1 error; 2 bad usage; 3 converted, but damaged ranges
    were skipped (damage a previous run reported in bytes unchanged since is said again,
    exit 0).

    Example: knox convert /var/audit -o audit-parquet --jobs 2
    """
    if engine is Engine.spark:
        from knox_analytics.spark.run import convert_on

        summary = convert_on(inputs, output, master=master, overwrite=overwrite,
                             strict=strict, host=host)
        _print_summary(summary)
        raise typer.Exit(EXIT_DAMAGED if summary.damage else EXIT_OK)
    found = discover(inputs)  # once: the progress bar's total and the converter's files
    total = _total_bytes(found)
    columns = [TextColumn("converting"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn()]
    # not on a terminal: no bar, and none of the blank line a transient bar leaves there
    shown = not quiet and sys.stderr.isatty()
    with derive_progress(quiet=quiet) as show_derive, \
            Progress(*columns, console=stderr(), disable=not shown, transient=True) as progress:
        task = progress.add_task("convert", total=total)

        def on_derive(*counts: int) -> None:  # converted: the deriving bar takes over
            progress.stop()
            if show_derive is not None:
                show_derive(*counts)

        summary = convert(found, output, overwrite=overwrite, strict=strict, host=host,
                          tables=load_tables(tables), jobs=jobs, derive=derive,
                          allow_foreign_owner=allow_foreign_owner,
                          on_bytes=lambda n: progress.advance(task, n),
                          on_derive=on_derive if show_derive is not None else None)
    _print_summary(summary)
    if summary.damage:
        raise typer.Exit(EXIT_DAMAGED)


def _print_summary(summary: ConvertSummary) -> None:
    converted = [f for f in summary.files if f.action != "skipped"]
    skipped = [f for f in summary.files if f.action == "skipped"]
    line = (f"{len(converted)} file(s) converted, {count(summary.records, 'record')}, "
            f"{summary.bytes / 1e6:.1f} MB in {summary.seconds:.1f} s "
            f"({summary.mb_per_s:.0f} MB/s) -> {summary.output}")
    damage = summary.damage
    line += f"; {len(damage)} damaged range(s)" if damage else ""
    if summary.derive_seconds:
        line += f"; process state derived in {summary.derive_seconds:.1f} s"
    warn(line)
    if summary.known:
        warn(f"  {summary.known:,} record(s) read were already in the dataset and were not "
             "added again (record identity: docs/dataset.md)")
    report_skipped([(f.path, f.reason) for f in skipped])
    report_damage(damage)
    for d in summary.reported:  # not an error again: a cron job re-running stays green
        warn(f"knox: damaged (reported before, bytes unchanged): {d}")


def register(app: typer.Typer) -> None:
    """Add ``knox convert`` to the app."""
    app.command("convert")(convert_command)
