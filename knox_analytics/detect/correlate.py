"""Sigma v2 correlations over the matches of other rules: window functions and as-of joins.

Every input row keeps the detection view's columns; a correlation's output rows are the
rows at which its condition first holds (event_count, value_count, temporal) or the last
event of each ordered chain (temporal_ordered), with the same columns plus ``evidence``
(the (source, offset) of the events that made it), so correlations chain.

Group-by names are the referenced rules' Sigma fields or the scopes of
:data:`knox_analytics.detect.rules.SCOPES` (``Session`` = the audit session id,
``ProcessInstance``, ``ProcessTree`` = the instance below launchd the process descends
from, ``Host``...).  The host is always part of the group, unless the rule says
``across-hosts: true``: a fleet's hosts never correlate with each other by accident.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from knox_analytics.detect.fields import CATEGORIES
from knox_analytics.detect.rules import SCOPES, RuleSQL
from knox_analytics.errors import UsageError

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog

_OPS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "=", "neq": "<>"}
#: A matched row as the evidence of an alert: the record it came from (a list, since a
#: correlation's evidence is the records of every event it joined).
ROW_EVIDENCE = "[{'source': source, 'offset': \"offset\", 'record_id': record_id}]"


def _column(name: str, view_cols: set[str]) -> str:
    for cat in CATEGORIES.values():
        if name in cat.fields and cat.fields[name] in view_cols:
            return cat.fields[name]
    if name in SCOPES:
        return SCOPES[name]
    if name in view_cols:
        return name
    raise UsageError(f"correlation group-by/field {name!r}: not a field of the rules it "
                     f"reads nor a scope ({', '.join(SCOPES)})")


def run_correlation(cat: Catalog, rule: RuleSQL, tables: dict[str, str], out: str) -> bool:
    """Create table ``out`` with the rows where ``rule`` fires; False when an input is
    missing (a referenced rule that did not run)."""
    c = rule.correlation
    assert c is not None
    if any(k not in tables for k in c["rules"]):
        return False
    con = cat.con
    inputs = [tables[k] for k in c["rules"]]
    common = None
    for t in dict.fromkeys(inputs):
        cols = list(con.sql(f"SELECT * FROM {t} LIMIT 0").columns)
        common = cols if common is None else [x for x in common if x in cols]
    common = [x for x in (common or []) if x != "evidence"]
    aliases = c.get("aliases") or {}
    group = [f"_a_{g}" if g in aliases else _column(g, set(common) | {"tree"})
             for g in c["group_by"]]
    if not c["across_hosts"] and "host" not in group:
        group.insert(0, "host")
    field = _column(c["field"], set(common)) if c.get("field") else None
    if "tree" in group:
        _add_tree(cat, inputs)
        common.append("tree")
    keep = ", ".join(f'"{x}"' for x in common)
    union = " UNION ALL ".join(
        f"SELECT {keep}, {_aliased(cat, c, n, t)}{n} AS _rule, "
        f"{'evidence' if _has_evidence(cat, t) else ROW_EVIDENCE} AS evidence FROM {t}"
        for n, t in enumerate(inputs))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out}_in AS SELECT *, row_number() OVER "
                f"(ORDER BY time, source, \"offset\", _rule) AS _seq FROM ({union})")
    part = ", ".join(f'"{g}"' for g in group) or "true"
    span = int(c["timespan_ms"])
    window = (f"(PARTITION BY {part} ORDER BY time RANGE BETWEEN INTERVAL {span} "
              f"MILLISECONDS PRECEDING AND CURRENT ROW)")
    op, count = _OPS[c["op"]], c["count"]
    kind = c["type"]
    if kind == "temporal_ordered":
        _ordered(cat, out, len(inputs), group, span, common)
        return True
    if kind == "event_count":
        measure = "count(*)"
    elif kind == "value_count":
        measure = f'count(DISTINCT "{field}")'
    else:  # temporal: how many of the rules occurred in the window
        measure = " + ".join(
            f"CASE WHEN max(CASE WHEN _rule = {n} THEN 1 END) OVER w IS NULL THEN 0 ELSE 1 END"
            for n in range(len(inputs)))
    measured = measure if kind == "temporal" else f"{measure} OVER w"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        WITH m AS (
            SELECT *, ({measured}) {op} {count} AS _hit,
                   flatten(list(evidence) OVER w) AS _ev
            FROM {out}_in WINDOW w AS {window}
        ),
        f AS (SELECT *, lag(_hit) OVER (PARTITION BY {part} ORDER BY _seq) AS _before FROM m)
        SELECT {keep}, _ev AS evidence FROM f
        WHERE _hit AND NOT COALESCE(_before, false)
    """)
    return True


def _aliased(cat: Catalog, c: dict, n: int, table: str) -> str:
    """The alias columns (``_a_<alias>``) of input ``n``: the field each rule names for a
    group-by alias (Sigma's ``aliases``: a path is TargetFilename in a file_event rule
    and Image in a process_creation one)."""
    cols = set(cat.con.sql(f"SELECT * FROM {table} LIMIT 0").columns)
    out = []
    for alias, fields in (c.get("aliases") or {}).items():
        if alias not in c["group_by"]:
            continue
        key = c["rules"][n]
        if key not in fields:
            raise UsageError(f"correlation alias {alias!r} names no field for rule {key!r}")
        out.append(f'CAST("{_column(fields[key], cols)}" AS VARCHAR) AS "_a_{alias}", ')
    return "".join(out)


def _has_evidence(cat: Catalog, table: str) -> bool:
    return "evidence" in cat.con.sql(f"SELECT * FROM {table} LIMIT 0").columns


def _ordered(cat: Catalog, out: str, n: int, group: list[str], span: int,
             common: list[str]) -> None:
    """Each row of the last rule, with the latest row of the rule before it earlier in the
    same group, and so on back to the first, all within ``span`` ms of the last."""
    sql = [f"SELECT p{n - 1}.*, p{n - 1}._seq AS _s{n - 1}, p{n - 1}.time AS _t{n - 1}, "
           f"p{n - 1}.evidence AS _e{n - 1} FROM {out}_in AS p{n - 1} "
           f"WHERE p{n - 1}._rule = {n - 1}"]
    cat.con.execute(f"CREATE OR REPLACE TEMP TABLE {out}_0 AS {sql[0]}")
    prev = f"{out}_0"
    for k in range(n - 2, -1, -1):
        cond = " AND ".join(f'p{k}."{g}" IS NOT DISTINCT FROM q."{g}"' for g in group)
        cat.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {out}_{n - 1 - k} AS
            SELECT q.*, p{k}._seq AS _s{k}, p{k}.time AS _t{k}, p{k}.evidence AS _e{k}
            FROM {prev} AS q
            ASOF JOIN (SELECT * FROM {out}_in WHERE _rule = {k}) AS p{k}
              ON {cond + ' AND ' if cond else ''}q._s{k + 1} > p{k}._seq
            WHERE p{k}.time >= q._t{n - 1} - INTERVAL {span} MILLISECONDS
        """)
        prev = f"{out}_{n - 1 - k}"
    keep = ", ".join(f'"{x}"' for x in common)
    ev = " || ".join(f"_e{k}" for k in range(n))
    cat.con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT {keep}, {ev} AS evidence "
                    f"FROM {prev}")


def _add_tree(cat: Catalog, tables: list[str]) -> None:
    """Give each input row ``tree``: the ancestor of its instance just below launchd (or
    the oldest known one)."""
    cat.define(["processes"])
    con = cat.con
    for t in dict.fromkeys(tables):
        if "tree" in con.sql(f"SELECT * FROM {t} LIMIT 0").columns:
            continue
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {t} AS
            WITH RECURSIVE
            p AS MATERIALIZED (SELECT instance, parent_instance, ppid FROM processes),
            up(start, instance, depth) AS (
                SELECT DISTINCT instance, instance, 0 FROM {t} WHERE instance IS NOT NULL
                UNION ALL
                SELECT up.start, p.parent_instance, up.depth + 1
                FROM up JOIN p ON p.instance = up.instance
                WHERE p.parent_instance IS NOT NULL AND p.ppid <> 1 AND up.depth < 64
            ),
            roots AS (SELECT start, arg_max(instance, depth) AS tree FROM up GROUP BY start)
            SELECT t.*, COALESCE(roots.tree, t.instance) AS tree
            FROM {t} AS t LEFT JOIN roots ON roots.start = t.instance
        """)
