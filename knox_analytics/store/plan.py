"""Decide what to convert from a trail: nothing, the bytes it grew by, or all of it."""

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
    ``reason`` says why in words; ``entry_id`` names the manifest entry it matched.
    """

    source: Path
    action: str
    start_offset: int
    size: int
    reason: str
    entry_id: str | None = None

    @property
    def needs_work(self) -> bool:
        """True unless the input can be skipped."""
        return self.action != SKIP


def _matches(path: Path, size: int, entry: SourceEntry) -> bool:
    """Does the trail at ``path`` start with the content the entry converted?"""
    if size < entry.end_offset or size < entry.head_len:
        return False
    if fp.hash_range(path, 0, entry.head_len) != entry.head_sha:
        return False
    start, stop = fp.tail_span(entry.end_offset)
    return fp.hash_range(path, start, stop) == entry.tail_sha


def _describe(path: Path, entry: SourceEntry, grown: int) -> str:
    renamed = str(path) not in entry.paths
    what = f"renamed from {entry.path}" if renamed else "already converted"
    if grown:
        return f"{what}; grew by {grown} bytes, converting from byte {entry.end_offset}"
    return what


def plan_source(path: Path, manifest: Manifest) -> SourcePlan:
    """Compare ``path`` with every manifest entry (by content, not by name)."""
    size = fp.content_size(path)
    for entry in manifest.sources:
        if not _matches(path, size, entry):
            continue
        grown = size - entry.end_offset
        action = RESUME if grown else SKIP
        return SourcePlan(path, action, entry.end_offset, size,
                          _describe(path, entry, grown), entry.id)
    return SourcePlan(path, FULL, 0, size, "new trail")


def new_entry(path: Path, *, end_offset: int, records: int, damaged: int,
              damage: Iterable[Damage] = ()) -> SourceEntry:
    """A manifest entry for a freshly converted trail."""
    head_len = fp.head_span(end_offset)
    head_sha = fp.hash_range(path, 0, head_len)
    tail_sha = fp.hash_range(path, *fp.tail_span(end_offset))
    return SourceEntry(
        id=hashlib.sha256(f"{head_sha}:{path}".encode()).hexdigest()[:16],
        paths=[str(path)], head_len=head_len, head_sha=head_sha, end_offset=end_offset,
        tail_sha=tail_sha, records=records, damaged=damaged, converted_at=_now(),
        damage=damage_log.entries(damage),
    )


def update_entry(entry: SourceEntry, path: Path, *, end_offset: int, records: int,
                 damaged: int, damage: Iterable[Damage] = (), start_offset: int = 0) -> None:
    """Extend an entry after a resumed conversion (the trail grew, maybe was renamed)
    that read it from ``start_offset``: its damage from there on is replaced."""
    if str(path) not in entry.paths:
        entry.paths.append(str(path))
    entry.head_len = fp.head_span(end_offset)
    entry.head_sha = fp.hash_range(path, 0, entry.head_len)
    entry.tail_sha = fp.hash_range(path, *fp.tail_span(end_offset))
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
