"""The pure planner of derived state: which epochs to derive again, how to cut new
records into epochs of bounded size, which segments to merge.  No I/O: the state and the
dataset's parts (with their time ranges) are given.

An **epoch** is a time range ``(lo, hi]`` of records (ms; ``tmin = lo + 1``), derived
from the records of its parts in that range plus the carry of the epoch before.  Its
parts are only a record of what was read: a compaction replaces them by the part that
now holds their records (bookkeeping), because the range, not the part list, says which
records an epoch holds.  Records without a time belong to the newest epoch of the
derivation that read their part (the as-of joins place none of them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from knox_analytics.store.partition import NULL_VALUE

#: Records of one epoch at most (an estimate from the parts' time ranges): what one
#: derivation holds in memory is proportional to it.
EPOCH_RECORDS = 1_000_000
#: An epoch never spans more than one UTC day.
DAY_MS = 86_400_000

#: Parts of records without a time live in partitions of this name.
NULL_KEY = f"/date={NULL_VALUE}/"
#: part -> (first time, last time, records); times in ms, None: no record has a time.
Ranges = Callable[[str], tuple[int | None, int | None, int]]


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


def machines_moved(old: dict[str, str] | None, new: dict[str, str] | None) -> bool:
    """Did a host already derived change machine (two machines found to be one: their
    instance keys and pid scopes change, so every epoch is derived again)?  A host new
    to the dataset is a new machine or joins one: no derived row changes."""
    if old is None or new is None:
        return (old is None) != (new is None)
    return any(new.get(host) != name for host, name in old.items())


@dataclass
class State:
    """What a derived directory holds, in time order."""

    key: str
    epochs: list[Epoch] = field(default_factory=list)
    #: the machine names the epochs were derived with (host key -> machine,
    #: :mod:`knox_analytics.store.machines`; None: every record one machine)
    machines: dict[str, str] | None = None

    def parts(self) -> dict[str, str]:
        """part -> stamp over every epoch."""
        return {p: s for e in self.epochs for p, s in zip(e.parts, e.stamps, strict=True)}

    def segments(self) -> list[str]:
        """Every epoch's segments, in time order."""
        return [s for e in self.epochs for s in e.segments]


def plan(state: State, current: dict[str, str], ranges: Ranges,
         compacted: Sequence[tuple[list[str], list[str]]] = (),
         null_key: str = NULL_KEY) -> tuple[int, list[str]]:
    """(first epoch to re-derive, parts the epochs that replace it and the rest read).

    ``current``: part -> stamp of the dataset now.  Returns (len(epochs), []) when the
    state is up to date.  Epochs before the returned index stay as they are.  A
    compaction's parts are first booked to the epochs they came from (:func:`compacted`;
    ``null_key`` marks the parts of records without a time).
    """
    state.epochs = compacted_epochs(state.epochs, current, compacted, null_key)
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


def cut(parts: Sequence[str], ranges: Ranges, after: int | None,
        limit: int | None = None) -> list[tuple[list[str], int | None, int | None]]:
    """The records of ``parts`` later than ``after`` as consecutive epochs of at most
    ``limit`` records (estimated: a part's records spread evenly over its time range)
    and one UTC day each: ``(parts read, tmin, tmax)`` in time order.  Records without a
    time go with the last epoch (so do parts that have none with a time)."""
    limit = limit or EPOCH_RECORDS
    timed = {p: r for p in parts if (r := ranges(p))[0] is not None}
    untimed = [p for p in parts if p not in timed]
    if not timed:
        return [(list(parts), None, None)] if parts else []
    lo = min(r[0] for r in timed.values())  # type: ignore[type-var]
    if after is not None:
        lo = max(lo, after + 1)
    hi = max(r[1] for r in timed.values())  # type: ignore[type-var]
    bounds = sorted({b for r in timed.values() for b in (r[0], r[1])
                     if b is not None and lo <= b <= hi})
    edges = _edges(timed, lo, hi, limit, bounds)
    out = []
    for a, b in zip([lo, *[e + 1 for e in edges]], [*edges, hi], strict=True):
        read = [p for p, r in timed.items() if r[0] <= b and r[1] >= a]  # type: ignore[operator]
        out.append((read, a, b))
    out[-1][0].extend(untimed)
    return out


def records(pieces: Sequence[tuple[list[str], int | None, int | None]], ranges: Ranges
            ) -> list[int]:
    """The records of each epoch :func:`cut` made, estimated as it estimates them (a
    part's records spread evenly over its time range; records without a time, and parts
    without one, in the last epoch): what a progress display counts."""
    out = []
    for n, (read, tmin, tmax) in enumerate(pieces):
        total = 0.0
        for part in read:
            t0, t1, rows = ranges(part)
            if t0 is None or t1 is None or tmin is None or tmax is None:
                total += rows if n == len(pieces) - 1 else 0
                continue
            x, y = max(tmin, t0), min(tmax, t1)
            if x <= y:
                total += rows * (y - x + 1) / (t1 - t0 + 1)
        out.append(round(total))
    return out


def _edges(timed: dict[str, tuple[int | None, int | None, int]], lo: int, hi: int,
           limit: int, bounds: list[int]) -> list[int]:
    """The last ms of every epoch but the last one, cutting [lo, hi]."""
    def estimate(a: int, b: int) -> float:
        total = 0.0
        for t0, t1, n in timed.values():
            x, y = max(a, t0), min(b, t1)  # type: ignore[type-var]
            if x <= y:
                total += n * (y - x + 1) / (t1 - t0 + 1)  # type: ignore[operator]
        return total

    edges: list[int] = []
    start = lo
    while True:
        # days without a record are no epoch of their own: go on to the next record's
        first = min(t0 for t0, t1, _ in timed.values() if t1 >= start)  # type: ignore[operator,type-var]
        day_end = (max(start, first) // DAY_MS + 1) * DAY_MS - 1  # type: ignore[operator]
        end = min(hi, day_end)
        if estimate(start, end) > limit:
            # the largest end with at most ``limit`` records (the estimate grows with it)
            a, b = start, end
            while a < b:
                mid = (a + b + 1) // 2
                if estimate(start, mid) <= limit:
                    a = mid
                else:
                    b = mid - 1
            end = max(a, start)
        if end >= hi:
            return edges
        edges.append(end)
        start = end + 1


def compacted_epochs(epochs: list[Epoch], current: dict[str, str],
                     compacted: Sequence[tuple[list[str], list[str]]],
                     null_key: str = NULL_KEY) -> list[Epoch]:
    """The epochs with each compaction's parts replaced by the parts that now hold their
    records: a change of bookkeeping only, nothing is derived or rewritten.

    A merged part whose records came from several epochs is **shared** by them: each
    epoch's records are those of its parts within its time range (epochs do not overlap
    in time).  Records without a time (parts whose path holds ``null_key``) have no range
    to tell them apart: a compaction there joins the epochs it spans (and any between
    them: consecutive epochs joined are one epoch whose rows are theirs)."""
    epochs = list(epochs)
    for removed, added in compacted:
        if not removed or any(p in current for p in removed) \
                or not all(a in current for a in added):
            continue
        where = sorted({i for p in removed for i, e in enumerate(epochs) if p in e.parts})
        if not all(any(p in e.parts for e in epochs) for p in removed):
            continue  # not all of them derived here: derive again
        if null_key and any(null_key in f"/{p}" for p in removed):
            lo, hi = where[0], where[-1] + 1
            epochs[lo:hi] = [joined(epochs[lo:hi])]
            where = [lo]
        for i in where:
            epoch = epochs[i]
            parts = {p: s for p, s in zip(epoch.parts, epoch.stamps, strict=True)
                     if p not in removed}
            parts.update({a: current[a] for a in added})
            epochs[i] = Epoch(list(parts), list(parts.values()), epoch.tmin, epoch.tmax,
                              epoch.segments)
    return epochs


def last_time(epochs: Sequence[Epoch]) -> int | None:
    """The latest record time of ``epochs`` (None: none, or none with a time)."""
    return max((e.tmax for e in epochs if e.tmax is not None), default=None)


def joined(group: Sequence[Epoch]) -> Epoch:
    """Consecutive epochs as one: their parts (a shared part once), time range and
    segments, in order."""
    lows = [e.tmin for e in group if e.tmin is not None]
    highs = [e.tmax for e in group if e.tmax is not None]
    parts = {p: s for e in group for p, s in zip(e.parts, e.stamps, strict=True)}
    return Epoch(list(parts), list(parts.values()), min(lows, default=None),
                 max(highs, default=None), [s for e in group for s in e.segments])


def merge_plan(sizes: Sequence[int]) -> tuple[int, int]:
    """(lo, hi): merge segments[lo:hi] into one (lo == hi: nothing to merge).

    The one merge policy: the newest segments as a log-structured store merges them, the
    tail in which each segment is at most twice the size of all later ones together (a
    new segment at least half the size of the one before joins it, and so on), which
    keeps the count logarithmic in the dataset's age."""
    n = len(sizes)
    if n > 1:
        first, total = n - 1, sizes[-1]
        for i in range(n - 2, -1, -1):
            if sizes[i] > 2 * total:
                break
            first, total = i, total + sizes[i]
        if first < n - 1:
            return first, n
    return n, n


def replace_segments(state: State, group: list[str], segment: str) -> bool:
    """Replace the consecutive segments ``group`` by ``segment``, which holds their rows;
    the epochs they belong to become one epoch.  False if ``group`` is not there."""
    names = state.segments()
    at = next((i for i in range(len(names)) if names[i:i + len(group)] == group), None)
    if at is None:
        return False
    lo = next(i for i, e in enumerate(state.epochs) if group[0] in e.segments)
    hi = next(i for i, e in enumerate(state.epochs) if group[-1] in e.segments) + 1
    merged = joined(state.epochs[lo:hi])
    start = merged.segments.index(group[0])
    merged.segments[start:start + len(group)] = [segment]
    state.epochs[lo:hi] = [merged]
    return True
