"""The detection views (``detect/sql/*.sql``) and the knox views they read, defined on a
catalog: shared by compiling (a rule may name a view's columns) and running."""

from __future__ import annotations

import re
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def sql_files() -> list[tuple[str, str]]:
    """The detection views' SQL files, in name order."""
    folder = resources.files("knox_analytics.detect") / "sql"
    return sorted((p.name, p.read_text()) for p in folder.iterdir() if p.name.endswith(".sql"))


def define_views(cat: Catalog) -> None:
    """Define the knox views the detection views read, then the detection views."""
    for _, text in sql_files():
        body = "\n".join(x for x in text.splitlines() if not x.lstrip().startswith("--"))
        cat.define(_WORD.findall(body))
        cat.con.execute(text)
