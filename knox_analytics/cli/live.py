"""Live commands: ``auditpipe``, ``capture``, ``auditon``, ``paudit``, ``pwait``.

Each is parse -> one library call in :mod:`knox_analytics.live` -> render.  On Linux,
``--source FILE|FIFO|-`` replaces ``/dev/auditpipe``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from knox_analytics.errors import UsageError
from knox_analytics.live import privilege
from knox_analytics.live.capture import Capture, CaptureConfig
from knox_analytics.live.classes import parse_classes
from knox_analytics.live.source import Source, framed_chunks, open_source
from knox_analytics.live.units import parse_duration, parse_rotate

SourceOpt = Annotated[str | None, typer.Option(
    "--source", help="Read this file, FIFO or '-' (stdin) instead of /dev/auditpipe.")]
NaflagsOpt = Annotated[str | None, typer.Option(
    "--naflags", help="Classes for non-attributable events (default: same as the classes).")]
SudoOpt = Annotated[bool, typer.Option(
    "--sudo", help="Re-run through sudo when the source is not readable.")]


def _err(message: str) -> None:
    typer.echo(f"knox: {message}", err=True)


def _escalate_if_needed(source: str | None, sudo: bool) -> None:
    """Re-exec through sudo for an unreadable source only, when asked (or a tty says yes)."""
    path = source if source is not None else "/dev/auditpipe"
    if not privilege.needs_sudo([path]):
        return
    if sudo or (sys.stdin.isatty() and sys.stderr.isatty() and typer.confirm(
            f"{privilege.unreadable_reason(path)}. Re-run with sudo?", err=True)):
        privilege.reexec_with_sudo()


def _open(source: str | None, classes: str, naflags: str | None, sudo: bool) -> Source:
    _escalate_if_needed(source, sudo)
    flags = parse_classes(classes)
    na = parse_classes(naflags) if naflags is not None else flags
    return open_source(source, flags, na)


def _refuse_terminal() -> None:
    if sys.stdout.isatty():
        raise UsageError("refusing to write binary audit records to a terminal; "
                         "pipe them, e.g. `knox auditpipe pc | knox print`")


def _summary_lines(s: object) -> str:
    d = vars(s)
    text = (f"{d['records']} records converted, {d['segments']} segments closed, "
            f"{d['bytes']} raw bytes, {d['damaged']} damaged spans")
    if d.get("drops") is not None:
        text += f", {d['drops']} dropped, {d['truncates']} truncated by the audit pipe"
    return text


def auditpipe(
    classes: Annotated[str, typer.Argument(help="audit_control(5) classes, e.g. 'pc,+fc,-fr'.")],
    source: SourceOpt = None,
    naflags: NaflagsOpt = None,
    parquet: Annotated[Path | None, typer.Option(
        "--parquet", help="Capture into this directory (segments + Parquet) instead.")] = None,
    sudo: SudoOpt = False,
) -> None:
    """Stream raw audit records of CLASSES to stdout (never to a terminal).

    Example: knox auditpipe pc,ex | knox print
    """
    if parquet is None:
        _refuse_terminal()
    src = _open(source, classes, naflags, sudo)
    try:
        if parquet is not None:
            summary = Capture(parquet, CaptureConfig(), on_message=_err).run(src)
            _err(_summary_lines(summary))
            return
        out = sys.stdout.buffer
        for chunk, _offset in framed_chunks(src):
            out.write(chunk)
            out.flush()
    finally:
        stats = src.stats()
        if stats is not None:
            _err(f"audit pipe: {stats.drops} dropped, {stats.truncates} truncated")
        src.close()


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
    _err(_summary_lines(summary))


def register(app: typer.Typer) -> None:
    """Add the live commands to the knox app."""
    app.command("auditpipe")(auditpipe)
    app.command("capture")(capture)
