"""``knox capture``: parse -> :class:`knox_analytics.live.capture.Capture` -> summary line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from knox_analytics.cli.live import NaflagsOpt, SourceOpt, SudoOpt, _err, _open
from knox_analytics.live.capture import Capture, CaptureConfig
from knox_analytics.live.units import parse_duration, parse_rotate


def capture(
    out: Annotated[Path, typer.Option("--out", "-o", help="Capture directory.")],
    classes: Annotated[str, typer.Option(
        "--classes", help="audit_control(5) classes to capture.")] = "all",
    naflags: NaflagsOpt = None,
    source: SourceOpt = None,
    rotate: Annotated[list[str] | None, typer.Option(
        "--rotate", help="Rotate segments at this size and/or age (64MiB, 1h); repeatable."
    )] = None,
    flush: Annotated[str, typer.Option(
        "--flush", help="Convert complete records of the open segment this often.")] = "1s",
    host: Annotated[str | None, typer.Option(
        "--host", help="Host label of the dataset partition.")] = None,
    sudo: SudoOpt = False,
) -> None:
    """Capture records crash-safely into raw segments and a Parquet dataset.

    Restart it after any crash or kill -9: every complete record reaches the dataset
    exactly once.  SIGINT/SIGTERM flush, convert and print a summary.

    Example: knox capture --classes pc,lo,aa --out /var/audit/knox --rotate 64MiB --rotate 1h
    """
    size, seconds = parse_rotate(rotate or [])
    config = CaptureConfig(flush_seconds=parse_duration(flush), host=host)
    if size is not None:
        config.rotate_bytes = size
    if seconds is not None:
        config.rotate_seconds = seconds
    src = _open(source, classes, naflags, sudo)
    try:
        summary = Capture(out, config, on_message=_err).run(src)
    finally:
        src.close()
    _err(summary.line())


def register(app: typer.Typer) -> None:
    """Add ``capture`` to the knox app."""
    app.command("capture")(capture)
