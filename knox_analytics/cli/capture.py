"""``knox capture``: parse -> :class:`knox_analytics.live.capture.Capture` -> summary line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from knox_analytics.cli.pipe import (
    NaflagsOpt,
    SourceOpt,
    SudoOpt,
    open_classes,
    refuse_selected_capture,
    say,
)
from knox_analytics.errors import UsageError
from knox_analytics.live.capture import Capture, CaptureConfig, protection_of_source
from knox_analytics.live.units import parse_duration, parse_rotate


def capture(
    out: Annotated[Path, typer.Option("--out", "-o", help="Capture directory.")],
    classes: Annotated[str, typer.Option(
        "--class", help="audit_control(5) class expression to capture (from "
        "/dev/auditpipe; from a --source: knox auditpipe CLASSES --source X | knox capture "
        "--source -).")] = "all",
    classes_alias: Annotated[str | None, typer.Option(
        "--classes", hidden=True, help="The old spelling of --class.")] = None,
    naflags: NaflagsOpt = None,
    source: SourceOpt = None,
    follow: Annotated[str | None, typer.Option(
        "--follow", help="Capture this trail as it grows (tail -f, e.g. "
        "/var/audit/current, across auditd's rotations, as commands --follow) or this FIFO "
        "across its writers, until SIGINT/SIGTERM (--source stops at the end of a file or "
        "the first writer's EOF).", show_default=False)] = None,
    rotate: Annotated[list[str] | None, typer.Option(
        "--rotate", help="Rotate segments at this size and/or age (64MiB, 1h); repeatable."
    )] = None,
    flush: Annotated[str, typer.Option(
        "--flush", help="Convert complete records of the open segment this often.")] = "1s",
    host: Annotated[str | None, typer.Option(
        "--host", help="Host label of the dataset partition.")] = None,
    sudo: SudoOpt = False,
    derive: Annotated[bool, typer.Option(
        "--derive/--no-derive", help="Keep the derived process state up to date after "
        "each commit (two background threads, one DuckDB thread each), so that questions "
        "asked during the capture only read it (docs/derived-state.md).")] = True,
    allow_foreign_owner: Annotated[bool, typer.Option(
        help="As root, write into a capture directory another user owns (they could "
             "redirect root's writes through a link).")] = False,
) -> None:
    """Capture records crash-safely into raw segments and a Parquet dataset.

    Restart it after any crash or kill -9 (the same command): every complete
    record that reached the segments is in the dataset exactly once.

    What reaches them, per source --
    Linux FIFO: everything (splice(2): no byte is only in knox's memory).
    macOS/FreeBSD FIFO: all but the one read in flight (at most 1 MiB).
    '-' (stdin): as a FIFO; a restart is a new stream, never glued on.
    File: everything, resumed by content across auditd's rotation of current.
    /dev/auditpipe: all but the kernel queue of the killed reader.

    --source FILE|FIFO ends at the file's end or the first writer's EOF; --follow
    waits for more: a trail as it grows, across auditd's rotations; a FIFO's next writer.

    A full disk stops it with one line, losing nothing.  SIGINT/SIGTERM flush,
    convert, compact and print a summary.  Details: docs/capture.md.

    Example: knox capture --class pc,lo,aa --out /var/audit/knox --rotate 64MiB --rotate 1h
    """
    if classes_alias is not None:  # one spelling (--class, as the questions'); old kept
        if classes != "all":
            raise UsageError("give --class once (--classes is its old spelling)")
        classes = classes_alias
    if source is not None and follow is not None:
        raise UsageError("give --source or --follow, not both")
    size, seconds = parse_rotate(rotate or [])
    config = CaptureConfig(flush_seconds=parse_duration(flush), host=host, derive=derive,
                           follow=follow is not None)
    if follow is not None:
        if follow == "-":
            raise UsageError("--follow takes a trail file or a FIFO, not '-' (stdin ends "
                             "with its pipeline: use --source -)")
        source = follow
    if size is not None:
        config.rotate_bytes = size
    if seconds is not None:
        config.rotate_seconds = seconds
    refuse_selected_capture(source, classes, naflags)
    src = open_classes(source, classes, naflags, sudo)
    try:
        summary = Capture(out, config, on_message=say, protection=protection_of_source(src),
                          allow_foreign_owner=allow_foreign_owner).run(src)
    finally:
        src.close()
    say(summary.line())


def register(app: typer.Typer) -> None:
    """Add ``capture`` to the knox app."""
    app.command("capture")(capture)
