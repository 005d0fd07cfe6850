"""knox on Apache Spark: convert a fleet's trails and ask the same questions.

* :func:`convert` -- ``knox convert`` as Spark tasks (same decoder, same dataset).
* :func:`register_views` -- the catalog's views as Spark SQL temporary views, generated
  from the DuckDB ``.sql`` files (:mod:`.sqlgen`), over any dataset Spark can read.
* :func:`local_session` -- a SparkSession with the settings knox relies on.

pyspark is optional (``pip install 'knox-analytics[spark]'``) and imported only when a
session is created; nothing else in knox imports this package.
"""

from __future__ import annotations

from knox_analytics.spark.convert import convert
from knox_analytics.spark.session import local_session, require_pyspark

__all__ = ["convert", "local_session", "register_views", "require_pyspark"]


def __getattr__(name: str) -> object:  # lazy: the views need sqlglot
    if name == "register_views":
        from knox_analytics.spark.views import register_views

        return register_views
    raise AttributeError(name)
