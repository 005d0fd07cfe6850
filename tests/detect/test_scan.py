"""How the rules of a view are matched (knox_analytics.detect.run._scan): a view with many
rules evaluates them once per distinct value of the columns they read, not once per row,
and a view with few is filtered before its joins; both give the rows one pass per row
would."""

from __future__ import annotations

import pyarrow as pa

from knox_analytics.catalog import Catalog
from knox_analytics.detect.rules import RuleSQL
from knox_analytics.detect.run import DISTINCT_FROM, _scan

ROWS = 600
IMAGES = ["/bin/ls", "/usr/bin/curl", None]


def _rules(n: int) -> list[RuleSQL]:
    # rule 0 counts its evaluations; the others match one image each (a NULL image too)
    out = [RuleSQL(key="k0", title="t0", level="low", author="a", path="p",
                   view="tv", where="(seen(image) AND image = '/bin/ls')", columns=["image"])]
    for i in range(1, n):
        out.append(RuleSQL(key=f"k{i}", title=f"t{i}", level="low", author="a", path="p",
                           view="tv", columns=["image", "n"],
                           where=f"(image IS NULL AND n % {i + 1} = 0)" if i % 2 else
                           "suffix(\"_lc_image\", '/curl')", lowered=["image"]))
    return out


def _catalog(calls: list[str]) -> Catalog:
    cat = Catalog()
    cat.con.create_function("seen", lambda x: calls.append(x) or True, ["VARCHAR"], "BOOLEAN",
                            side_effects=True)
    table = pa.table({"image": [IMAGES[i % 3] for i in range(ROWS)], "n": list(range(ROWS))})
    cat.con.register("_tv", table)
    cat.con.execute("CREATE VIEW tv AS SELECT image, n % 4 AS n, \"args\" FROM "
                    "(SELECT *, [image] AS \"args\" FROM _tv)")
    return cat


def _matches(cat: Catalog, rules: list[RuleSQL]) -> dict[str, int]:
    index = {r.key: n for n, r in enumerate(rules)}
    hit = _scan(cat, "tv", rules, index)
    return {r.key: cat.con.execute(f"SELECT count(*) FROM _m{index[r.key]}").fetchone()[0]
            for r in rules if index[r.key] in hit}


def test_many_rules_are_matched_once_per_distinct_value():
    calls: list[str] = []
    with _catalog(calls) as cat:
        got = _matches(cat, _rules(DISTINCT_FROM + 2))
    # 600 rows, 2 distinct non-NULL images: the counting rule ran per value, not per row
    assert 0 < len(calls) <= 2 * 4
    assert got["k0"] == ROWS // 3
    # a NULL image matches (IS NOT DISTINCT FROM: the join back keeps NULL values)
    assert got["k1"] == sum(1 for i in range(ROWS) if i % 3 == 2 and (i % 4) % 2 == 0)
    assert got["k2"] == ROWS // 3


def test_few_rules_give_the_same_rows():
    calls: list[str] = []
    with _catalog(calls) as cat:
        many = _matches(cat, _rules(DISTINCT_FROM + 2))
    calls.clear()
    with _catalog(calls) as cat:
        few = {k: _matches(cat, _rules(DISTINCT_FROM + 2)[:DISTINCT_FROM - 1]).get(k)
               for k in ("k0", "k1", "k2")}
    assert few == {k: many.get(k) for k in few}
