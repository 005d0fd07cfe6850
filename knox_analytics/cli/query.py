"""``knox query``: any SQL over the views (``knox shell``, the prompt: cli/shell.py).

The options and :func:`~knox_analytics.cli.common.emit` are the ones every command
shares (:mod:`knox_analytics.cli.common`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from knox_analytics.cli.common import (
    Engine,
    EngineOption,
    Force,
    Format,
    Inputs,
    MasterOption,
    Output,
    Tz,
    Users,
    damaged_exit,
    emit,
    open_catalog,
)


# -- commands ---------------------------------------------------------------------------
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the views (events, commands, "
                                       "processes, file_access, errors, network, logins, …).")],
    inputs: Inputs = None,
    fmt: Format = "table",
    output: Output = None,
    force: Force = False,
    users: Users = None,
    tz: Tz = "UTC",
    engine: EngineOption = Engine.local,
    master: MasterOption = "local[2]",
) -> None:
    """Run SQL over datasets or trails, with every knox view defined.

    Example: knox query "SELECT command, count(*) n FROM commands GROUP BY 1" audit-parquet
    """
    if engine is Engine.spark:
        from knox_analytics.spark.run import query_on

        emit(query_on(sql, inputs or [], master=master, users=users), fmt, output,
             force=force, tz=tz)
        return
    with open_catalog(inputs, users) as cat:
        emit(cat.query(sql), fmt, output, force=force, tz=tz)
    damaged_exit(cat.damage)


def register(app: typer.Typer) -> None:
    """Add ``query`` and ``shell`` to the knox app."""
    app.command("query")(query)
    from knox_analytics.cli.shell import shell

    app.command("shell")(shell)
