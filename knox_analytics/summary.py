"""``knox summary``: what a trail or dataset holds, on one screen.

The first thing to run on unknown data: its time range (and each host's), hosts, how many
records of each class and event, the top users (and groups) and commands, the calls that
fail most, and the byte ranges the decoder had to skip.  One :class:`Summary` (plain data,
JSON-ready; times UTC, :meth:`Summary.in_zone` writes them in another zone).  Over
datasets it adds up the statistics each part file carries (:mod:`knox_analytics.store.stats`):
a few kilobytes per part, whatever the number of records; over trails decoded in memory,
or when filters narrow the records, it runs a handful of DuckDB aggregates over the
catalog's views.  Both give the same answer.

    >>> with Catalog(["audit-parquet"]) as cat:             # doctest: +SKIP
    ...     summarize(cat).to_dict()["records"]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knox_analytics.bsm.damage import Damage

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog
    from knox_analytics.inputs import Given
    from knox_analytics.questions import Filters
    from knox_analytics.zones import Zone

#: Rows shown per list: enough to recognise the data, few enough for one screen.
TOP = 8


@dataclass
class Summary:
    """Counts that describe a trail or dataset (see the module text)."""

    records: int = 0
    first: str | None = None  # ISO 8601, UTC (in_zone: with the zone's offset)
    last: str | None = None
    hosts: list[tuple[str, int, str | None, str | None]] = field(
        default_factory=list)  # host, records, its first and last record
    classes: list[tuple[str, int]] = field(default_factory=list)
    events: list[tuple[str, int]] = field(default_factory=list)
    users: list[tuple[str, int]] = field(default_factory=list)
    groups: list[tuple[str, int]] | None = None  # effective groups (asked with --groups)
    commands: list[tuple[str, int]] = field(default_factory=list)
    failures: int = 0
    failing: list[tuple[str, str, int]] = field(default_factory=list)  # event, errno, n
    damaged: list[Damage] = field(default_factory=list)  # every skipped byte range
    damaged_in_datasets: int = 0  # ranges skipped when the datasets were converted
    zone: str = "UTC"  # the zone first/last are written in

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: lists of pairs become lists of objects (a damaged range is
        ``source``, ``offset``, ``length``, ``reason``, ``kind``)."""
        out = asdict(self)
        for name, keys in (("hosts", ("host", "records", "first", "last")),
                           ("classes", ("class", "records")),
                           ("events", ("event", "records")), ("users", ("user", "records")),
                           ("groups", ("group", "records")),
                           ("commands", ("command", "execs")),
                           ("failing", ("event", "errno", "failures"))):
            if out[name] is not None:
                out[name] = [dict(zip(keys, row, strict=True)) for row in out[name]]
        if out["groups"] is None:
            del out["groups"]
        return out

    def in_zone(self, zone: Zone) -> Summary:
        """The same summary with its times written in ``zone`` (ISO 8601 with offset)."""
        if zone.is_utc:
            return self
        def at(iso: str | None) -> str | None:
            if iso is None:
                return None
            when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
            return zone.wall(when).isoformat(timespec="milliseconds")
        return replace(self, first=at(self.first), last=at(self.last), zone=zone.name,
                       hosts=[(h, n, at(a), at(b)) for h, n, a, b in self.hosts])


def summarize(cat: Catalog, top: int = TOP, filters: Filters | None = None, *,
              groups: dict[int, str] | None = None) -> Summary:
    """The summary of everything the catalog's inputs hold (of the records ``filters``
    select): from the parts' statistics when the inputs are datasets and nothing is
    filtered, else by scanning the records.  ``groups`` (gid -> name, from --groups)
    adds the top effective groups (one column read)."""
    from knox_analytics.questions import Filters

    filters = filters if filters is not None else Filters()
    parts = dataset_parts(cat.inputs) if filters == Filters() else None
    s = (summarize_parts(cat, parts, top) if parts is not None
         else summarize_records(cat, top, filters))
    if groups is not None:
        where, params = _where(cat, filters, "events")
        s.groups = [(groups.get(g, str(g)) if g is not None else "?", int(n))
                    for g, n in cat.sql(f"SELECT egid, count(*) FROM events WHERE {where} "
                                        f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {int(top)}",
                                        params).fetchall()]
    return s


def _where(cat: Catalog, filters: Filters | None, view: str) -> tuple[str, list[Any]]:
    from knox_analytics.questions import Filters, filter_sql

    if filters is None or filters == Filters():
        return "TRUE", []
    return filter_sql(cat, filters, view)


def summarize_records(cat: Catalog, top: int = TOP, filters: Filters | None = None
                      ) -> Summary:
    """The summary computed by SQL over every record of the catalog (trails in memory),
    or over those ``filters`` select."""
    where, params = _where(cat, filters, "events")
    ev = f"(SELECT * FROM events WHERE {where})"
    cwhere, cparams = _where(cat, filters, "commands")
    total, first, last = cat.sql(
        f"SELECT count(*), {_ISO.format('min(time)')}, {_ISO.format('max(time)')} "
        f"FROM {ev}", params).fetchall()[0]
    s = Summary(records=int(total), first=first, last=last)
    if not total:
        s.damaged = _damage(cat)
        return s
    s.hosts = [(str(h), int(n), a, b) for h, n, a, b in cat.sql(
        f"SELECT host, count(*), {_ISO.format('min(time)')}, {_ISO.format('max(time)')} "
        f"FROM {ev} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {int(top)}", params).fetchall()]
    s.classes = _pairs(cat, "SELECT c, count(*) FROM (SELECT unnest(string_split("
                       f"COALESCE(event_classes, '-'), ',')) AS c FROM {ev}) "
                       "GROUP BY 1 ORDER BY 2 DESC, 1", top, params)
    s.events = _pairs(cat, "SELECT COALESCE(event_name, '#' || event), count(*) "
                      f"FROM {ev} GROUP BY 1 ORDER BY 2 DESC, 1", top, params)
    s.users = _pairs(cat, f'SELECT COALESCE("user", \'?\'), count(*) FROM {ev} '
                     'GROUP BY 1 ORDER BY 2 DESC, 1', top, params)
    s.commands = _pairs(cat, "SELECT COALESCE(command, '?'), count(*) FROM commands "
                        f"WHERE {cwhere} GROUP BY 1 ORDER BY 2 DESC, 1", top, cparams)
    s.failures = int(cat.sql(f"SELECT count(*) FROM {ev} WHERE NOT success", params
                             ).fetchall()[0][0])
    s.failing = [(str(e), str(n), int(c)) for e, n, c in cat.sql(
        "SELECT COALESCE(event_name, '#' || event), errno_name, count(*) "
        f"FROM {ev} WHERE NOT success "
        f"GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT {int(top)}", params).fetchall()]
    s.damaged = _damage(cat)
    s.damaged_in_datasets = _dataset_damage(cat)
    return s


_ISO = "strftime({}, '%Y-%m-%dT%H:%M:%S.%gZ')"


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
    spans: dict[str, list[int]] = {}
    each = []
    for root, part in parts:
        stats = read_stats(root, part, root / CACHE_DIR / CACHE_SUBDIR)
        host = part.split("/", 1)[0].removeprefix("host=")
        hosts[host] += stats["records"]
        if stats["time"] is not None:
            lo, hi = stats["time"]
            span = spans.setdefault(host, [lo, hi])
            span[:] = [min(span[0], lo), max(span[1], hi)]
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
    s.hosts = [(h, n, *((_iso_ms(spans[h][0]), _iso_ms(spans[h][1])) if h in spans
                        else (None, None))) for h, n in _top(hosts, top)]
    s.classes = _top(classes, top)
    s.events = _top(_tally((_event(e, name), n) for e, name, n in total["events"]), top)
    s.users = _top(_tally((names.get(u, str(u)) if u is not None else "?", n)
                          for u, n in total["uids"]), top)
    s.commands = _top(_tally((c if c is not None else "?", n)
                             for c, n in total["commands"]), top)
    # an errno the tables do not name is "errno N", as errno_label() in sql/01_constants.sql
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


def _pairs(cat: Catalog, sql: str, top: int, params: list[Any] | None = None
           ) -> list[tuple[str, int]]:
    return [(str(k), int(n)) for k, n in cat.sql(f"{sql} LIMIT {int(top)}",
                                                  params or None).fetchall()]


def _damage(cat: Catalog) -> list[Damage]:
    """Every damaged byte range: of the trails read now and kept with the datasets."""
    rows = cat.sql("SELECT source, \"offset\", length, reason, kind FROM damage").fetchall()
    return [Damage(*row) for row in rows]


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


def render(s: Summary, width: int | None = None) -> str:
    """The summary as one screen of text; lists longer than ``width`` columns are wrapped
    between their items, under their label (None: one line each, for a pipe)."""
    if not s.records:
        lines = ["no records"]
        lines += [f"damaged: {d}" for d in s.damaged]
        return "\n".join(lines) + "\n"
    lines = [_row("records", [f"{s.records:,}  ", f"from {s.first}", f"to {s.last} ({s.zone})"],
                  width, sep=" ")]
    if len(s.hosts) > 1:  # one host's range is the whole range
        lines += [_row("hosts" if i == 0 else "", [f"{h} {n:,}"]
                       + ([f"from {a}", f"to {b}"] if a is not None else []), width, sep=" ")
                  for i, (h, n, a, b) in enumerate(s.hosts)]
    else:
        lines.append(_row("hosts", [f"{h} {n:,}" for h, n, _a, _b in s.hosts], width))
    lines += [_row("classes", _items(s.classes), width),
              _row("events", _items(s.events), width),
              _row("users", _items(s.users), width)]
    note = _users_note(s.users)
    if note:
        lines.append(_row("", f"({note})".split(" "), width, sep=" "))
    if s.groups is not None:
        lines.append(_row("groups", _items(s.groups), width))
    lines += [_row("commands", _items(s.commands) or ["(no exec recorded)"], width),
              _row("failures", [f"{e} {n} {c:,}" for e, n, c in s.failing], width,
                   head=f"{s.failures:,}" + (": " if s.failing else ""))]
    damage = len(s.damaged) + s.damaged_in_datasets
    lines.append(f"damaged   {damage} skipped byte range(s)" if damage else
                 "damaged   none")
    lines += [f"          {d}" for d in s.damaged[:TOP]]
    if len(s.damaged) > TOP:
        lines.append(f"          ... and {len(s.damaged) - TOP} more (--format json "
                     "lists every range)")
    if s.damaged_in_datasets:
        lines.append(f"          {s.damaged_in_datasets} in datasets converted before "
                     "knox kept each range (convert them again to see where)")
    return "\n".join(lines) + "\n"


def _items(pairs: list[tuple[str, int]]) -> list[str]:
    return [f"{k} {n:,}" for k, n in pairs]


def _row(label: str, items: list[str], width: int | None, head: str = "",
         sep: str = ", ") -> str:
    """``label``, ``head``, then ``items`` joined by ``sep``, wrapped between items at
    ``width`` (an item longer than a line stays whole: a word is never cut)."""
    lines, line = [], f"{label:<10}{head}"
    for i, item in enumerate(items):
        glue = sep if i else ""
        room = len(glue) + len(item) + len(sep.rstrip())  # and the comma after it
        if width and len(line) > 10 and len(line) + room > width:
            lines.append(line + glue.rstrip())
            line = " " * 10 + item
        else:
            line += glue + item
    return "\n".join([*lines, line])


def _users_note(users: list[tuple[str, int]]) -> str | None:
    """What ``?`` and bare numbers in the users line mean, when they are there."""
    parts = []
    if any(u == "?" for u, _ in users):
        parts.append("?: records with no subject token, so no user")
    if any(u.isdigit() for u, _ in users):
        parts.append("numbers: uids with no name; give --users FILE (the audited "
                     "machine's passwd)")
    return "; ".join(parts) or None
