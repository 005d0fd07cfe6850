"""Decide what to convert from an input: nothing, the bytes it grew by, or all of it.

Only a whole-content match skips reading: an input is skipped when its entire content
is what an earlier conversion read (the SHA-256 of that prefix, kept with the manifest
entry), and resumed where that conversion stopped when it starts with every byte the
conversion read.  Anything else is read whole, and record identity keeps only what the
dataset does not hold (:mod:`.identity`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from knox_analytics.bsm.damage import Damage
from knox_analytics.store import damage_log
from knox_analytics.store import fingerprint as fp
from knox_analytics.store.manifest import Manifest, SourceEntry

SKIP, RESUME, FULL = "skip", "resume", "full"


@dataclass(frozen=True)
class SourcePlan:
    """What to do with one input.

    ``action`` is ``"skip"`` (already converted, possibly under another name),
    ``"resume"`` (a trail that grew: decode from ``start_offset``) or ``"full"``.
    ``reason`` says why in words; ``entry_id`` names the manifest entry it continues.
    """

    source: Path
    action: str
    start_offset: int
    size: int
    reason: str
    entry_id: str | None = None
    #: A skipped input's damage past ``start_offset`` that an earlier conversion found
    #: in these same bytes and reported (a record cut at the end of a ``.crash_recovery``
    #: trail that never grew): said once more, not an error again.
    reported: tuple[Damage, ...] = ()

    @property
    def needs_work(self) -> bool:
        """True unless the input can be skipped."""
        return self.action != SKIP


def _describe(path: Path, entry: SourceEntry, grown: int) -> str:
    renamed = str(path) not in entry.paths
    what = f"renamed from {entry.path}" if renamed else "already converted"
    if grown:
        return f"{what}; grew by {grown} bytes, converting from byte {entry.end_offset}"
    return what


def plan_source(path: Path, manifest: Manifest, host: str | None = None) -> SourcePlan:
    """Compare ``path`` by content with every manifest entry (given a ``--host`` label,
    only those converted under it): the entry whose whole converted prefix the input
    starts with (the longest) is continued.  Unlabelled, a known file is known whatever
    label it was converted under; labelled for another machine, it is that machine's."""
    entries = [e for e in manifest.sources if e.prefix_sha and e.end_offset > 0
               and (host is None or e.host == host)]
    if not entries:
        return SourcePlan(path, FULL, 0, fp.content_size(path), "new trail")
    if fp.is_compressed(path):  # one decompression: its size is only known at its end
        found = fp.scan(path, [e.head_len for e in entries],
                        [n for e in entries for n in (e.end_offset, e.seen_size)])
        candidates = [e for e in entries if found.heads.get(e.head_len) == e.head_sha]
    else:  # the first 64 KiB rule most entries out; read only as far as needed
        heads = fp.scan(path, [e.head_len for e in entries])
        candidates = [e for e in entries if heads.heads.get(e.head_len) == e.head_sha
                      and e.end_offset <= heads.size]
        if not candidates:
            return SourcePlan(path, FULL, 0, heads.size, "new trail")
        found = fp.scan(path, [], [n for e in candidates for n in (e.end_offset, e.seen_size)
                                   if n <= heads.size])
    matches = [e for e in candidates if found.prefixes.get(e.end_offset) == e.prefix_sha]
    if not matches:
        return SourcePlan(path, FULL, 0, found.size, "new trail")
    entry = max(matches, key=lambda e: e.end_offset)
    grown = found.size - entry.end_offset
    if grown and entry.seen_size == found.size and entry.seen_sha \
            and found.prefixes.get(found.size) == entry.seen_sha:
        return _unchanged(path, entry, found.size)
    return SourcePlan(path, RESUME if grown else SKIP, entry.end_offset, found.size,
                      _describe(path, entry, grown), entry.id)


def _unchanged(path: Path, entry: SourceEntry, size: int) -> SourcePlan:
    """An input whose every byte the last conversion read, though it stopped short of its
    end (a record cut there, kept to be read whole if the trail grows): reading it again
    would find only the damage reported then."""
    tail = tuple(Damage(str(path), d["offset"], d["length"], d["reason"],
                        d.get("kind", "skipped"))
                 for d in entry.damage if d["offset"] >= entry.end_offset)
    reason = ("unchanged since it was converted; the damage at its end was reported then"
              if tail else "unchanged since it was converted")
    return SourcePlan(path, SKIP, entry.end_offset, size, reason, entry.id, tail)


def _seen(seen_size: int, end_offset: int) -> int:
    """The content size read, kept only when reading went past ``end_offset``."""
    return seen_size if seen_size > end_offset else 0


def new_entry(path: Path, *, end_offset: int, records: int, damaged: int,
              damage: Iterable[Damage] = (), seen_size: int = 0,
              host: str | None = None) -> SourceEntry:
    """A manifest entry for a freshly converted input (``seen_size``: how far it was
    read, when that is past ``end_offset``: see :attr:`SourceEntry.seen_sha`)."""
    head_len = fp.head_span(end_offset)
    seen_size = _seen(seen_size, end_offset)
    sums = fp.scan(path, [head_len], [end_offset, seen_size])
    head_sha = sums.heads.get(head_len, "")
    return SourceEntry(
        seen_size=seen_size, seen_sha=sums.prefixes.get(seen_size, "") if seen_size else "",
        id=hashlib.sha256(f"{head_sha}:{path}:{_now()}".encode()).hexdigest()[:16],
        paths=[str(path)], head_len=head_len, head_sha=head_sha, end_offset=end_offset,
        prefix_sha=sums.prefixes.get(end_offset, ""), records=records, damaged=damaged,
        converted_at=_now(),
        damage=damage_log.entries(damage), host=host or "",
    )


def update_entry(entry: SourceEntry, path: Path, *, end_offset: int, records: int,
                 damaged: int, damage: Iterable[Damage] = (), start_offset: int = 0,
                 seen_size: int = 0) -> None:
    """Extend an entry after a resumed conversion (the trail grew, maybe was renamed)
    that read it from ``start_offset``: its damage from there on is replaced."""
    if str(path) not in entry.paths:
        entry.paths.append(str(path))
    entry.head_len = fp.head_span(end_offset)
    entry.seen_size = _seen(seen_size, end_offset)
    sums = fp.scan(path, [entry.head_len], [end_offset, entry.seen_size])
    entry.head_sha = sums.heads.get(entry.head_len, "")
    entry.prefix_sha = sums.prefixes.get(end_offset, "")
    entry.seen_sha = sums.prefixes.get(entry.seen_size, "") if entry.seen_size else ""
    entry.end_offset = end_offset
    entry.records += records
    if entry.damage or not entry.damaged:  # ranges known: what was read again is replaced
        entry.damage = damage_log.reread(entry.damage, start_offset, damage)
        entry.damaged = len(entry.damage)
    else:  # a manifest from before the ranges were kept: only a count
        entry.damaged += damaged
    entry.conversions += 1
    entry.converted_at = _now()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
