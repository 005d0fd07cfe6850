"""``knox query`` (any SQL over the views) and ``knox shell`` (interactive DuckDB prompt).

The options and :func:`~knox_analytics.cli.common.emit` are the ones every command
shares (:mod:`knox_analytics.cli.common`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated

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
    warn,
)
from knox_analytics.errors import UsageError

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog


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


def shell(inputs: Inputs = None, users: Users = None, tz: Tz = "UTC") -> None:
    """Interactive DuckDB SQL prompt with the knox views loaded (end with ; — .quit leaves).

    Dot commands: .tables (the views), .schema VIEW (its columns), .help, .quit.

    Example: knox shell audit-parquet
    """
    with open_catalog(inputs, users) as cat:
        warn(f"knox shell — views: {', '.join(cat.views())}. End statements with ';', "
             "'.help' for dot commands, '.quit' to leave.")
        _repl(cat, tz)


SHELL_HELP = """.tables          the views and tables
.schema VIEW     the columns of VIEW
.help            this text
.quit            leave (also .exit, \\q, Ctrl-D)"""


def _repl(cat: Catalog, tz: str) -> None:
    with contextlib.suppress(ImportError):  # line editing and history for input()
        import readline  # noqa: F401
    buffer: list[str] = []
    while True:
        try:
            line = input("knox> " if not buffer else "  ... ")
        except EOFError:
            typer.echo("", err=True)
            return
        except KeyboardInterrupt:  # Ctrl-C drops the statement being typed, as psql
            buffer.clear()
            typer.echo("", err=True)
            continue
        if not buffer and line.strip().startswith((".", "\\")):
            if not _dot_command(cat, line.strip()):
                return
            continue
        buffer.append(line)
        text = "\n".join(buffer).strip()
        if not text.endswith(";"):
            continue
        buffer.clear()
        _statement(cat, text, tz)


def _statement(cat: Catalog, text: str, tz: str) -> None:
    from knox_analytics.cli.output import print_table

    try:
        print_table(cat.query(text.rstrip(";")), tz=tz)
    except UsageError as exc:
        warn(f"knox: {exc}")
    except KeyboardInterrupt:  # Ctrl-C cancels the statement, not the session
        warn("knox: interrupted: the statement was cancelled")


def _dot_command(cat: Catalog, line: str) -> bool:
    """Run a dot command on its own line; False when it asks to leave."""
    word, _, arg = line.partition(" ")
    if word in (".quit", ".exit", "\\q"):
        return False
    if word in (".tables", ".views"):
        typer.echo("  ".join(cat.views()))
    elif word == ".schema" and arg.strip():
        _statement(cat, f"SELECT column_name, column_type FROM (DESCRIBE {arg.strip()});",
                   "UTC")
    elif word == ".help":
        typer.echo(SHELL_HELP)
    else:
        warn(f"knox: unknown dot command {line!r} (.help lists them)")
    return True


def register(app: typer.Typer) -> None:
    """Add ``query`` and ``shell`` to the knox app."""
    app.command("query")(query)
    app.command("shell")(shell)
