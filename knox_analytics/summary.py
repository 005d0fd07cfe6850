"""``knox summary``: what a trail or dataset holds, on one screen.

The first thing to run on unknown data: its time range, hosts, how many records of each
class and event, the top users and commands, the calls that fail most, and the byte
ranges the decoder had to skip.  One :class:`Summary` (plain data, JSON-ready), computed
by a handful of DuckDB aggregates over the catalog's views.

    >>> with Catalog(["audit-parquet"]) as cat:             # doctest: +SKIP
    ...     summarize(cat).to_dict()["records"]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog

#: Rows shown per list: enough to recognise the data, few enough for one screen.
TOP = 8


@dataclass
class Summary:
    """Counts that describe a trail or dataset (see the module text)."""

    records: int = 0
    first: str | None = None  # ISO 8601, UTC
    last: str | None = None
    hosts: list[tuple[str, int]] = field(default_factory=list)
    classes: list[tuple[str, int]] = field(default_factory=list)
    events: list[tuple[str, int]] = field(default_factory=list)
    users: list[tuple[str, int]] = field(default_factory=list)
    commands: list[tuple[str, int]] = field(default_factory=list)
    failures: int = 0
    failing: list[tuple[str, str, int]] = field(default_factory=list)  # event, errno, n
    damaged: list[str] = field(default_factory=list)  # one line per skipped byte range
    damaged_in_datasets: int = 0  # ranges skipped when the datasets were converted

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: lists of pairs become lists of objects."""
        out = asdict(self)
        for name, keys in (("hosts", ("host", "records")), ("classes", ("class", "records")),
                           ("events", ("event", "records")), ("users", ("user", "records")),
                           ("commands", ("command", "execs")),
                           ("failing", ("event", "errno", "failures"))):
            out[name] = [dict(zip(keys, row, strict=True)) for row in out[name]]
        return out


def summarize(cat: Catalog, top: int = TOP) -> Summary:
    """The summary of everything the catalog's inputs hold."""
    total, first, last = cat.sql(
        "SELECT count(*), strftime(min(time), '%Y-%m-%dT%H:%M:%S.%gZ'), "
        "strftime(max(time), '%Y-%m-%dT%H:%M:%S.%gZ') FROM events").fetchall()[0]
    s = Summary(records=int(total), first=first, last=last)
    if not total:
        s.damaged = _damage(cat)
        return s
    s.hosts = _pairs(cat, "SELECT host, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC", top)
    s.classes = _pairs(cat, "SELECT c, count(*) FROM (SELECT unnest(string_split("
                       "COALESCE(event_classes, '-'), ',')) AS c FROM events) "
                       "GROUP BY 1 ORDER BY 2 DESC, 1", top)
    s.events = _pairs(cat, "SELECT COALESCE(event_name, '#' || event), count(*) FROM events "
                      "GROUP BY 1 ORDER BY 2 DESC, 1", top)
    s.users = _pairs(cat, 'SELECT COALESCE("user", \'?\'), count(*) FROM events '
                     'GROUP BY 1 ORDER BY 2 DESC, 1',
                     top)
    s.commands = _pairs(cat, "SELECT COALESCE(command, '?'), count(*) FROM commands "
                        "GROUP BY 1 ORDER BY 2 DESC, 1", top)
    s.failures = int(cat.sql("SELECT count(*) FROM events WHERE NOT success").fetchall()[0][0])
    s.failing = [(str(e), str(n), int(c)) for e, n, c in cat.sql(
        "SELECT COALESCE(event_name, '#' || event), COALESCE(errno_name, "
        "'errno ' || return_errno), count(*) FROM events WHERE NOT success "
        f"GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT {int(top)}").fetchall()]
    s.damaged = _damage(cat)
    s.damaged_in_datasets = _dataset_damage(cat)
    return s


def _pairs(cat: Catalog, sql: str, top: int) -> list[tuple[str, int]]:
    return [(str(k), int(n)) for k, n in cat.sql(f"{sql} LIMIT {int(top)}").fetchall()]


def _damage(cat: Catalog) -> list[str]:
    """Every damaged byte range: of the trails read now and kept with the datasets."""
    from knox_analytics.bsm.damage import Damage

    rows = cat.sql("SELECT source, \"offset\", length, reason, kind FROM damage").fetchall()
    return [str(Damage(*row)) for row in rows]


def _dataset_damage(cat: Catalog) -> int:
    """Damaged ranges counted by manifests written before the ranges were kept."""
    from knox_analytics.inputs import discover
    from knox_analytics.store import load_manifest

    total = 0
    for item in discover(cat.inputs).datasets:
        manifest = load_manifest(Path(item.path))
        total += sum(s.damaged for s in manifest.sources if not s.damage) if manifest else 0
    return total


def render(s: Summary) -> str:
    """The summary as one screen of text."""
    if not s.records:
        lines = ["no records"]
        lines += [f"damaged: {d}" for d in s.damaged]
        return "\n".join(lines) + "\n"
    lines = [f"records   {s.records:,}   from {s.first} to {s.last} (UTC)",
             f"hosts     {_join(s.hosts)}",
             f"classes   {_join(s.classes)}",
             f"events    {_join(s.events)}",
             f"users     {_join(s.users)}",
             f"commands  {_join(s.commands) or '(no exec recorded)'}",
             f"failures  {s.failures:,}" + (
                 f": {', '.join(f'{e} {n} {c:,}' for e, n, c in s.failing)}"
                 if s.failing else "")]
    damage = len(s.damaged) + s.damaged_in_datasets
    lines.append(f"damaged   {damage} skipped byte range(s)" if damage else
                 "damaged   none")
    lines += [f"          {d}" for d in s.damaged[:TOP]]
    return "\n".join(lines) + "\n"


def _join(pairs: list[tuple[str, int]]) -> str:
    return ", ".join(f"{k} {n:,}" for k, n in pairs)
