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


def plan_source(path: Path, manifest: Manifest) -> SourcePlan:
    """Compare ``path`` with every manifest entry by content: the entry whose whole
    converted prefix the input starts with (the longest) is continued."""
    entries = [e for e in manifest.sources if e.prefix_sha and e.end_offset > 0]
    if not entries:
        return SourcePlan(path, FULL, 0, fp.content_size(path), "new trail")
    if fp.is_compressed(path):  # one decompression: its size is only known at its end
        found = fp.scan(path, [e.head_len for e in entries], [e.end_offset for e in entries])
        candidates = [e for e in entries if found.heads.get(e.head_len) == e.head_sha]
    else:  # the first 64 KiB rule most entries out; read only as far as needed
        heads = fp.scan(path, [e.head_len for e in entries])
        candidates = [e for e in entries if heads.heads.get(e.head_len) == e.head_sha
                      and e.end_offset <= heads.size]
        if not candidates:
            return SourcePlan(path, FULL, 0, heads.size, "new trail")
        found = fp.scan(path, [], [e.end_offset for e in candidates])
    matches = [e for e in candidates if found.prefixes.get(e.end_offset) == e.prefix_sha]
    if not matches:
        return SourcePlan(path, FULL, 0, found.size, "new trail")
    entry = max(matches, key=lambda e: e.end_offset)
    grown = found.size - entry.end_offset
    return SourcePlan(path, RESUME if grown else SKIP, entry.end_offset, found.size,
                      _describe(path, entry, grown), entry.id)


def new_entry(path: Path, *, end_offset: int, records: int, damaged: int,
              damage: Iterable[Damage] = ()) -> SourceEntry:
    """A manifest entry for a freshly converted input."""
    head_len = fp.head_span(end_offset)
    sums = fp.scan(path, [head_len], [end_offset])
    head_sha = sums.heads.get(head_len, "")
    return SourceEntry(
        id=hashlib.sha256(f"{head_sha}:{path}:{_now()}".encode()).hexdigest()[:16],
        paths=[str(path)], head_len=head_len, head_sha=head_sha, end_offset=end_offset,
        prefix_sha=sums.prefixes.get(end_offset, ""), records=records, damaged=damaged,
        converted_at=_now(),
        damage=damage_log.entries(damage),
    )


def update_entry(entry: SourceEntry, path: Path, *, end_offset: int, records: int,
                 damaged: int, damage: Iterable[Damage] = (), start_offset: int = 0) -> None:
    """Extend an entry after a resumed conversion (the trail grew, maybe was renamed)
    that read it from ``start_offset``: its damage from there on is replaced."""
    if str(path) not in entry.paths:
        entry.paths.append(str(path))
    entry.head_len = fp.head_span(end_offset)
    sums = fp.scan(path, [entry.head_len], [end_offset])
    entry.head_sha = sums.heads.get(entry.head_len, "")
    entry.prefix_sha = sums.prefixes.get(end_offset, "")
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
