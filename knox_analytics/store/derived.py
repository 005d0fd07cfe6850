"""Derived process state of a dataset, kept up to date in epochs of time.

The process views (``process_instances``, ``execs``, ``record_process``, ``processes``)
need every record of a process before a record can be attributed to it.  Instead of one
pass over the whole dataset per version, the dataset's parts are grouped in **epochs**:
time ranges that follow each other (an epoch's first record is later than the previous
epoch's last).  Each epoch is derived from its own records plus the *carry* of the epoch
before (``process_carry``: per pid its latest exit, start and instance, that instance's
command and its ``processes`` row so far), and leaves a carry for the next.  So:

* parts entirely later than everything derived form a new epoch: reading only them;
* parts that reach back into derived time (a trail of an earlier period converted later)
  re-derive from the first epoch they overlap, with every later epoch's parts;
* a part that disappeared re-derives its epoch, unless a ``compact`` entry of the
  manifest's commit log says its records live on in parts of the same epoch.

What is stored, per epoch, under ``<dir>/seg-<n>/``: the stored views' rows for that epoch
(``processes``: the rows of instances the epoch created or added to; a later epoch's row
replaces an earlier one) and ``carry`` (the rows of the pids the epoch changed; a pid's
carry is its row in the latest epoch that has one).  ``state.json`` (replaced atomically) lists the
epochs, their parts (by name, size and mtime: parts are immutable once committed), their
time range and segment.  ``<dir>`` is ``ROOT/_knox_cache/derived-<key>`` (the underscore
keeps it out of every hive reader) or, for a dataset this user cannot write, a directory
under ``$XDG_CACHE_HOME/knox-analytics`` (``~/.cache/knox-analytics``) named after the
dataset's path.  ``key`` hashes what the rows depend on besides the records: the SQL, the
uid → name table, the lookup tables.  See docs/derived-state.md.

This module only plans and books; the catalog (the DuckDB holder) derives an epoch
through the ``derive`` callback given to :func:`refresh`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from knox_analytics.store.cache import CACHE_DIR
from knox_analytics.store.manifest import load_manifest

#: The views stored per epoch, and the carried state (file names ``<view>.parquet-cache``).
VIEWS = ("process_instances", "execs", "commands", "record_process", "processes")
CARRY = "carry"
STATE_NAME = "state.json"
STATE_FORMAT = 1
#: Segments no state names any more are removed once this old (a reader may still use them).
STALE_AFTER_S = 600.0

#: derive(parts, carry files of the epochs before, in order, output directory): writes
#: VIEWS and CARRY there.  A carry file holds the rows of the pids its epoch changed; a
#: pid's carry is its row in the latest file that has one.
Derive = Callable[[list[Path], list[Path], Path], None]
#: merge(segments in time order, output directory): one segment holding all their rows.
Merge = Callable[[list[Path], Path], None]


@dataclass
class Epoch:
    """Parts whose records all lie in [tmin, tmax] (ms), derived into ``segment``."""

    parts: list[str]
    stamps: list[str]
    tmin: int | None
    tmax: int | None
    segment: str


@dataclass
class State:
    """What a derived directory holds, in time order."""

    key: str
    epochs: list[Epoch] = field(default_factory=list)

    def parts(self) -> dict[str, str]:
        """part -> stamp over every epoch."""
        return {p: s for e in self.epochs for p, s in zip(e.parts, e.stamps, strict=True)}


@dataclass(frozen=True)
class Refreshed:
    """The outcome of :func:`refresh`: where the segments are, and what was derived."""

    directory: Path
    segments: list[Path]
    derived_parts: list[str]  # parts read to bring the state up to date (empty: none)


# -- where -------------------------------------------------------------------------------
def derived_dir(root: Path, key: str) -> Path | None:
    """Where the derived state of ``root`` lives (created); None if nowhere is writable."""
    beside = root / CACHE_DIR / f"derived-{key}"
    if _can_write(root):
        try:
            beside.mkdir(parents=True, exist_ok=True)
            if os.access(beside, os.W_OK):
                _drop_other_keys(beside)
                return beside
        except OSError:
            pass
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "knox-analytics"
    ident = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    mine = base / f"{root.resolve().name}-{ident}" / f"derived-{key}"
    try:
        mine.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(mine, os.W_OK):
        return None
    _drop_other_keys(mine)
    return mine


def _can_write(root: Path) -> bool:
    if not os.access(root, os.W_OK):
        return False
    cache = root / CACHE_DIR
    return not cache.exists() or os.access(cache, os.W_OK)


def _drop_other_keys(directory: Path) -> None:
    for other in directory.parent.glob("*"):
        if other != directory and other.is_dir() and _older_than(other, STALE_AFTER_S):
            shutil.rmtree(other, ignore_errors=True)


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


# -- the state file ----------------------------------------------------------------------
def load_state(directory: Path, key: str) -> State:
    """The state in ``directory`` (an empty one if absent, unreadable or of another key)."""
    try:
        doc = json.loads((directory / STATE_NAME).read_text(encoding="utf-8"))
        if doc.get("format") != STATE_FORMAT or doc.get("key") != key:
            return State(key)
        return State(key, [Epoch(**e) for e in doc["epochs"]])
    except (OSError, ValueError, KeyError, TypeError):
        return State(key)


def save_state(directory: Path, state: State) -> None:
    """Replace ``state.json`` atomically (written after every file it names)."""
    tmp = directory / f".{STATE_NAME}.tmp"
    doc = {"format": STATE_FORMAT, "key": state.key,
           "epochs": [asdict(e) for e in state.epochs]}
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, directory / STATE_NAME)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / "lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- the dataset's side ------------------------------------------------------------------
def committed_parts(root: Path) -> list[str]:
    """The dataset's committed parts (the manifest's list)."""
    manifest = load_manifest(root)
    return list(manifest.parts) if manifest is not None else []


def compactions(root: Path) -> list[tuple[list[str], list[str]]]:
    """(removed, added) of every ``compact`` entry of the manifest's commit log (the
    manifest keeps its recent versions: an older compaction re-derives, it is not lost)."""
    manifest = load_manifest(root)
    if manifest is None:
        return []
    return [(list(c.removed), list(c.added)) for c in manifest.commits if c.kind == "compact"]


def stamp(root: Path, part: str) -> str:
    """A committed part's identity beyond its name: size and mtime (parts never change
    in place, so a part rewritten under the same name gets another stamp)."""
    st = (root / part).stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def time_range(path: Path) -> tuple[int | None, int | None]:
    """(min, max) record time of a part in epoch ms, from its Parquet statistics."""
    meta = pq.ParquetFile(path).metadata
    column = meta.schema.to_arrow_schema().get_field_index("time")
    lows, highs = [], []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(column).statistics
        if stats is None or not stats.has_min_max:
            if meta.row_group(g).num_rows and (stats is None or stats.null_count
                                               != meta.row_group(g).num_rows):
                raise ValueError(f"{path}: no time statistics")
            continue
        lows.append(_ms(stats.min))
        highs.append(_ms(stats.max))
    return (min(lows), max(highs)) if lows else (None, None)


def _ms(value: object) -> int:
    if hasattr(value, "timestamp"):
        return round(value.timestamp() * 1000)  # type: ignore[attr-defined]
    return int(value)  # type: ignore[call-overload]


# -- planning ----------------------------------------------------------------------------
def plan(state: State, current: dict[str, str],
         ranges: Callable[[str], tuple[int | None, int | None]],
         compacted: Sequence[tuple[list[str], list[str]]] = ()) -> tuple[int, list[str]]:
    """(first epoch to re-derive, parts of the new epoch that replaces it and the rest).

    ``current``: part -> stamp of the dataset now.  Returns (len(epochs), []) when the
    state is up to date.  Epochs before the returned index stay as they are.
    """
    epochs = [_relabel(e, current, compacted) for e in state.epochs]
    state.epochs = epochs
    known = {p: s for e in epochs for p, s in zip(e.parts, e.stamps, strict=True)}
    new = [p for p in current if known.get(p) != current[p]]
    gone = {p for p in known if current.get(p) != known[p]}
    first = len(epochs)
    for i, epoch in enumerate(epochs):
        if gone.intersection(epoch.parts):
            first = min(first, i)
            break
    low = min((t for p in new if (t := ranges(p)[0]) is not None), default=None)
    if low is not None:
        for i, epoch in enumerate(epochs):
            if epoch.tmax is not None and epoch.tmax >= low:
                first = min(first, i)
                break
    if first == len(epochs) and not new:
        return first, []
    redo = [p for e in epochs[first:] for p in e.parts if p not in gone]
    return first, redo + [p for p in new if p not in redo]


def _relabel(epoch: Epoch, current: dict[str, str],
             compacted: Sequence[tuple[list[str], list[str]]]) -> Epoch:
    """Replace parts a compaction rewrote by the parts that now hold their records, when
    every removed part of that compaction belonged to this epoch."""
    parts = dict(zip(epoch.parts, epoch.stamps, strict=True))
    for removed, added in compacted:
        if removed and all(p in parts and p not in current for p in removed) \
                and all(a in current for a in added):
            for p in removed:
                del parts[p]
            parts.update({a: current[a] for a in added})
    return Epoch(list(parts), list(parts.values()), epoch.tmin, epoch.tmax, epoch.segment)


# -- refresh -----------------------------------------------------------------------------
def refresh(root: Path, directory: Path, key: str, derive: Derive,
            merge: Merge | None = None) -> Refreshed:
    """Bring the derived state in ``directory`` up to date with the dataset at ``root``,
    deriving only what new or changed parts can change; the segments to read, in order.
    With ``merge``, a new epoch that is not much smaller than the one before is merged
    into it (as a log-structured merge does), so that a dataset that grows by small
    steps keeps a logarithmic number of segments."""
    with _locked(directory):
        state = load_state(directory, key)
        current = {p: stamp(root, p) for p in committed_parts(root)}
        cache: dict[str, tuple[int | None, int | None]] = {}

        def ranges(part: str) -> tuple[int | None, int | None]:
            if part not in cache:
                cache[part] = time_range(root / part)
            return cache[part]

        before = state.parts()
        compacted = compactions(root)
        if merge is not None:
            _merge_compacted(directory, state, current, compacted, merge)
        first, parts = plan(state, current, ranges, compacted)
        if parts:
            carry = [directory / e.segment / f"{CARRY}.parquet-cache"
                     for e in state.epochs[:first]]
            segment = _new_segment(directory, state)
            derive([root / p for p in parts], carry, directory / segment)
            lows = [r[0] for p in parts if (r := ranges(p))[0] is not None]
            highs = [r[1] for p in parts if (r := ranges(p))[1] is not None]
            epoch = Epoch(parts, [current[p] for p in parts], min(lows, default=None),
                          max(highs, default=None), segment)
            state.epochs = [*state.epochs[:first], epoch]
            if merge is not None:
                _merge_tail(directory, state, merge)
            save_state(directory, state)
        elif first < len(state.epochs):  # parts vanished and nothing replaced them
            state.epochs = state.epochs[:first]
            save_state(directory, state)
        elif state.parts() != before:  # compacted: the same records in other parts
            save_state(directory, state)
        _collect(directory, state)
        return Refreshed(directory, [directory / e.segment for e in state.epochs], parts)


def _merge_tail(directory: Path, state: State, merge: Merge) -> None:
    """Merge the last two epochs while the last is at least half the size of the one
    before (sizes: bytes of their segment files)."""
    while len(state.epochs) > 1:
        *_, before, last = state.epochs
        if 2 * _size(directory / last.segment) < _size(directory / before.segment):
            return
        _merge_epochs(directory, state, len(state.epochs) - 2, len(state.epochs), merge)


def _merge_compacted(directory: Path, state: State, current: dict[str, str],
                     compacted: Sequence[tuple[list[str], list[str]]], merge: Merge) -> None:
    """A compaction whose parts came from several epochs: merge those epochs (their
    derived rows, not their records) so that :func:`_relabel` can keep them."""
    for removed, added in compacted:
        if not removed or any(p in current for p in removed) \
                or not all(a in current for a in added):
            continue
        where = {i for i, e in enumerate(state.epochs) for p in removed if p in e.parts}
        found = sum(p in e.parts for e in state.epochs for p in removed)
        if len(where) > 1 and found == len(removed):
            _merge_epochs(directory, state, min(where), max(where) + 1, merge)


def _merge_epochs(directory: Path, state: State, lo: int, hi: int, merge: Merge) -> None:
    """Replace epochs[lo:hi] (consecutive) by one epoch whose segment holds their rows."""
    group = state.epochs[lo:hi]
    segment = _new_segment(directory, state)
    merge([directory / e.segment for e in group], directory / segment)
    lows = [e.tmin for e in group if e.tmin is not None]
    highs = [e.tmax for e in group if e.tmax is not None]
    state.epochs[lo:hi] = [Epoch([p for e in group for p in e.parts],
                                 [s for e in group for s in e.stamps],
                                 min(lows, default=None), max(highs, default=None), segment)]


def _size(segment: Path) -> int:
    return sum(f.stat().st_size for f in segment.glob("*.parquet-cache"))


def _new_segment(directory: Path, state: State) -> str:
    used = {e.segment for e in state.epochs} | {p.name for p in directory.glob("seg-*")}
    n = 0
    while f"seg-{n}" in used:
        n += 1
    (directory / f"seg-{n}").mkdir()
    return f"seg-{n}"


def _collect(directory: Path, state: State) -> None:
    """Remove segments no epoch names (once old enough that no reader still uses them)."""
    live = {e.segment for e in state.epochs}
    for seg in directory.glob("seg-*"):
        if seg.name not in live and _older_than(seg, STALE_AFTER_S):
            shutil.rmtree(seg, ignore_errors=True)


#: The pids whose carried state an epoch's records can read or change: the records' own,
#: the children their forks and spawns name (execs attributes a posix_spawn to its child).
CARRY_PIDS = """
SELECT pid FROM records WHERE pid IS NOT NULL
UNION
SELECT child_pid FROM process_starts WHERE child_pid IS NOT NULL
UNION
SELECT TRY_CAST(list_filter(args, lambda a: a.name = 'child PID')[1].value AS UINTEGER)
FROM records WHERE event_name = 'AUE_POSIX_SPAWN'
"""

#: The carry an epoch leaves (same columns as the ``process_carry`` view, 19_process_carry
#: .sql): per pid the latest instance among the carried and the new ones, with its
#: ``processes`` row (this epoch's when it added to the instance, else the carried one).
#: Only an instance later records can still reach keeps that row: one not known to have
#: ended, or whose pid's last start is not before its last exit (a fork and an exit in one
#: millisecond).  Of any other instance a later record of its pid starts a new instance
#: (process_instances), so its row is final: the carry keeps just what a child or a
#: reused pid needs (its key, start, parent, commands).
CARRY_OUT = """
WITH latest AS (
    SELECT * FROM instance_lookup WHERE pid IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY pid ORDER BY start_time DESC, carried) = 1
),
exits AS (
    SELECT pid, max(time) AS last_exit FROM (
        SELECT pid, time FROM records WHERE event_name = 'AUE_EXIT'
        UNION ALL SELECT pid, last_exit FROM process_carry) GROUP BY pid
),
born AS (
    SELECT pid, max(time) AS last_start FROM (
        SELECT child_pid AS pid, time FROM process_starts
        UNION ALL SELECT pid, last_start FROM process_carry) GROUP BY pid
),
oks AS (
    SELECT instance, max(time) AS ok_time, arg_max(command_path, time) AS ok_path
    FROM exec_successes GROUP BY instance
),
carry AS (
    SELECT
        l.pid, x.last_exit, b.last_start, l.instance, l.start_time, l.start_event, l.ppid,
        l.parent_instance, l.source, l."offset", ic.inherited_path, o.ok_time, o.ok_path,
        CASE WHEN p.instance IS NULL THEN c.execs ELSE p.execs END AS execs,
        CASE WHEN p.instance IS NULL THEN c.exit_time ELSE p.exit_time END AS exit_time,
        CASE WHEN p.instance IS NULL THEN c.exit_status ELSE p.exit_status END AS exit_status,
        CASE WHEN p.instance IS NULL THEN c.exit_return ELSE p.exit_return END AS exit_return,
        CASE WHEN p.instance IS NULL THEN c."user" ELSE p."user" END AS "user",
        CASE WHEN p.instance IS NULL THEN c.auid ELSE p.auid END AS auid,
        CASE WHEN p.instance IS NULL THEN c.euid ELSE p.euid END AS euid,
        CASE WHEN p.instance IS NULL THEN c.sid ELSE p.sid END AS sid,
        CASE WHEN p.instance IS NULL THEN c.records ELSE p.records END AS records,
        (l.start_event IS NULL AND (x.last_exit IS NULL OR l.start_time > x.last_exit))
        OR (b.last_start IS NOT NULL AND (x.last_exit IS NULL OR x.last_exit <= b.last_start))
            AS reachable
    FROM latest AS l
    LEFT JOIN exits AS x ON x.pid = l.pid
    LEFT JOIN born AS b ON b.pid = l.pid
    LEFT JOIN oks AS o ON o.instance = l.instance
    LEFT JOIN instance_commands AS ic ON ic.instance = l.instance
    LEFT JOIN processes AS p ON p.instance = l.instance
    LEFT JOIN process_carry AS c ON c.instance = l.instance
)
SELECT * EXCLUDE (reachable, execs, exit_time, exit_status, exit_return, "user", auid,
                  euid, sid, records),
    CASE WHEN reachable THEN execs END AS execs,
    CASE WHEN reachable THEN exit_time END AS exit_time,
    CASE WHEN reachable THEN exit_status END AS exit_status,
    CASE WHEN reachable THEN exit_return END AS exit_return,
    CASE WHEN reachable THEN "user" END AS "user",
    CASE WHEN reachable THEN auid END AS auid,
    CASE WHEN reachable THEN euid END AS euid,
    CASE WHEN reachable THEN sid END AS sid,
    CASE WHEN reachable THEN records END AS records
FROM carry
"""
