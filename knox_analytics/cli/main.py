"""Entry point of the ``knox`` command: one Typer app, one module per command group.

Each command module defines ``register(app)``; library errors (``KnoxError``) become one
line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from knox_analytics.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from knox_analytics.errors import KnoxError, UsageError

app = typer.Typer(
    name="knox",
    help="Know what's happening: decode, convert and query BSM audit trails "
    "(macOS / FreeBSD auditing).\n\nExample: knox convert /var/audit -o audit-parquet",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

# Command modules under knox_analytics.cli, each with register(app).
COMMAND_MODULES: list[str] = [
    "convert",
    "print",
    "live",
    "capture",
    "query",
    "questions",
    "plot",
]

for _name in COMMAND_MODULES:
    importlib.import_module(f"knox_analytics.cli.{_name}").register(app)



def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except UsageError as exc:  # arguments that do not fit together: like typer's own
        typer.echo(f"knox: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except KnoxError as exc:
        typer.echo(f"knox: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:
        # `knox print ... | head` closes the pipe early: not an error.
        sys.stderr.close()
        sys.exit(EXIT_OK)
