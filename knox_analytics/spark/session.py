"""The SparkSession knox uses when the caller does not bring one.

pyspark is an optional extra (``pip install 'knox-analytics[spark]'``); everything that
needs it imports it through :func:`require_pyspark`, so the core never needs Java.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Any

from knox_analytics.errors import UsageError

DEFAULT_MASTER = "local[2]"
#: Settings knox relies on: UTC like the DuckDB catalog; Arrow for mapInArrow and results.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}
#: Extra settings for local mode: small data, no web UI, few shuffle partitions.
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "2g",
}


def _local_conf() -> dict[str, str]:
    # Python workers must import knox_analytics: in local mode run them with this very
    # interpreter.  pyspark takes the workers' interpreter from PYSPARK_PYTHON when the
    # context starts (default: whatever `python3` is on PATH), not from the conf.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return dict(LOCAL_CONF)


def require_pyspark() -> ModuleType:
    """Import pyspark, or raise :class:`UsageError` saying how to install it."""
    try:
        return importlib.import_module("pyspark.sql")
    except ModuleNotFoundError as exc:
        raise UsageError("the Spark engine needs pyspark and Java 17+: "
                         "pip install 'knox-analytics[spark]'") from exc


def local_session(master: str = DEFAULT_MASTER, app: str = "knox-analytics",
                  conf: dict[str, str] | None = None) -> Any:
    """A SparkSession for ``master`` (``local[2]``, ``spark://host:7077``, ``yarn``, …).

    >>> spark = local_session("local[2]")  # doctest: +SKIP
    """
    sql = require_pyspark()
    builder = sql.SparkSession.builder.master(master).appName(app)
    local = master.startswith("local")
    settings = {**SESSION_CONF, **(_local_conf() if local else {}), **(conf or {})}
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
