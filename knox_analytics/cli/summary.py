"""``knox summary``: what a trail or dataset holds, on one screen (or as JSON)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from knox_analytics.cli.common import Inputs, Users, damaged_exit, open_catalog
from knox_analytics.errors import UsageError


def summary(inputs: Inputs = None,
            fmt: Annotated[str, typer.Option(
                "--format", "-f", help="text (one screen) or json.")] = "text",
            users: Users = None) -> None:
    """What a trail or dataset holds, on one screen: the first thing to run on unknown data.

    Time range, hosts, records by class and event, top users and commands, the calls
    that fail most, and the byte ranges that were skipped as damaged.

    Example: knox summary /var/audit
    """
    from knox_analytics.summary import render, summarize

    if fmt not in ("text", "json"):
        raise UsageError(f"--format {fmt!r}: expected text or json")
    if not inputs:
        raise UsageError("give a TRAIL, a directory of trails or a DATASET")
    with open_catalog(inputs, users) as cat:
        result = summarize(cat)
    if fmt == "json":
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        typer.echo(render(result), nl=False)
    damaged_exit(cat.damage)


def register(app: typer.Typer) -> None:
    """Add ``knox summary`` to the app."""
    app.command("summary")(summary)
