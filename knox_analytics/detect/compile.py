"""Sigma detection → one DuckDB SQL condition: knox's own backend over pySigma's parse.

pySigma reads the YAML, applies the value modifiers (``contains``, ``all``, ``windash``,
``cidr``, ...) and expands ``1 of`` / ``all of``; this module walks the condition tree
it leaves and writes SQL against one detection view (:mod:`knox_analytics.detect.fields`).
String matches are case-insensitive (Sigma's default) against ``lower()``-ed columns the
runner computes once per row (``_lc_<column>``); ``|cased`` and ``|re`` see the column.
``cidr`` becomes integer range comparisons (``ipv4_int()`` of ``sql/00_detect_macros.sql``),
since DuckDB's inet extension is a download and Spark has no such type.

A construct knox cannot answer raises :class:`Unsupported`, whose message is the one
``knox detect --coverage`` prints for the rule.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from knox_analytics.detect.fields import CATEGORIES, PRODUCTS, Category


class Unsupported(ValueError):
    """A rule knox cannot compile; the message says which field, modifier or logsource."""


@dataclass
class Compiled:
    """A rule's condition as SQL over ``view``, and the columns it reads."""

    view: str
    where: str
    columns: set[str] = field(default_factory=set)
    lowered: set[str] = field(default_factory=set)


def category_of(logsource: Any) -> Category:
    """The knox category of a Sigma logsource (Unsupported when BSM has no such source)."""
    product = (logsource.product or "").lower()
    if product and product not in PRODUCTS:
        raise Unsupported(f"logsource product {product!r}: knox reads BSM "
                          f"({'/'.join(PRODUCTS)})")
    if logsource.service:
        raise Unsupported(f"logsource service {logsource.service!r}: BSM trails have none")
    cat = (logsource.category or "").lower()
    if cat not in CATEGORIES:
        raise Unsupported(f"logsource category {cat or '(none)'!r}: knox maps "
                          f"{', '.join(CATEGORIES)}")
    return CATEGORIES[cat]


def compile_condition(tree: Any, category: Category, view_columns: set[str]) -> Compiled:
    """SQL for one parsed Sigma condition (``SigmaDetections.parsed_condition[i].parse()``)."""
    out = Compiled(category.view, "")
    out.where = _Walker(category, view_columns, out).cond(tree)
    return out


class _Walker:
    def __init__(self, category: Category, columns: set[str], out: Compiled) -> None:
        self.category, self.view_columns, self.out = category, columns, out

    def cond(self, node: Any) -> str:
        if isinstance(node, ConditionOR):
            return "(" + " OR ".join(self.cond(a) for a in node.args) + ")"
        if isinstance(node, ConditionAND):
            return "(" + " AND ".join(self.cond(a) for a in node.args) + ")"
        if isinstance(node, ConditionNOT):
            # Sigma's `not` holds for events without the field: NULL must not hide them
            return f"(NOT COALESCE({self.cond(node.args[0])}, false))"
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.field_value(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            raise Unsupported(f"keyword search {str(node.value)!r}: BSM records have no "
                              "single message text to search; name a field")
        raise Unsupported(f"condition element {type(node).__name__}")

    def column(self, name: str | None) -> str:
        if name is None:
            raise Unsupported("a value without a field (keyword search)")
        col = self.category.fields.get(name)
        if col is None and name in self.view_columns:
            col = name
        if col is None:
            why = self.category.missing.get(name)
            raise Unsupported(f"field {name}: {why}" if why else
                              f"field {name} is not mapped for {self.category.view}")
        self.out.columns.add(col)
        return col

    def field_value(self, name: str | None, value: Any) -> str:
        col = self.column(name)
        if isinstance(value, SigmaExpansion):  # windash: any of the spellings
            return "(" + " OR ".join(self.field_value(name, v) for v in value.values) + ")"
        if isinstance(value, SigmaExists):
            return f"({_q(col)} IS {'NOT ' if value.exists else ''}NULL)"
        if isinstance(value, SigmaNull):
            return f"({_q(col)} IS NULL)"
        if isinstance(value, SigmaCasedString):
            return _string_match(_q(col), value, lower=False)
        if isinstance(value, SigmaString):
            self.out.lowered.add(col)
            return _string_match(_q(f"_lc_{col}"), value, lower=True)
        if isinstance(value, SigmaBool):
            return f"({_q(col)} = {'true' if value.boolean else 'false'})"
        if isinstance(value, SigmaNumber):
            return f"({_q(col)} = {value.number!r})"
        if isinstance(value, SigmaRegularExpression):
            return _regex(_q(col), value)
        if isinstance(value, SigmaCIDRExpression):
            return _cidr(_q(col), value)
        if isinstance(value, SigmaCompareExpression):
            ops = {CompareOperators.LT: "<", CompareOperators.LTE: "<=",
                   CompareOperators.GT: ">", CompareOperators.GTE: ">=",
                   CompareOperators.NEQ: "<>"}
            return f"({_q(col)} {ops[value.op]} {value.number.number!r})"
        if isinstance(value, SigmaFieldReference):
            return f"({_q(col)} = {_q(self.column(value.field))})"
        raise Unsupported(f"field {name}: value modifier producing {type(value).__name__}")


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _string_match(col: str, value: SigmaString, *, lower: bool) -> str:
    parts = list(value.s)
    for p in parts:
        if not isinstance(p, str) and p not in (SpecialChars.WILDCARD_MULTI,
                                                SpecialChars.WILDCARD_SINGLE):
            raise Unsupported(f"placeholder in value {value!s}")

    def low(text: str) -> str:
        return text.lower() if lower else text

    star = SpecialChars.WILDCARD_MULTI
    # the common shapes as plain string functions: cheaper than LIKE
    if all(isinstance(p, str) for p in parts):
        return f"({col} = {_lit(low(''.join(parts)))})"
    if (len(parts) == 3 and parts[0] is star and parts[2] is star
            and isinstance(parts[1], str)):
        return f"contains({col}, {_lit(low(parts[1]))})"
    if len(parts) == 2 and parts[0] is star and isinstance(parts[1], str):
        return f"suffix({col}, {_lit(low(parts[1]))})"
    if len(parts) == 2 and parts[1] is star and isinstance(parts[0], str):
        return f"starts_with({col}, {_lit(low(parts[0]))})"
    pattern = "".join(
        re.sub(r"([\\%_])", r"\\\1", low(p)) if isinstance(p, str)
        else ("%" if p is star else "_") for p in parts)
    return f"({col} LIKE {_lit(pattern)} ESCAPE '\\')"


_RE_FLAGS = {SigmaRegularExpressionFlag.IGNORECASE: "i",
             SigmaRegularExpressionFlag.MULTILINE: "m",
             SigmaRegularExpressionFlag.DOTALL: "s"}


def _regex(col: str, value: SigmaRegularExpression) -> str:
    flags = "".join(_RE_FLAGS[f] for f in value.flags)
    regexp = value.regexp.to_plain() if hasattr(value.regexp, "to_plain") else str(
        value.regexp)
    try:
        re.compile(regexp)
    except re.error as exc:
        raise Unsupported(f"regular expression {regexp!r}: {exc}") from exc
    options = f", {_lit(flags)}" if flags else ""
    return f"regexp_matches({col}, {_lit(regexp)}{options})"


def _cidr(col: str, value: SigmaCIDRExpression) -> str:
    net = ipaddress.ip_network(value.cidr, strict=False)
    if net.version != 4:
        raise Unsupported(f"cidr {value.cidr}: only IPv4 networks compile to integer ranges")
    lo, hi = int(net.network_address), int(net.broadcast_address)
    return f"(ipv4_int({col}) BETWEEN {lo} AND {hi})"
