"""What a derived state depends on besides the records, and how DuckDB may run while
deriving (one value shared by the state and its builder)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """What derived rows depend on besides the records (``users``, ``tables``: see
    :class:`~knox_analytics.catalog.Catalog`) and how DuckDB may run while deriving."""

    users: Mapping[int, str] = field(default_factory=lambda: {0: "root"})
    tables: str = "auto"
    threads: int | None = None
    memory_limit: str | None = None
    spill: Path | None = None
