"""Spark SQL generated from the DuckDB view files: one definition of each question.

``knox_analytics/sql/*.sql`` stays the only place a question is written.  This module
parses each file with sqlglot (DuckDB dialect), rewrites what Spark lacks or spells
differently, and prints Spark SQL; a test runs every view on both engines and compares the
answers.  The rewrites, each a mechanical rule:

========================================  ==================================================
DuckDB                                    Spark
========================================  ==================================================
``A ASOF LEFT JOIN B b ON eq AND A.t>=b.t``  ``LEFT JOIN (SELECT *, lead(b.t) OVER (PARTITION
                                          BY b's eq keys ORDER BY b.t) AS __asof_next FROM
                                          B b) b ON eq AND A.t>=b.t AND (b.__asof_next IS
                                          NULL OR A.t < b.__asof_next)``
``list[i]`` (1-based, NULL when out of    ``get(list, i-1)`` (``list[i]`` raises in ANSI
range)                                    mode)
``list(x ORDER BY k1, k2)``               ``transform(array_sort(collect_list(struct(k1, k2,
                                          x))), e -> e.x)``
``list(DISTINCT x)`` (keeps NULL)         the same over ``struct(x)`` (``collect_*`` drop NULL)
``format('{}@{}', a, b)``                 ``concat(cast(a AS STRING), '@', …)``
``epoch_ms(timestamp)``                   ``unix_millis(timestamp)`` (knox SQL uses epoch_ms
                                          only to turn times into milliseconds)
``regexp_full_match(s, p)``               ``s RLIKE '^(?:p)$'``
``list_has_any(a, b)``                    ``arrays_overlap(a, b)``
``len(list)``                             ``size(list)`` (knox SQL spells string length
                                          ``length``)
``CAST(x AS UINTEGER)`` (unsigned)        ``CAST(x AS BIGINT)`` (Spark reads u32 as bigint)
table macro over ``query_table(src)``     inlined into the view that calls it
scalar macro ``m(x)`` (``basename``)      its body over ``x``, inlined
========================================  ==================================================

Everything else (lambdas, ``list_filter``, ``arg_max``, ``string_split``, ...) is sqlglot's
own DuckDB → Spark translation.  A construct with no rule raises :class:`SqlGenError`
naming the file, rather than producing SQL that answers differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from knox_analytics.engine import SqlFile, sql_files
from knox_analytics.errors import SqlGenError

_UNSIGNED = {exp.DataType.Type.UTINYINT: "INT", exp.DataType.Type.USMALLINT: "INT",
             exp.DataType.Type.UINT: "BIGINT", exp.DataType.Type.UBIGINT: "DECIMAL(20, 0)"}
_LEN = re.compile(r"\blen\(", re.IGNORECASE)


@dataclass(frozen=True)
class SparkView:
    """One generated view: its name, the file it came from, and its Spark SQL."""

    name: str
    file: str
    sql: str


@dataclass(frozen=True)
class _Macro:
    params: tuple[str, ...]
    body: exp.Expression


def spark_views(files: list[SqlFile] | None = None) -> list[SparkView]:
    """Every view of the catalog as a Spark ``CREATE OR REPLACE TEMPORARY VIEW``, in
    definition order.  Table macros over ``query_table`` are inlined where used; macros
    with other bodies (``process_forest``) are left out."""
    macros: dict[str, _Macro] = {}
    out = []
    for sql_file in files if files is not None else sql_files():
        text = _LEN.sub("array_length(", sql_file.text)
        for statement in sqlglot.parse(text, read="duckdb"):
            if statement is None:
                continue
            name = statement.this.name if isinstance(statement, exp.Create) else ""
            if statement.args.get("kind") == "MACRO":
                macro = statement.this  # a UserDefinedFunction: its name is its table's
                macros[macro.this.name.lower()] = _Macro(tuple(p.name for p in macro.expressions),
                                            statement.expression)
                continue
            if statement.args.get("kind") != "VIEW":
                raise SqlGenError(f"knox_analytics/sql/{sql_file.name}: only views and "
                                  f"macros are expected, found {statement.key}")
            body = to_spark(statement.expression, macros, sql_file.name)
            out.append(SparkView(name, sql_file.name,
                                 f"CREATE OR REPLACE TEMPORARY VIEW {name} AS\n{body}"))
    return out


def to_spark(query: exp.Expression, macros: dict[str, _Macro] | None = None,
             where: str = "<query>") -> str:
    """Spark SQL for one DuckDB query (a parsed sqlglot expression)."""
    tree = query.copy()
    try:
        tree = _inline_macros(tree, macros or {})
        tree = _rewrite_bottom_up(tree)
    except SqlGenError as exc:
        raise SqlGenError(f"knox_analytics/sql/{where}: {exc}") from None
    return tree.sql(dialect="spark", pretty=True)


def translate(sql: str) -> str:
    """Spark SQL for a DuckDB query string (for ad-hoc ``knox query --engine spark``).

    >>> translate("SELECT paths[1] FROM records")
    'SELECT\\n  GET(paths, 0)\\nFROM records'
    """
    return to_spark(sqlglot.parse_one(_LEN.sub("array_length(", sql), read="duckdb"))


# -- rewrites ---------------------------------------------------------------------------
def _rewrite_bottom_up(tree: exp.Expression) -> exp.Expression:
    """Apply the rules children first, so that a rule sees its operands already in Spark
    form (reversed pre-order visits every node after all of its descendants)."""
    for node in reversed(list(tree.walk(bfs=False))):
        rule = _RULES.get(type(node))
        new = rule(node) if rule else node
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def _bracket(node: exp.Bracket) -> exp.Expression:
    # sqlglot already made the index 0-based; get() is NULL out of range, like DuckDB.
    if len(node.expressions) != 1:
        raise SqlGenError(f"list slice {node.sql('duckdb')!r} has no rule")
    return exp.Anonymous(this="get", expressions=[node.this, node.expressions[0]])


def _array_agg(node: exp.ArrayAgg) -> exp.Expression:
    inner = node.this
    if isinstance(inner, exp.Order):
        return _ordered_list(inner)
    if isinstance(inner, exp.Distinct):
        # collect_set drops NULL, DuckDB's list(DISTINCT x) keeps it: wrap, dedupe, unwrap.
        (value,) = inner.expressions
        return sqlglot.parse_one(
            f"transform(array_distinct(collect_list(struct({value.sql('spark')} AS v))), "
            "e -> e.v)", read="spark")
    return node


def _ordered_list(order: exp.Order) -> exp.Expression:
    keys = []
    for n, ordered in enumerate(order.expressions):
        if ordered.args.get("desc"):
            raise SqlGenError("list(... ORDER BY ... DESC) has no rule")
        keys.append(f"{ordered.this.sql('spark')} AS k{n}")
    value = order.this.sql("spark")
    return sqlglot.parse_one(
        f"transform(array_sort(collect_list(struct({', '.join(keys)}, {value} AS v))), "
        "e -> e.v)", read="spark")


def _format(node: exp.Format) -> exp.Expression:
    template = node.this
    if not isinstance(template, exp.Literal) or not template.is_string:
        raise SqlGenError("format() with a non-literal template has no rule")
    pieces = template.this.split("{}")
    if len(pieces) != len(node.expressions) + 1:
        raise SqlGenError(f"format({template.sql()}) placeholder count")
    parts: list[exp.Expression] = []
    for n, piece in enumerate(pieces):
        if piece:
            parts.append(exp.Literal.string(piece))
        if n < len(node.expressions):
            parts.append(exp.cast(node.expressions[n], "STRING"))
    return exp.Concat(expressions=parts)


def _unix_to_time(node: exp.UnixToTime) -> exp.Expression:
    # DuckDB's epoch_ms(x) is overloaded; knox SQL uses it on timestamps (see docstring).
    scale = node.args.get("scale")
    if scale is None or scale.name != "3":
        raise SqlGenError(f"{node.sql('duckdb')!r} has no rule")
    return exp.Anonymous(this="unix_millis", expressions=[node.this])


def _full_match(node: exp.RegexpFullMatch) -> exp.Expression:
    pattern = node.expression
    if not isinstance(pattern, exp.Literal):
        raise SqlGenError("regexp_full_match with a non-literal pattern has no rule")
    return exp.RegexpLike(this=node.this,
                          expression=exp.Literal.string(f"^(?:{pattern.this})$"))


def _cast(node: exp.Cast) -> exp.Expression:
    target = _UNSIGNED.get(node.to.this)
    return exp.cast(node.this, target) if target else node


def _join(node: exp.Join) -> exp.Expression:
    """ASOF LEFT JOIN → LEFT JOIN on the equalities plus the interval in which each right
    row is the latest one (an equi-join Spark runs as a sort-merge join; a correlated
    LATERAL ... LIMIT 1 would become a nested-loop join over every distinct time)."""
    if node.args.get("method") != "ASOF":
        return node
    if node.side != "LEFT":
        raise SqlGenError("ASOF joins other than ASOF LEFT JOIN have no rule")
    right = node.this
    alias = right.alias_or_name
    on = node.args["on"]
    conds = list(on.flatten()) if isinstance(on, exp.And) else [on]
    keys = [_mine(c, alias) for c in conds if isinstance(c, exp.EQ)]
    ineq = [c for c in conds if isinstance(c, exp.GT | exp.GTE | exp.LT | exp.LTE)]
    if len(ineq) != 1 or None in keys or len(keys) + 1 != len(conds):
        raise SqlGenError(f"ASOF join on {on.sql('duckdb')!r}: expected equalities and "
                          "one inequality")
    mine, other, strict = _asof_sides(ineq[0], alias)
    window = exp.Window(this=exp.Anonymous(this="lead", expressions=[mine.copy()]),
                        partition_by=[k.copy() for k in keys],
                        order=exp.Order(expressions=[exp.Ordered(this=mine.copy())]))
    inner = exp.select("*", exp.alias_(window, _NEXT)).from_(right.copy())
    nxt = exp.column(_NEXT, table=alias)
    # The latest right row is valid until the next one: other ∈ [mine, next) for >=,
    # (mine, next] for > (ties: only the last of equal times has next > mine).
    until = (exp.LTE if strict else exp.LT)(this=other.copy(), expression=nxt)
    bounded = exp.paren(exp.or_(exp.Is(this=nxt.copy(), expression=exp.null()), until))
    return exp.Join(this=exp.Subquery(this=inner,
                                      alias=exp.TableAlias(this=exp.to_identifier(alias))),
                    side="LEFT", on=exp.and_(on.copy(), bounded))


_NEXT = "__asof_next"


def _mine(cond: exp.EQ, alias: str) -> exp.Expression | None:
    """The right-side operand of an ASOF equality (None if neither side is the right's)."""
    for side in (cond.this, cond.expression):
        if isinstance(side, exp.Column) and side.table == alias:
            return side
    return None


def _asof_sides(cond: exp.Expression, alias: str) -> tuple[exp.Expression, exp.Expression,
                                                            bool]:
    """(right operand, left operand, strict) of ``left >= right`` in any spelling."""
    left, right = cond.this, cond.expression
    mine_left = isinstance(left, exp.Column) and left.table == alias
    mine, other = (left, right) if mine_left else (right, left)
    # the right side must be the smaller: A.t >= b.t, A.t > b.t, b.t <= A.t, b.t < A.t
    small = (not mine_left) if isinstance(cond, exp.GT | exp.GTE) else mine_left
    if not small:
        raise SqlGenError(f"ASOF join on {cond.sql('duckdb')!r}: only 'the latest right "
                          "row at or before' is supported")
    return mine, other, isinstance(cond, exp.GT | exp.LT)


def _overlaps(node: exp.ArrayOverlaps) -> exp.Expression:
    # sqlglot prints the operator form `a && b`, which Spark SQL does not parse.
    return exp.Anonymous(this="arrays_overlap", expressions=[node.this, node.expression])


_RULES = {
    exp.ArrayOverlaps: _overlaps,
    exp.Bracket: _bracket,
    exp.ArrayAgg: _array_agg,
    exp.Format: _format,
    exp.UnixToTime: _unix_to_time,
    exp.RegexpFullMatch: _full_match,
    exp.Cast: _cast,
    exp.Join: _join,
}


# -- macros -----------------------------------------------------------------------------
def _inline_macros(tree: exp.Expression, macros: dict[str, _Macro]) -> exp.Expression:
    """``FROM m('errors')`` of a table macro ``m(src)`` → its body over ``errors``; a
    scalar macro's call ``m(x)`` → its body over ``x``."""

    def inline(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() in macros \
                and not isinstance(node.parent, exp.Table):
            return _scalar(node, macros[node.name.lower()])
        call = node.this if isinstance(node, exp.Table) else None
        if not isinstance(call, exp.Anonymous) or call.name.lower() not in macros:
            return node
        macro = macros[call.name.lower()]
        args = dict(zip(macro.params, call.expressions, strict=True))
        body = macro.body.copy().transform(lambda n: _bind(n, args))
        alias = node.alias or call.name
        return exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(alias)))

    return tree.transform(inline)


def _scalar(call: exp.Anonymous, macro: _Macro) -> exp.Expression:
    """``m(x)`` of a scalar macro ``m(p) AS body`` → ``(body)`` with ``p`` bound to ``x``."""
    args = dict(zip(macro.params, call.expressions, strict=True))
    return exp.paren(macro.body.copy().transform(lambda n: _bind(n, args)))


def _bind(node: exp.Expression, args: dict[str, exp.Expression]) -> exp.Expression:
    call = node.this if isinstance(node, exp.Table) else None
    if isinstance(call, exp.Anonymous) and call.name.lower() == "query_table":
        (param,) = call.expressions
        value = args.get(param.name)
        if not isinstance(value, exp.Literal) or not value.is_string:
            raise SqlGenError(f"query_table({param.sql()}) needs a literal table name")
        return exp.to_table(value.this)
    if isinstance(node, exp.Column) and not node.table and node.name in args:
        return args[node.name].copy()
    return node
