"""``knox detect``: Sigma rules (and correlations) compiled to DuckDB SQL over the knox views.

    >>> from knox_analytics.catalog import Catalog                    # doctest: +SKIP
    >>> from knox_analytics.detect import detect, load_ruleset
    >>> with Catalog(["audit-parquet"]) as cat:
    ...     alerts = detect(cat, load_ruleset())

:func:`detect_new` is the incremental run over a dataset (``knox detect DATASET
--new``): only the alerts no earlier one reported (:mod:`.incremental`).

Layers: :mod:`.fields` (Sigma logsource/field → knox view/column, data), :mod:`.compile`
(a parsed Sigma condition → SQL), :mod:`.rules` (files → compiled, cached rule sets),
:mod:`.run` and :mod:`.correlate` (SQL over a catalog → alerts); the views are
``detect/sql/*.sql``.  Needs pySigma (the ``detect`` extra).
"""

from knox_analytics.detect.incremental import NewAlerts, detect_new
from knox_analytics.detect.rules import LEVELS, RuleSet, RuleSQL, load_ruleset
from knox_analytics.detect.run import ALERT_SCHEMA, detect, level_at_least

__all__ = ["ALERT_SCHEMA", "LEVELS", "NewAlerts", "RuleSQL", "RuleSet", "detect", "detect_new",
           "level_at_least", "load_ruleset"]
