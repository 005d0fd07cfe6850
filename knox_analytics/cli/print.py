"""``knox print``: praudit-compatible text and XML, or JSON Lines, from trails or Parquet.

Parse -> ``iter_inputs`` (trails, stdin, Parquet) -> ``render_stream`` -> write each chunk
to stdout as soon as it is rendered (so ``cat trail | knox print -`` prints while input
still arrives).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from knox_analytics.bsm.damage import Damage
from knox_analytics.cli.common import TablesOption, warn
from knox_analytics.errors import UsageError
from knox_analytics.render.inputs import iter_inputs
from knox_analytics.render.names import IdNames
from knox_analytics.render.stream import render_stream
from knox_analytics.render.tokenfmt import PrintOptions


class _DamageReport:
    """Collects damaged spans; with ``-p`` the leading one (mid-stream start) is silent."""

    def __init__(self, partial: bool) -> None:
        self.partial, self.seen = partial, 0

    def __call__(self, damage: Damage) -> None:
        self.seen += 1
        if self.partial and damage.offset == 0 and damage.kind == "skipped":
            return  # -p: skipping to the first valid record is the point
        warn(f"knox: {damage}")


def print_cmd(
    inputs: Annotated[list[str] | None, typer.Argument(
        help="Trail files (.gz/.bz2/.xz too), '-' for stdin, or a Parquet dataset "
        "directory / .parquet file. Default: stdin.", show_default=False)] = None,
    oneline: Annotated[bool, typer.Option("-l", help="One record per line.")] = False,
    raw: Annotated[bool, typer.Option("-r", help="Raw numbers (events, errnos, times).")
                   ] = False,
    short: Annotated[bool, typer.Option("-s", help="Short event names (AUE_...).")] = False,
    numeric: Annotated[bool, typer.Option("-n", help="Do not turn uids/gids into names.")
                       ] = False,
    xml: Annotated[bool, typer.Option("-x", help="XML (well-formed, praudit's elements).")
                   ] = False,
    delimiter: Annotated[str, typer.Option("-d", help="Field delimiter.")] = ",",
    partial: Annotated[bool, typer.Option(
        "-p", help="Input starts mid-stream: skip silently to the first valid record.")
                       ] = False,
    json: Annotated[bool, typer.Option("--json", help="JSON Lines: one object per record "
                                       "(see docs/json.md).")] = False,
    passwd: Annotated[Path | None, typer.Option(
        "--passwd", help="passwd file of the machine that wrote the trail (uid names).")
                      ] = None,
    group: Annotated[Path | None, typer.Option(
        "--group", help="group file of the machine that wrote the trail (gid names).")
                     ] = None,
    tables: TablesOption = "auto",
) -> None:
    """Print audit records like praudit (byte-identical text), as XML, or as JSON Lines.

    Times are in the local time zone (TZ), as praudit prints them.

    Example: knox print -ln /var/audit/current | grep execve
    """
    if raw and short:
        raise UsageError("-r and -s are mutually exclusive (as in praudit)")
    if json and xml:
        raise UsageError("--json and -x are mutually exclusive")
    ids = IdNames.from_files(passwd, group) if (passwd or group) else None
    opts = PrintOptions(raw=raw, short=short, resolve=not numeric, oneline=oneline,
                        delimiter=delimiter, xml=xml, ids=ids, tables=tables)
    decoded = iter_inputs(list(inputs or []), _DamageReport(partial))
    out = sys.stdout.buffer
    for chunk in render_stream(decoded, opts, json=json):
        out.write(chunk)
        out.flush()


def register(app: typer.Typer) -> None:
    """Add ``knox print`` to the app."""
    app.command("print", no_args_is_help=False)(print_cmd)
