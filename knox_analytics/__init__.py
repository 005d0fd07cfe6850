"""knox-analytics: columnar analytics for BSM audit trails.

Decode macOS / FreeBSD audit trails (``/var/audit/*``, ``/dev/auditpipe``) into Arrow
tables, convert them to Parquet, and answer questions with DuckDB SQL views.
"""

from __future__ import annotations

from knox_analytics.errors import KnoxError, NotBSMError
from knox_analytics.schema import SCHEMA, SCHEMA_VERSION

__all__ = ["SCHEMA", "SCHEMA_VERSION", "KnoxError", "NotBSMError"]
__version__ = "0.1.0"
