"""knox-analytics: columnar analytics for BSM audit trails.

Decode macOS / FreeBSD audit trails (``/var/audit/*``, ``/dev/auditpipe``) into Arrow
tables, convert them to Parquet, and answer questions with DuckDB SQL views::

    >>> from knox_analytics import Catalog, Filters, ask, convert, read_trail  # doctest: +SKIP
    >>> convert(["/var/audit"], "audit-parquet")                          # doctest: +SKIP
    >>> with Catalog(["audit-parquet"]) as cat:                           # doctest: +SKIP
    ...     ask(cat, "commands", Filters(user="alice")).to_pylist()

The names below are loaded on first use (PEP 562), so ``import knox_analytics`` -- which
every ``knox`` command pays -- imports neither pyarrow nor duckdb.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import Any

from knox_analytics.errors import (
    DamagedTrailError,
    InputError,
    KnoxError,
    NotBSMError,
    OutputExistsError,
    UsageError,
)

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    # bytes -> table -> bytes
    "decode_bytes": "knox_analytics.bsm.decode",
    "DecodeResult": "knox_analytics.bsm.result",
    "read_trail": "knox_analytics.bsm.reader",
    "table_to_trail": "knox_analytics.bsm.encode",
    "write_trail": "knox_analytics.bsm.encode",
    "SCHEMA": "knox_analytics.schema",
    "SCHEMA_VERSION": "knox_analytics.schema",
    # the dataset and its questions
    "convert": "knox_analytics.convert",
    "Catalog": "knox_analytics.catalog",
    "Filters": "knox_analytics.questions",
    "ask": "knox_analytics.questions",
    "errors_by": "knox_analytics.questions",
    "process_tree": "knox_analytics.questions",
    "event_list": "knox_analytics.questions",
    "class_list": "knox_analytics.questions",
}

__all__ = [
    "DamagedTrailError", "InputError", "KnoxError", "NotBSMError", "OutputExistsError",
    "UsageError", *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'knox_analytics' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(types.ModuleType):
    """The package, with ``convert`` the function even once the submodule of that name is
    imported (the import system then binds the submodule on its parent; without this,
    ``from knox_analytics import convert`` would give the module after ``knox convert``
    ran).  The one cost: ``import knox_analytics.convert as m`` binds the function too;
    write ``from knox_analytics.convert import ...`` for the module's other names."""

    @property
    def convert(self) -> Any:
        return import_module("knox_analytics.convert").convert

    @convert.setter
    def convert(self, _submodule: types.ModuleType) -> None:
        pass  # the submodule stays reachable as sys.modules["knox_analytics.convert"]


sys.modules[__name__].__class__ = _Package
