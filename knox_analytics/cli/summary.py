"""``knox summary``: what a trail or dataset holds, on one screen (or as JSON)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Annotated

import typer

from knox_analytics.cli.common import (
    Groups,
    Inputs,
    Tz,
    Users,
    damaged_exit,
    open_catalog,
    with_filters,
)
from knox_analytics.errors import UsageError
from knox_analytics.questions import Filters


@with_filters(exclude=("command",))
def summary(inputs: Inputs = None,
            fmt: Annotated[str, typer.Option(
                "--format", "-f", help="text (one screen) or json.")] = "text",
            users: Users = None, groups: Groups = None, tz: Tz = "UTC",
            f: Filters = Filters()) -> None:
    """What a trail or dataset holds, on one screen: the first thing to run on unknown data.

    Time range (and each host's), hosts, records by class and event, top users (and
    groups, with --groups) and commands, the calls that fail most, and where the byte
    ranges skipped as damaged are. The filters narrow the records summarised.

    Example: knox summary /var/audit
    """
    from knox_analytics.known import check_filters
    from knox_analytics.summary import render, summarize
    from knox_analytics.userdb import read_id_file
    from knox_analytics.zones import zone

    fmt = fmt.lower()
    if fmt not in ("text", "json"):
        raise UsageError(f"--format {fmt!r}: expected text or json")
    if not inputs:
        raise UsageError("give a TRAIL, a directory of trails or a DATASET")
    from knox_analytics.cli.print import DEFAULT_GROUPS

    names = None
    if groups is not None:  # gid 0 is wheel everywhere, as print names it
        names = {**DEFAULT_GROUPS,
                 **(_local_groups() if groups == "local" else read_id_file(groups))}
    with open_catalog(inputs, users) as cat:
        check_filters(cat, f)
        result = summarize(cat, filters=f, groups=names).in_zone(zone(tz))
    if fmt == "json":
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        typer.echo(render(result, _width()), nl=False)
    damaged_exit(cat.damage)


def _width() -> int | None:
    """Where lists wrap: the terminal's width (or COLUMNS); a pipe gets whole lines."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def _local_groups() -> dict[int, str]:
    """This machine's groups (``--groups local``)."""
    import grp

    return {g.gr_gid: g.gr_name for g in grp.getgrall()}


def register(app: typer.Typer) -> None:
    """Add ``knox summary`` to the app."""
    app.command("summary")(summary)
