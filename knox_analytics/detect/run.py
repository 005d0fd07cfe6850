"""Run a compiled rule set over a catalog: one scan per detection view, then the
correlations, then the alerts with their who and why.

    >>> with Catalog(["audit-parquet"]) as cat:                       # doctest: +SKIP
    ...     alerts = detect(cat, load_ruleset())

Every base rule of a view is evaluated in the same pass over that view (a list of the
rules each row matches), so the pack costs one read of each view it uses, however many
rules it has.  Correlations are window functions and as-of joins over those matches
(:mod:`.correlate`).  The alert rows are then given their command line, parent chain
and evidence records (source, offset, and ``record_id`` when the dataset has one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from knox_analytics.detect.rules import LEVELS, RuleSet, RuleSQL
from knox_analytics.detect.views import define_views
from knox_analytics.errors import InputError

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog

#: A view with this many rules or more is matched once per distinct value of the
#: columns its rules read (:func:`_scan`); below, once per row (no second pass to join).
DISTINCT_FROM = 4

#: The alert table, one row per alert.
ALERT_SCHEMA = pa.schema([
    ("rule_id", pa.string()), ("title", pa.string()), ("level", pa.string()),
    ("author", pa.string()), ("time", pa.timestamp("ms", tz="UTC")), ("host", pa.string()),
    ("user", pa.string()), ("euser", pa.string()), ("pid", pa.uint32()),
    ("command_line", pa.string()), ("parent_chain", pa.string()), ("sid", pa.uint32()),
    ("instance", pa.string()), ("rule_file", pa.string()),
    ("evidence", pa.list_(pa.struct([("source", pa.string()), ("offset", pa.int64()),
                                     ("record_id", pa.string())]))),
])


def detect(cat: Catalog, ruleset: RuleSet, *, min_level: str = "informational",
           scope: str | None = None) -> pa.Table:
    """The alerts of ``ruleset`` over the catalog's records, in time order; rules below
    ``min_level`` still feed correlations but raise no alert of their own.

    ``scope``: an SQL condition over the detection views' columns (``time``, ``host``,
    ...) restricting the rows the rules read (:mod:`.incremental` passes the look-back
    range of new records); the views themselves, the processes and parent chains they
    join, are still those of every record."""
    try:
        return _detect(cat, ruleset, min_level, scope)
    except duckdb.Error as exc:
        raise InputError(f"detect: {' '.join(str(exc).split())[:400]}") from exc


def _detect(cat: Catalog, ruleset: RuleSet, min_level: str, scope: str | None) -> pa.Table:
    define_views(cat)
    rules = [r for r in ruleset.rules if r.compiled]
    base = [r for r in rules if r.where is not None]
    index = {r.key: n for n, r in enumerate(base)}
    hit: set[int] = set()
    for view in dict.fromkeys(r.view for r in base):
        hit |= _scan(cat, view, [r for r in base if r.view == view], index,  # type: ignore[arg-type]
                     scope)
    from knox_analytics.detect.correlate import ROW_EVIDENCE, run_correlation

    pieces: list[str] = []
    for r in base:
        if index[r.key] in hit and r.alerts and level_at_least(r.level, min_level):
            pieces.append(_alert_select(cat, r, f"_m{index[r.key]}", ROW_EVIDENCE))
    tables = {r.key: f"_m{index[r.key]}" if index[r.key] in hit else f"_none_{r.view}"
              for r in base}
    for n, r in enumerate(x for x in rules if x.correlation):
        table = f"_c{n}"
        if run_correlation(cat, r, tables, table):
            tables[r.key] = table
            if r.alerts and level_at_least(r.level, min_level):
                pieces.append(_alert_select(cat, r, table, "evidence"))
    if not pieces:
        return ALERT_SCHEMA.empty_table()
    cat.con.execute("CREATE OR REPLACE TEMP TABLE _alerts AS " + " UNION ALL ".join(pieces))
    return _enrich(cat)


def _scan(cat: Catalog, view: str, rules: list[RuleSQL], index: dict[str, int],
          scope: str | None = None) -> set[int]:
    """Match every rule of ``view`` in one pass; table ``_m<n>`` holds rule n's rows.
    Returns the rules that matched anything; the others have no table of their own but
    share the empty ``_none_<view>`` (a statement per rule would dominate a small live
    batch).

    With many rules, they are evaluated once per distinct value of the columns they
    read, not once per row: a machine runs the same commands over and over (the 82
    process-creation rules meet ~16 k distinct (image, command line, parent, ...) among
    ~490 k execs), so the rules' string matching, which dominated the pack, shrinks by
    that factor.  The view is computed once (a materialized CTE) and its rows are joined
    to the matching values.  ``scope`` restricts the view's rows (:func:`detect`)."""
    rows = f"(SELECT * FROM {view} WHERE {scope})" if scope else view
    cols = [c for c in cat.con.sql(f"SELECT * FROM {view} LIMIT 0").columns
            if c != "args"]
    keep = ", ".join(f'"{c}"' for c in cols)
    used = sorted({c for r in rules for c in r.columns})
    marks = ", ".join(f"CASE WHEN COALESCE({r.where}, false) THEN {index[r.key]} END"
                      for r in rules)
    lowered = sorted({c for r in rules for c in r.lowered})
    low = "".join(f', lower(CAST("{c}" AS VARCHAR)) AS "_lc_{c}"' for c in lowered)
    # the same test as a filter too: the engine pushes it below the view's joins
    any_rule = " OR ".join(f"COALESCE({r.where}, false)" for r in rules)
    match = f"list_filter([{marks}], lambda x: x IS NOT NULL) AS _rules"
    if len(rules) >= DISTINCT_FROM and used and set(used) <= set(cols):
        key = ", ".join(f'"{c}"' for c in used)
        on = " AND ".join(f'v."{c}" IS NOT DISTINCT FROM m."{c}"' for c in used)
        cat.con.execute(
            f"CREATE OR REPLACE TEMP TABLE _hits_{view} AS "
            f"WITH v AS MATERIALIZED (SELECT {keep} FROM {rows}), "
            f"m AS (SELECT * FROM (SELECT {key}, {match} FROM ("
            f"SELECT *{low} FROM (SELECT DISTINCT {key} FROM v))) WHERE len(_rules) > 0) "
            f"SELECT v.*, m._rules FROM v JOIN m ON {on}")
    else:
        cat.con.execute(
            f"CREATE OR REPLACE TEMP TABLE _hits_{view} AS SELECT {keep}, _rules FROM ("
            f"SELECT *, {match} "
            f"FROM (SELECT *{low} FROM {rows}) WHERE {any_rule}) WHERE len(_rules) > 0")
    hit = {int(x[0]) for x in cat.con.execute(
        f"SELECT DISTINCT unnest(_rules) FROM _hits_{view}").fetchall()}
    cat.con.execute(f"CREATE OR REPLACE TEMP TABLE _none_{view} AS SELECT * EXCLUDE (_rules) "
                    f"FROM _hits_{view} LIMIT 0")
    for r in rules:
        n = index[r.key]
        if n in hit:
            cat.con.execute(f"CREATE OR REPLACE TEMP TABLE _m{n} AS SELECT * EXCLUDE "
                            f"(_rules) FROM _hits_{view} WHERE list_contains(_rules, {n})")
    return hit


def _alert_select(cat: Catalog, r: RuleSQL, table: str, evidence: str) -> str:
    lit = _lit
    has = set(cat.con.sql(f"SELECT * FROM {table} LIMIT 0").columns)
    return (f"SELECT {lit(r.rule_id or r.name or r.key)} AS rule_id, {lit(r.title)} AS title, "
            f"{lit(r.level)} AS level, {lit(r.author)} AS author, {lit(r.path)} AS rule_file, "
            f"time, host, login_user, effective_user, pid, instance, sid, "
            f"CAST({'command_line' if 'command_line' in has else 'NULL'} AS VARCHAR) "
            f"AS command_line, "
            f"{evidence} AS evidence FROM {table}")


def _lit(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def _enrich(cat: Catalog) -> pa.Table:
    """Each alert's instance (from pid and time when the view had none), command line
    (the instance's latest successful exec at the alert), parent chain and evidence
    record ids."""
    cat.define(["processes", "execs", "instance_lookup"])
    con = cat.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _alerts2 AS
        SELECT a.* REPLACE (COALESCE(a.instance, il.instance) AS instance)
        FROM (SELECT *, row_number() OVER () AS _n FROM _alerts) AS a
        ASOF LEFT JOIN instance_lookup AS il ON il.pid = a.pid AND a.time >= il.start_time
    """)
    # The views carry each row's record id: a join back to the records on (source,
    # offset) would match two records wherever two inputs share a name (a `current`
    # before and after rotation).
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _ev AS
        WITH e AS (SELECT _n, unnest(evidence) AS ev FROM _alerts2)
        SELECT _n, list({'source': CAST(ev.source AS VARCHAR), 'offset': ev.offset,
                         'record_id': lower(hex(ev.record_id))} ORDER BY ev.offset)
                   AS evidence
        FROM e GROUP BY _n
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _chain AS
        WITH RECURSIVE
        p AS MATERIALIZED (
            SELECT instance, parent_instance, pid, command FROM processes),
        up(start, instance, depth, label) AS (
            SELECT DISTINCT a.instance, p.parent_instance, 1, ''
            FROM _alerts2 AS a JOIN p ON p.instance = a.instance
            UNION ALL
            SELECT up.start, p.parent_instance, up.depth + 1,
                   format('{}({})', COALESCE(p.command, '?'), p.pid)
            FROM up JOIN p ON p.instance = up.instance
            WHERE up.depth < 12
        )
        SELECT start AS instance,
               string_agg(label, ' < ' ORDER BY depth) FILTER (WHERE label <> '') AS chain
        FROM up GROUP BY start
    """)
    order = " ".join(f"WHEN '{lv}' THEN {n}" for n, lv in enumerate(reversed(LEVELS)))
    table = con.sql(f"""
        SELECT a.rule_id, a.title, a.level, a.author, a.time, a.host,
               a.login_user AS "user", a.effective_user AS euser, CAST(a.pid AS UINTEGER) AS pid,
               COALESCE(a.command_line, argv_line(x.argv)) AS command_line,
               ch.chain AS parent_chain, CAST(a.sid AS UINTEGER) AS sid, a.instance,
               a.rule_file, ev.evidence
        FROM _alerts2 AS a
        ASOF LEFT JOIN (SELECT instance, time, argv FROM execs WHERE success) AS x
            ON x.instance = a.instance AND a.time >= x.time
        LEFT JOIN _chain AS ch ON ch.instance = a.instance
        LEFT JOIN _ev AS ev ON ev._n = a._n
        ORDER BY a.time, CASE a.level {order} END, a.title
    """).to_arrow_table()
    return table.cast(ALERT_SCHEMA)


def level_at_least(level: str, floor: str) -> bool:
    """Whether an alert ``level`` is ``floor`` or above (Sigma's order)."""
    return LEVELS.index(level) >= LEVELS.index(floor)
