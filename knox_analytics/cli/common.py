"""Options and output helpers shared by every command, so flags are spelled the same
everywhere (STYLE.md: shared options are defined once)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

#: Tables: where event and class names come from.
TablesOption = Annotated[
    str,
    typer.Option("--tables", help="Event/class tables: auto (host's /etc/security when "
                 "present), builtin, host, or a directory holding audit_event/audit_class."),
]

stderr = Console(stderr=True, highlight=False)


def warn(message: str) -> None:
    """One line on stderr, never a traceback."""
    stderr.print(message, markup=False, soft_wrap=True)
