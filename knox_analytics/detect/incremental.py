"""Incremental detection over a dataset: ``knox detect DATASET --new``.

    >>> run = detect_new("audit-parquet")                           # doctest: +SKIP
    >>> run.alerts.num_rows, len(run.new_parts)

Only the alerts no earlier ``--new`` run of the same rule set (and ``--min-level``)
reported over this dataset.  What is remembered, per dataset and rule set, in
``DATASET/_knox_cache/detect-new/<key>.json``:

- the dataset version and the part files examined (parts are immutable; a compaction that
  only merged examined parts makes an examined part, found through the manifest's commit
  log);
- the key of every alert reported: its rule and the ``record_id`` of each evidence record
  (record ids survive compaction).

A run reads the records of the parts not examined yet ("new"), and for each host the
rules see every row from the earliest new record's time minus the **look-back** on
(:func:`lookback_ms`: twice the longest chain of correlation windows), so a correlation
whose first events were examined before and whose last ones are new fires, and a host
converted late, whose records are older than everything examined, is examined whole.
Alerts earlier than their host's first new record (nothing new could change them) and
alerts reported before are dropped.  The process context the views join (instances,
parents, parent images, command lines) is that of every record, as in a full run.

So the alerts of successive ``--new`` runs are those of one full run over everything
(tested), except where a late record changes what an earlier alert was (then that alert
is reported again with its new evidence) and for a correlation whose condition one event
alone meets (``gte: 1``), which a full run reports once per group ever and an incremental
run once per run that has its group's new events.  With no record committed since the
last run nothing is read and nothing is reported.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from knox_analytics.detect.rules import RuleSet
from knox_analytics.detect.run import ALERT_SCHEMA, detect
from knox_analytics.engine import parquet_sql, sql_str
from knox_analytics.errors import InputError, UsageError
from knox_analytics.store.cache import CACHE_DIR, cache_key, can_write

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog
    from knox_analytics.store.manifest import Manifest

#: The folder of ``DATASET/_knox_cache`` holding one position file per rule set.
STATE_DIR = "detect-new"
STATE_FORMAT = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Position:
    """What the ``--new`` runs of one rule set have examined and reported."""

    version: int = 0
    parts: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)


@dataclass
class NewAlerts:
    """The outcome of an incremental run: ``alerts`` (:data:`ALERT_SCHEMA`), the parts
    examined for the first time, each host's earliest new record (ms), and the position
    to remember (:meth:`save`, once the alerts are delivered)."""

    alerts: pa.Table
    dataset: Path | None
    key: str
    new_parts: list[str]
    since: dict[str, int]
    position: Position | None
    saved: bool = False

    @property
    def state_file(self) -> Path | None:
        """Where the position is (or would be) kept."""
        return None if self.dataset is None else state_path(self.dataset, self.key)

    def save(self) -> str | None:
        """Remember the position (atomically); None when saved or nothing to save, else
        why not (a dataset this user cannot write: nothing is written)."""
        if self.position is None or self.dataset is None:
            return None
        from knox_analytics.store.safefs import make_dirs, protection_of_dataset, write_atomic

        root = self.dataset
        if not can_write(root):
            return f"{root} is not writable"
        data = json.dumps({"format": STATE_FORMAT, **asdict(self.position)},
                          separators=(",", ":")).encode()
        try:
            protection = protection_of_dataset(root)
            folder = make_dirs(root, f"{CACHE_DIR}/{STATE_DIR}", protection)
            write_atomic(folder / f"{self.key}.json", data, protection)
        except (OSError, InputError) as exc:
            return " ".join(str(exc).split())[:200]
        self.saved = True
        return None


def state_key(ruleset: RuleSet, min_level: str) -> str:
    """The position's key: the compiled rules' content (not where their files are) and
    the lowest level reported."""
    rules = [{k: v for k, v in asdict(r).items() if k != "path"} for r in ruleset.rules]
    return cache_key("detect-new", str(STATE_FORMAT), min_level,
                     json.dumps(rules, sort_keys=True))


def state_path(root: Path, key: str) -> Path:
    """``ROOT/_knox_cache/detect-new/<key>.json``."""
    return Path(root) / CACHE_DIR / STATE_DIR / f"{key}.json"


def load_position(root: Path, key: str) -> Position | None:
    """The position remembered for ``key`` (None: none, or unreadable: start afresh)."""
    try:
        doc = json.loads(state_path(root, key).read_text())
        if doc.get("format") != STATE_FORMAT:
            return None
        return Position(int(doc["version"]), list(doc["parts"]), list(doc["alerts"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def lookback_ms(ruleset: RuleSet) -> int:
    """Twice the longest chain of correlation windows (a correlation over another's
    alerts adds their windows): enough for every window and first-firing test of an
    alert at or after the first new record to be the full run's."""
    by_key = ruleset.by_key()
    memo: dict[str, int] = {}

    def chain(key: str) -> int:
        r = by_key.get(key)
        if r is None or not r.compiled or not r.correlation:
            return 0
        if key not in memo:
            memo[key] = 0  # a circle (refused at compile) ends here
            memo[key] = int(r.correlation["timespan_ms"]) + max(
                (chain(k) for k in r.correlation["rules"]), default=0)
        return memo[key]

    return 2 * max((chain(r.key) for r in ruleset.rules), default=0)


def examined(position: Position, manifest: Manifest) -> set[str]:
    """The parts whose records were examined: those of the position, and those of a
    later compaction that merged only examined parts."""
    seen = set(position.parts)
    for commit in manifest.commits:
        if (commit.version > position.version and commit.kind == "compact"
                and commit.removed and set(commit.removed) <= seen):
            seen |= set(commit.added)
    return seen


def alert_key(rule_id: str | None, evidence: list[dict[str, Any]] | None) -> str:
    """An alert's identity across runs: its rule and its evidence records (by record id,
    else source and offset)."""
    ids = sorted(e["record_id"] or f"{e['source']}@{e['offset']}" for e in evidence or [])
    return hashlib.sha256("\0".join([rule_id or "", *ids]).encode()).hexdigest()[:16]


def new_alerts(cat: Catalog, ruleset: RuleSet, *, min_level: str = "low") -> NewAlerts:
    """The alerts of ``ruleset`` over the one dataset ``cat`` reads that no earlier
    incremental run of the same rule set reported (see the module).  Nothing is saved:
    call :meth:`NewAlerts.save` once the alerts are delivered."""
    _, trails = cat.inputs.for_catalog()
    if trails or len(cat.inputs.datasets) != 1:
        raise UsageError("--new reads one dataset (a directory knox convert wrote): it "
                         "remembers what it examined there")
    key = state_key(ruleset, min_level)
    snaps = [s for s in cat.snapshots if s.manifest is not None]
    if not snaps:  # the dataset holds no records yet
        return NewAlerts(ALERT_SCHEMA.empty_table(), None, key, [], {}, None)
    snap = snaps[0]
    manifest = snap.manifest
    assert manifest is not None
    before = load_position(snap.root, key)
    seen = examined(before, manifest) if before is not None else set()
    new = [p for p in snap.parts if p not in seen]
    reported = set(before.alerts) if before is not None else set()
    since: dict[str, int] = {}
    if not new:
        alerts = ALERT_SCHEMA.empty_table()
    else:
        since = _first_times(cat, [str(snap.path(p)) for p in new])
        if before is None:  # nothing examined yet: everything is new
            alerts = detect(cat, ruleset, min_level=min_level)
        else:
            across = any(r.compiled and r.correlation and r.correlation.get("across_hosts")
                         for r in ruleset.rules)
            if across:  # one host's events may correlate with any other's
                floor = min(since.values(), default=0)
                since = {h: floor for h in since}
            alerts = detect(cat, ruleset, min_level=min_level,
                            scope=_scope(since, lookback_ms(ruleset), across))
            alerts = _unreported(alerts, since, reported, across)
    keys = [alert_key(r, e) for r, e in zip(alerts.column("rule_id").to_pylist(),
                                            alerts.column("evidence").to_pylist(),
                                            strict=True)]
    position = Position(snap.version, sorted(snap.parts), sorted(reported | set(keys)))
    if before is not None and not new and position == before:
        position = None  # nothing changed: nothing to write
    return NewAlerts(alerts, snap.root, key, new, since, position)


def detect_new(dataset: str | Path, ruleset: RuleSet | None = None, *,
               min_level: str = "low", users: Any = None, save: bool = True) -> NewAlerts:
    """The alerts of ``ruleset`` (the shipped pack when None) over the records committed
    to ``dataset`` since the last incremental run of that rule set, plus the look-back,
    that no earlier run reported; the position is then remembered (``save=False``: not).

        >>> run = detect_new("audit-parquet")                       # doctest: +SKIP
        >>> run.alerts.to_pandas()                   # only what is new since last time
        >>> detect_new("audit-parquet").alerts.num_rows             # doctest: +SKIP
        0

    ``users`` as for :class:`~knox_analytics.catalog.Catalog`; ``run.saved`` says whether
    the position was written (a read-only dataset: not, and the next run reports the
    same alerts again)."""
    from knox_analytics.catalog import Catalog
    from knox_analytics.detect.rules import load_ruleset

    rules = ruleset if ruleset is not None else load_ruleset()
    with Catalog([dataset], users=users) as cat:
        run = new_alerts(cat, rules, min_level=min_level)
    if save:
        run.save()
    return run


def _first_times(cat: Catalog, paths: list[str]) -> dict[str, int]:
    """host -> the earliest record time (ms) among the parts ``paths``."""
    rows = cat.con.execute(
        f"SELECT COALESCE(host, 'unknown'), epoch_ms(min(time)) FROM ({parquet_sql(paths)}) "
        "WHERE time IS NOT NULL GROUP BY 1").fetchall()
    return {str(h): int(t) for h, t in rows if t is not None}


def _ts(ms: int) -> str:
    return f"TIMESTAMPTZ '{(_EPOCH + timedelta(milliseconds=ms)).isoformat()}'"


def _scope(since: dict[str, int], lookback: int, across: bool) -> str:
    """The rows the rules read: each host's from its first new record minus the
    look-back (every host's from the earliest, when a rule correlates across hosts)."""
    if not since:
        return "false"
    floor = _ts(min(since.values()) - lookback)
    if across:
        return f"time >= {floor}"
    hosts = " OR ".join(f"(host = {sql_str(h)} AND time >= {_ts(t - lookback)})"
                        for h, t in sorted(since.items()))
    return f"time >= {floor} AND ({hosts})"


def _unreported(alerts: pa.Table, since: dict[str, int], reported: set[str],
                across: bool) -> pa.Table:
    """The alerts at or after their host's first new record, not reported before."""
    if not alerts.num_rows:
        return alerts
    floor = min(since.values())
    keep = []
    for row in zip(alerts.column("rule_id").to_pylist(), alerts.column("evidence").to_pylist(),
                   alerts.column("host").to_pylist(), alerts.column("time").to_pylist(),
                   strict=True):
        rule_id, evidence, host, at = row
        first = floor if across else since.get(host)
        fresh = at is None or (first is not None and
                               (at - _EPOCH) // timedelta(milliseconds=1) >= first)
        keep.append(fresh and alert_key(rule_id, evidence) not in reported)
    return alerts.filter(pa.array(keep, pa.bool_()))


__all__ = ["NewAlerts", "Position", "detect_new", "lookback_ms", "new_alerts", "state_key",
           "state_path"]
