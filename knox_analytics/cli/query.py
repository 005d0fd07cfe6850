"""``knox query`` (any SQL over the views) and ``knox shell`` (interactive DuckDB prompt).

Also holds the output side shared with the question commands: the input/format options
and :func:`emit`, which renders an Arrow table as a rich table, CSV, JSON, NDJSON or
Parquet.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
import typer

from knox_analytics.catalog import Catalog
from knox_analytics.cli.common import Engine, EngineOption, MasterOption
from knox_analytics.errors import OutputExistsError, UsageError

FORMATS = ("table", "csv", "json", "ndjson", "parquet")

Inputs = Annotated[list[Path] | None, typer.Argument(
    help="Datasets (from knox convert), trail files (.gz/.bz2/.xz too) or directories of "
    "trails.", show_default=False)]
Format = Annotated[str, typer.Option("--format", "-f", help="table | csv | json | ndjson "
                                     "| parquet (parquet needs --output).")]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Write to FILE "
                                             "instead of stdout.", show_default=False)]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing --output file.")]
Users = Annotated[str | None, typer.Option(
    "--users", help="uid → name for the user columns: a passwd(5) file from the audited "
    "machine, or 'local' for this machine's.", show_default=False)]


def open_catalog(inputs: list[Path] | None, users: str | None) -> Catalog:
    """The catalog over the command line's inputs."""
    return Catalog(inputs or [], users=users)


# -- rendering --------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, list):
        return " ".join(_cell(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def render_table(table: pa.Table, title: str | None = None) -> None:
    """Print a rich table sized to the terminal (long cells wrap, never truncate)."""
    from rich.console import Console
    from rich.table import Table

    view = Table(title=title, show_lines=False, header_style="bold")
    for name in table.column_names:
        view.add_column(name, overflow="fold")
    for row in table.to_pylist():
        view.add_row(*(_cell(v) for v in row.values()))
    Console().print(view)
    Console(stderr=True).print(f"[dim]{table.num_rows} rows[/dim]")


def emit(table: pa.Table, fmt: str, output: Path | None, *, force: bool = False,
         title: str | None = None) -> None:
    """Write ``table`` in ``fmt`` to ``output`` (or stdout)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if output is not None and output.exists() and not force:
        raise OutputExistsError(f"{output}: exists (use --force to replace it)")
    if fmt == "parquet":
        if output is None:
            raise UsageError("--format parquet needs --output FILE")
        pq.write_table(table, output, compression="zstd")
        return
    if fmt == "table" and output is None:
        render_table(table, title)
        return
    with (output.open("w", encoding="utf-8", newline="") if output else _stdout()) as fh:
        _write_text(table, fmt, fh)


def _stdout() -> Any:
    class _Keep:  # a context manager that does not close stdout
        def __enter__(self) -> Any:
            return sys.stdout

        def __exit__(self, *_: object) -> None:
            sys.stdout.flush()

    return _Keep()


def _write_text(table: pa.Table, fmt: str, fh: Any) -> None:
    rows = table.to_pylist()
    if fmt == "csv" or fmt == "table":
        writer = csv.writer(fh)
        writer.writerow(table.column_names)
        writer.writerows([_cell(v) for v in row.values()] for row in rows)
    elif fmt == "json":
        json.dump(rows, fh, default=_json_default, ensure_ascii=False, indent=1)
        fh.write("\n")
    else:
        for row in rows:
            fh.write(json.dumps(row, default=_json_default, ensure_ascii=False) + "\n")


# -- commands ---------------------------------------------------------------------------
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the views (events, commands, "
                                       "processes, file_access, errors, network, logins, …).")],
    inputs: Inputs = None,
    fmt: Format = "table",
    output: Output = None,
    force: Force = False,
    users: Users = None,
    engine: EngineOption = Engine.local,
    master: MasterOption = "local[2]",
) -> None:
    """Run SQL over datasets or trails, with every knox view defined.

    Example: knox query "SELECT command, count(*) AS n FROM commands GROUP BY 1
    ORDER BY n DESC" audit-parquet --format csv
    """
    if engine is Engine.spark:
        from knox_analytics.spark.run import query_on

        emit(query_on(sql, inputs or [], master=master, users=users), fmt, output,
             force=force)
        return
    with open_catalog(inputs, users) as cat:
        emit(cat.query(sql), fmt, output, force=force)


def shell(inputs: Inputs = None, users: Users = None) -> None:
    """Interactive DuckDB SQL prompt with the knox views loaded (end with ; — .quit leaves).

    Example: knox shell audit-parquet
    """
    with open_catalog(inputs, users) as cat:
        typer.echo(f"knox shell — views: {', '.join(cat.views())}. End statements with ';', "
                   "'.quit' to leave.", err=True)
        _repl(cat)


def _repl(cat: Catalog) -> None:
    with contextlib.suppress(ImportError):  # line editing and history for input()
        import readline  # noqa: F401
    buffer: list[str] = []
    while True:
        try:
            line = input("knox> " if not buffer else "  ... ")
        except EOFError:
            typer.echo("", err=True)
            return
        if not buffer and line.strip() in (".quit", ".exit", "\\q"):
            return
        buffer.append(line)
        text = "\n".join(buffer).strip()
        if not text.endswith(";"):
            continue
        buffer.clear()
        try:
            render_table(cat.query(text.rstrip(";")))
        except UsageError as exc:
            typer.echo(f"knox: {exc}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``query`` and ``shell`` to the knox app."""
    app.command("query")(query)
    app.command("shell")(shell)
