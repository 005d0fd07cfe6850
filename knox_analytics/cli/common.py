"""Options and output helpers shared by every command, so flags are spelled the same
everywhere (STYLE.md: shared options are defined once)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

#: Tables: where event and class names come from.
TablesOption = Annotated[
    str,
    typer.Option("--tables", help="Event/class tables: auto (host's /etc/security when "
                 "present), builtin, host, or a directory holding audit_event/audit_class."),
]

#: Exit codes of every command, documented in the README: done; error; bad usage;
#: converted, but damaged byte ranges were skipped.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DAMAGED = 0, 1, 2, 3


class Engine(StrEnum):
    """Where the work runs."""

    local = "local"  # this machine: knox's own converter, DuckDB for queries
    spark = "spark"


#: --engine / --master, spelled the same in `knox convert` and `knox query`.
EngineOption = Annotated[
    Engine,
    typer.Option("--engine", help="local (this machine: knox's converter, DuckDB) or spark "
                 "(needs the spark extra; see docs/spark.md)."),
]
MasterOption = Annotated[
    str,
    typer.Option("--master", help="Spark master for --engine spark: local[2], "
                 "spark://host:7077, yarn, ..."),
]

stderr = Console(stderr=True, highlight=False)


def warn(message: str) -> None:
    """One line on stderr, never a traceback."""
    stderr.print(message, markup=False, soft_wrap=True)
