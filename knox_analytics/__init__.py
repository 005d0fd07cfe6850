"""knox-analytics: columnar analytics for BSM audit trails.

Decode macOS / FreeBSD audit trails (``/var/audit/*``, ``/dev/auditpipe``) into Arrow
tables, convert them to Parquet, and answer questions with DuckDB SQL views.
"""

from __future__ import annotations

from typing import Any

from knox_analytics.errors import KnoxError, NotBSMError

__all__ = ["SCHEMA", "SCHEMA_VERSION", "Catalog", "KnoxError", "NotBSMError"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Catalog imports duckdb and the schema pyarrow: load them on first use, not with
    # every `import knox_analytics` (`knox --help` must start fast).
    if name == "Catalog":
        from knox_analytics.catalog import Catalog

        return Catalog
    if name in ("SCHEMA", "SCHEMA_VERSION"):
        from knox_analytics import schema

        return getattr(schema, name)
    raise AttributeError(f"module 'knox_analytics' has no attribute {name!r}")
