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
  manifest's commit log says where its records live on: the merged part takes its place,
  shared by the epochs its records came from (an epoch's records are those of its parts
  within its time range), bookkeeping only.

What is stored, per derivation, under ``<dir>/seg-<n>/`` (a *segment*; an epoch has one
or, once joined, several, in time order): the stored views' rows (``processes``: the
rows of instances the segment created or added to; a later segment's row replaces an
earlier one) and ``carry`` (the rows of the pids it changed; a pid's carry is its row in
the latest segment that has one).  Segments are merged into fewer, as a log-structured
store does, by an upkeep (:func:`update_derived <knox_analytics.catalog.update_derived>`:
``knox convert``, ``knox capture``'s thread); a question merges only past
:data:`MAX_SEGMENTS`.  ``state.json`` (replaced atomically; read without the lock when
nothing changed) lists the epochs, their parts (by name, size and mtime: parts are
immutable once committed), their time range and segments.  ``<dir>`` is
``ROOT/_knox_cache/derived-<key>`` (the underscore keeps it out of every hive reader) or,
for a dataset this user cannot write, a directory under ``$XDG_CACHE_HOME/knox-analytics``
(``~/.cache/knox-analytics``) named after the dataset's path.  ``key`` hashes what the
rows depend on besides the records: the SQL, the uid → name table, the lookup tables.
See docs/derived-state.md.

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
from knox_analytics.store.partition import NULL_VALUE as NULL_DATE

#: The views stored per epoch, and the carried state (file names ``<view>.parquet-cache``).
VIEWS = ("process_instances", "execs", "commands", "record_process", "processes")
CARRY = "carry"
STATE_NAME = "state.json"
STATE_FORMAT = 2  # 1: one segment per epoch (``segment``), read as a list of one
#: Segments no state names any more are removed once this old (a reader may still use them).
STALE_AFTER_S = 600.0

#: derive(parts, carry files of the epochs before, in order, output directory, after):
#: writes VIEWS and CARRY there, from the parts' records later than ``after`` (ms; None:
#: all of them; records without a time: all of them).  A carry file holds the rows of
#: the pids its epoch changed; a pid's carry is its row in the latest file that has one.
Derive = Callable[[list[Path], list[Path], Path, int | None], None]
#: merge(segments in time order, output directory): one segment holding all their rows.
Merge = Callable[[list[Path], Path], None]


@dataclass
class Epoch:
    """The records of ``parts`` that lie in [tmin, tmax] (ms: a part a compaction merged
    from several epochs is listed by each of them), derived into ``segments``: in time
    order, a later segment's row of an instance replacing an earlier one's, as between
    epochs (so consecutive epochs joined are one epoch, their segments kept)."""

    parts: list[str]
    stamps: list[str]
    tmin: int | None
    tmax: int | None
    segments: list[str]


@dataclass
class State:
    """What a derived directory holds, in time order."""

    key: str
    epochs: list[Epoch] = field(default_factory=list)

    def parts(self) -> dict[str, str]:
        """part -> stamp over every epoch."""
        return {p: s for e in self.epochs for p, s in zip(e.parts, e.stamps, strict=True)}

    def segments(self) -> list[str]:
        """Every epoch's segments, in time order."""
        return [s for e in self.epochs for s in e.segments]


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
    mine = _user_dir(root, key)
    try:
        mine.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(mine, os.W_OK):
        return None
    _drop_other_keys(mine)
    return mine


def _user_dir(root: Path, key: str) -> Path:
    """The user-cache place of the derived state of a dataset this user cannot write."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "knox-analytics"
    ident = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return base / f"{root.resolve().name}-{ident}" / f"derived-{key}"


def has_state(root: Path, key: str) -> bool:
    """Is a derived state of ``key`` kept for ``root`` (beside it or in the user cache)?
    Nothing is created."""
    return any((d / STATE_NAME).is_file()
               for d in (root / CACHE_DIR / f"derived-{key}", _user_dir(root, key)))


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
        if doc.get("format") not in (1, STATE_FORMAT) or doc.get("key") != key:
            return State(key)
        epochs = [e if "segments" in e else {**{k: v for k, v in e.items() if k != "segment"},
                                               "segments": [e["segment"]]}
                  for e in doc["epochs"]]
        return State(key, [Epoch(**e) for e in epochs])
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
def _locked(directory: Path, wait: bool = True) -> Iterator[bool]:
    """Hold the directory's lock (one process derives or books at a time); with
    ``wait=False`` yield False at once when another process holds it."""
    with open(directory / "lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
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
    state is up to date.  Epochs before the returned index stay as they are.  A
    compaction's parts are first booked to the epochs they came from (:func:`_compacted`).
    """
    state.epochs = _compacted(state.epochs, current, compacted)
    epochs = state.epochs
    known = state.parts()
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
    redo = list(dict.fromkeys(p for e in epochs[first:] for p in e.parts if p not in gone))
    return first, redo + [p for p in new if p not in redo]


def _compacted(epochs: list[Epoch], current: dict[str, str],
               compacted: Sequence[tuple[list[str], list[str]]]) -> list[Epoch]:
    """The epochs with each compaction's parts replaced by the parts that now hold their
    records: a change of bookkeeping only, nothing is derived or rewritten.

    A merged part whose records came from several epochs is **shared** by them: each
    epoch's records are those of its parts within its time range (epochs do not overlap
    in time), so a later derivation from one of them reads the shared part's records
    after the epoch before (``derive``'s ``after``), and the epochs stay as small as they
    were.  Records without a time (partition ``date=__HIVE_DEFAULT_PARTITION__``) have
    no range to tell them apart: a compaction there joins the epochs it spans (and any
    between them: consecutive epochs joined are one epoch whose rows are theirs)."""
    epochs = list(epochs)
    for removed, added in compacted:
        if not removed or any(p in current for p in removed) \
                or not all(a in current for a in added):
            continue
        where = sorted({i for p in removed for i, e in enumerate(epochs) if p in e.parts})
        if not all(any(p in e.parts for e in epochs) for p in removed):
            continue  # not all of them derived here: derive again
        if any(f"/date={NULL_DATE}/" in f"/{p}" for p in removed):
            lo, hi = where[0], where[-1] + 1
            epochs[lo:hi] = [_joined(epochs[lo:hi])]
            where = [lo]
        for i in where:
            epoch = epochs[i]
            parts = {p: s for p, s in zip(epoch.parts, epoch.stamps, strict=True)
                     if p not in removed}
            parts.update({a: current[a] for a in added})
            epochs[i] = Epoch(list(parts), list(parts.values()), epoch.tmin, epoch.tmax,
                              epoch.segments)
    return epochs


def _last_time(epochs: Sequence[Epoch]) -> int | None:
    """The latest record time of ``epochs`` (None: none, or none with a time)."""
    return max((e.tmax for e in epochs if e.tmax is not None), default=None)


def _joined(group: Sequence[Epoch]) -> Epoch:
    """Consecutive epochs as one: their parts (a shared part once), time range and
    segments, in order."""
    lows = [e.tmin for e in group if e.tmin is not None]
    highs = [e.tmax for e in group if e.tmax is not None]
    parts = {p: s for e in group for p, s in zip(e.parts, e.stamps, strict=True)}
    return Epoch(list(parts), list(parts.values()), min(lows, default=None),
                 max(highs, default=None), [s for e in group for s in e.segments])


# -- refresh -----------------------------------------------------------------------------
def refresh(root: Path, directory: Path, key: str, derive: Derive,
            merge: Merge | None = None, eager: bool = True) -> Refreshed:
    """Bring the derived state in ``directory`` up to date with the dataset at ``root``,
    deriving only what new or changed parts can change; the segments to read, in order.

    A state that is already up to date is read without taking the lock (``state.json``
    is replaced atomically and a segment it stops naming stays for ``STALE_AFTER_S``), so
    a question never waits behind another process's derivation or merge when nothing
    changed.  With ``merge``, segments are then merged (:func:`merge_plan`): ``eager``
    as a log-structured store does (an upkeep, ``update_derived``), else only beyond
    :data:`MAX_SEGMENTS` (a question: its time is the user's).
    """
    state, current, ranges, compacted = _look(root, directory, key)
    before = state.parts()
    first, parts = plan(state, current, ranges, compacted)
    if not parts and first == len(state.epochs):
        if state.parts() != before:  # compacted: the same records in other parts
            _save_if_free(directory, state, key)
    else:
        with _locked(directory):  # derive: one process at a time, the others then see it
            state, current, ranges, compacted = _look(root, directory, key)
            old = state.segments()
            first, parts = plan(state, current, ranges, compacted)
            if parts:
                carry = [directory / s / f"{CARRY}.parquet-cache"
                         for e in state.epochs[:first] for s in e.segments]
                # a part shared with the epochs kept (a compaction) holds their records too
                after = _last_time(state.epochs[:first])
                segment = _new_segment(directory)
                derive([root / p for p in parts], carry, directory / segment, after)
                lows = [r[0] for p in parts if (r := ranges(p))[0] is not None]
                highs = [r[1] for p in parts if (r := ranges(p))[1] is not None]
                low = min(lows, default=None)
                if low is not None and after is not None:
                    low = max(low, after + 1)
                epoch = Epoch(parts, [current[p] for p in parts], low,
                              max(highs, default=None), [segment])
                state.epochs = [*state.epochs[:first], epoch]
            elif first < len(state.epochs):  # parts vanished and nothing replaced them
                state.epochs = state.epochs[:first]
            _save(directory, state, old)
    if merge is not None:
        state = compact_segments(directory, key, merge, eager)
    _collect(directory, state)
    return Refreshed(directory, [directory / s for s in state.segments()], parts)


def _look(root: Path, directory: Path, key: str
          ) -> tuple[State, dict[str, str], Callable[[str], tuple[int | None, int | None]],
                     list[tuple[list[str], list[str]]]]:
    """The saved state, the dataset's parts now (part -> stamp), their time ranges (read
    when asked, once) and the manifest's compactions."""
    state = load_state(directory, key)
    current = {p: stamp(root, p) for p in committed_parts(root)}
    cache: dict[str, tuple[int | None, int | None]] = {}

    def ranges(part: str) -> tuple[int | None, int | None]:
        if part not in cache:
            cache[part] = time_range(root / part)
        return cache[part]

    return state, current, ranges, compactions(root)


def _save(directory: Path, state: State, before: Sequence[str]) -> None:
    """Save ``state`` (under the lock); the segments it no longer names are marked as let
    go now, so that :func:`_collect` leaves them to running readers for STALE_AFTER_S."""
    save_state(directory, state)
    now = set(state.segments())
    for segment in before:
        if segment not in now:
            with contextlib.suppress(OSError):
                os.utime(directory / segment)


def _save_if_free(directory: Path, state: State, key: str) -> None:
    """Save a relabelled state unless another process holds the lock (it will save one)."""
    with _locked(directory, wait=False) as held:
        if held and load_state(directory, key).segments() == state.segments():
            save_state(directory, state)


# -- merging segments ----------------------------------------------------------------------
#: More segments than this and a question merges some itself (each costs a read per
#: question); below it, merging is left to :func:`update_derived`-style upkeep.
MAX_SEGMENTS = 24


def merge_plan(sizes: Sequence[int], eager: bool = True) -> tuple[int, int]:
    """(lo, hi): merge segments[lo:hi] into one (lo == hi: nothing to merge).

    ``eager`` (an upkeep, not a question): the newest segments as a log-structured store
    merges them, the tail in which each segment is at most twice the size of all later
    ones together (a new segment at least half the size of the one before joins it, and
    so on), which keeps the count logarithmic.  Otherwise only when there are more than
    :data:`MAX_SEGMENTS`: the two neighbours of smallest combined size (a bounded cost)."""
    n = len(sizes)
    if eager and n > 1:
        first, total = n - 1, sizes[-1]
        for i in range(n - 2, -1, -1):
            if sizes[i] > 2 * total:
                break
            first, total = i, total + sizes[i]
        if first < n - 1:
            return first, n
    if n > MAX_SEGMENTS:
        i = min(range(n - 1), key=lambda k: sizes[k] + sizes[k + 1])
        return i, i + 2
    return n, n


def compact_segments(directory: Path, key: str, merge: Merge, eager: bool = True) -> State:
    """Merge segments as :func:`merge_plan` says until it says none; the state after.

    The newest epoch is left alone.  A merge runs without the lock (segments never
    change once written); the state takes the merged segment only if the merged ones are
    still there, consecutive, when the lock is taken again (another process may have
    merged or re-derived them meanwhile).
    """
    while True:
        state = load_state(directory, key)
        # not the newest epoch: the next derivation may start there again (its last
        # millisecond may go on in the next part, or a late record reach into it), and
        # it must stay as small as one derivation
        names = [s for e in state.epochs[:-1] for s in e.segments]
        lo, hi = merge_plan([_size(directory / s) for s in names], eager)
        if hi - lo < 2:
            return state
        group = names[lo:hi]
        segment = _new_segment(directory)
        merge([directory / s for s in group], directory / segment)
        with _locked(directory):
            state = load_state(directory, key)
            names = state.segments()
            if not _replace_segments(state, group, segment):
                shutil.rmtree(directory / segment, ignore_errors=True)
                return state
            _save(directory, state, names)


def _replace_segments(state: State, group: list[str], segment: str) -> bool:
    """Replace the consecutive segments ``group`` by ``segment``, which holds their rows;
    the epochs they belong to become one epoch.  False if ``group`` is not there."""
    names = state.segments()
    at = next((i for i in range(len(names)) if names[i:i + len(group)] == group), None)
    if at is None:
        return False
    lo = next(i for i, e in enumerate(state.epochs) if group[0] in e.segments)
    hi = next(i for i, e in enumerate(state.epochs) if group[-1] in e.segments) + 1
    joined = _joined(state.epochs[lo:hi])
    start = joined.segments.index(group[0])
    joined.segments[start:start + len(group)] = [segment]
    state.epochs[lo:hi] = [joined]
    return True


def _size(segment: Path) -> int:
    return sum(f.stat().st_size for f in segment.glob("*.parquet-cache"))


def _new_segment(directory: Path) -> str:
    """A fresh ``seg-<n>`` directory (mkdir decides between two processes)."""
    n = max((int(p.name[4:]) for p in directory.glob("seg-*") if p.name[4:].isdigit()),
            default=-1) + 1
    while True:
        try:
            (directory / f"seg-{n}").mkdir()
            return f"seg-{n}"
        except FileExistsError:
            n += 1


def _collect(directory: Path, state: State) -> None:
    """Remove segments no epoch names once they have been let go for STALE_AFTER_S (a
    reader that loaded an older state may still read them)."""
    live = set(state.segments())
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
