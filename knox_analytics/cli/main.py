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

#: Command modules under knox_analytics.cli, each with register(app).
COMMAND_MODULES: list[str] = [
    "convert",
    "print",
    "live",
    "query",
    "questions",
    "plot",
]

#: Commands that need neither DuckDB nor Polars (and, for auditpipe and auditon, neither
#: numpy nor pyarrow): `knox <one of these>` loads only its own module, so the live tools
#: run on a host with the smallest install (FreeBSD, docs/real-hosts.md).
LIGHT_COMMANDS: dict[str, str] = {
    "auditpipe": "live", "auditon": "live", "paudit": "live", "pwait": "live",
}


def build_app(modules: list[str]) -> typer.Typer:
    """The knox app with the commands of ``modules``."""
    application = typer.Typer(
        name="knox",
        help="Know what's happening: decode, convert and query BSM audit trails "
        "(macOS / FreeBSD auditing).\n\nExample: knox convert /var/audit -o audit-parquet",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="rich",
    )
    for name in modules:
        importlib.import_module(f"knox_analytics.cli.{name}").register(application)
    return application


def __getattr__(name: str) -> typer.Typer:
    # `from knox_analytics.cli.main import app`: every command, built on first use
    if name == "app":
        application = build_app(COMMAND_MODULES)
        globals()["app"] = application
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _app_for(argv: list[str]) -> typer.Typer:
    command = argv[1] if len(argv) > 1 else None
    if command in LIGHT_COMMANDS:
        return build_app([LIGHT_COMMANDS[command]])
    return __getattr__("app")


def run() -> None:
    """Console-script entry point."""
    try:
        _app_for(sys.argv)()
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
