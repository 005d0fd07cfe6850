"""``knox summary``: what a trail or dataset holds, on one screen.

The first thing to run on unknown data: its time range, hosts, how many records of each
class and event, the top users and commands, the calls that fail most, and the byte
ranges the decoder had to skip.  One :class:`Summary` (plain data, JSON-ready).  Over
datasets it adds up the statistics each part file carries (:mod:`knox_analytics.store.stats`):
a few kilobytes per part, whatever the number of records; over trails decoded in memory it
runs a handful of DuckDB aggregates over the catalog's views.  Both give the same answer.

    >>> with Catalog(["audit-parquet"]) as cat:             # doctest: +SKIP
    ...     summarize(cat).to_dict()["records"]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog
    from knox_analytics.inputs import Given

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
    """The summary of everything the catalog's inputs hold: from the parts' statistics
    when the inputs are datasets, else by scanning the records."""
    parts = dataset_parts(cat.inputs)
    if parts is not None:
        return summarize_parts(cat, parts, top)
    return summarize_records(cat, top)


def summarize_records(cat: Catalog, top: int = TOP) -> Summary:
    """The summary computed by SQL over every record of the catalog (trails in memory)."""
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


def dataset_parts(inputs: Given) -> list[tuple[Path, str]] | None:
    """``(dataset root, part)`` for every committed part of the inputs, or None when an
    input is not a dataset (a trail read in memory has no statistics)."""
    from knox_analytics.inputs import discover
    from knox_analytics.store import PART_GLOB, load_manifest

    datasets, trails = discover(inputs, sniff=True).for_catalog()
    if trails:
        return None
    out = []
    for root in datasets:
        manifest = load_manifest(root)
        names = (manifest.parts if manifest is not None else
                 sorted(p.relative_to(root).as_posix() for p in root.glob(PART_GLOB)))
        out += [(root, name) for name in names]
    return out


def summarize_parts(cat: Catalog, parts: list[tuple[Path, str]], top: int = TOP) -> Summary:
    """The summary added up from the statistics of ``parts`` (a part written before
    statistics existed is counted once and its counts kept in the dataset's cache)."""
    from knox_analytics.store.cache import CACHE_DIR
    from knox_analytics.store.stats import CACHE_SUBDIR, merge_stats, read_stats

    hosts: Counter = Counter()
    each = []
    for root, part in parts:
        stats = read_stats(root, part, root / CACHE_DIR / CACHE_SUBDIR)
        hosts[part.split("/", 1)[0].removeprefix("host=")] += stats["records"]
        each.append(stats)
    total = merge_stats(each)
    s = Summary(records=total["records"])
    s.damaged = _damage(cat)  # the ranges each manifest keeps (the trails may be gone)
    if not s.records:
        return s
    if total["time"] is not None:
        s.first, s.last = (_iso_ms(t) for t in total["time"])
    names = dict(cat.sql("SELECT uid, name FROM users").fetchall())
    classes: Counter = Counter()
    for text, n in total["classes"]:
        for name in (text if text is not None else "-").split(","):
            classes[name] += n
    s.hosts = _top(hosts, top)
    s.classes = _top(classes, top)
    s.events = _top(_tally((_event(e, name), n) for e, name, n in total["events"]), top)
    s.users = _top(_tally((names.get(u, str(u)) if u is not None else "?", n)
                          for u, n in total["uids"]), top)
    s.commands = _top(_tally((c if c is not None else "?", n)
                             for c, n in total["commands"]), top)
    failing = _tally(((_event(e, name), errno if errno is not None else
                       (None if code is None else f"errno {code}")), n)
                     for e, name, code, errno, n in total["failures"])
    s.failures = sum(failing.values())
    s.failing = [(str(e), str(x), n) for (e, x), n in sorted(
        failing.items(), key=lambda kv: (-kv[1], *(_order(k) for k in kv[0])))[:top]]
    s.damaged_in_datasets = _dataset_damage(cat)
    return s


def _event(number: int | None, name: str | None) -> str | None:
    """An event's label as the SQL gives it: COALESCE(event_name, '#' || event)."""
    return name if name is not None else (None if number is None else f"#{number}")


def _tally(rows: Any) -> Counter:
    out: Counter = Counter()
    for key, n in rows:
        out[key] += n
    return out


def _order(key: str | None) -> tuple[bool, str]:
    """SQL's ascending order: NULL last."""
    return (key is None, key or "")


def _top(counts: Counter, top: int) -> list[tuple[str, int]]:
    """The ``top`` largest counts, ties by name (as ``ORDER BY 2 DESC, 1``)."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], _order(kv[0])))
    return [(str(k), int(n)) for k, n in ranked[:top]]


def _iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as the SQL path prints them (%Y-%m-%dT%H:%M:%S.%gZ)."""
    t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _pairs(cat: Catalog, sql: str, top: int) -> list[tuple[str, int]]:
    return [(str(k), int(n)) for k, n in cat.sql(f"{sql} LIMIT {int(top)}").fetchall()]


def _damage(cat: Catalog) -> list[str]:
    """Every damaged byte range: of the trails read now and kept with the datasets."""
    from knox_analytics.bsm.damage import Damage

    rows = cat.sql("SELECT source, \"offset\", length, reason, kind FROM damage").fetchall()
    return [str(Damage(*row)) for row in rows]


def _dataset_damage(cat: Catalog) -> int:
    """Damaged ranges counted by manifests written before the ranges were kept (not
    those of the raw-trail cache: the catalog lists their ranges in full)."""
    from knox_analytics.rawcache import is_raw_entry
    from knox_analytics.store import load_manifest

    total = 0
    for item in cat.inputs.datasets:
        if is_raw_entry(Path(item.path)):
            continue
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
