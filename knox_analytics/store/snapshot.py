"""A reader's snapshot of a dataset: the part list of the manifest version it started
from, opened wherever those parts are now.

A compaction moves the parts it retires to ``_retired/<version>/`` (outside every hive
glob, so glob readers never see a record twice) and keeps them there for
:data:`RETIRED_GRACE_S`; its commit entry in the manifest says where.  So a question that
started before the compaction reads the same records to its end, and nothing is retried.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from knox_analytics.store.manifest import Manifest, load_manifest

#: Where a compaction moves the parts it retires: ``_retired/<version>/<part>``.
RETIRED_DIR = "_retired"
#: How long retired parts stay for the readers of older versions.
RETIRED_GRACE_S = 600.0


@dataclass
class Snapshot:
    """The parts of the manifest version read at :meth:`take` (none without a manifest)."""

    root: Path
    manifest: Manifest | None
    _ranges: dict[str, tuple[int | None, int | None, int]] = field(default_factory=dict)

    @classmethod
    def take(cls, root: Path) -> Snapshot:
        """The dataset at ``root`` as its manifest says now."""
        return cls(Path(root), load_manifest(Path(root)))

    @property
    def version(self) -> int:
        """The manifest version of the snapshot (0: nothing committed)."""
        return self.manifest.version if self.manifest is not None else 0

    @property
    def parts(self) -> list[str]:
        """The snapshot's parts (paths relative to the root)."""
        return list(self.manifest.parts) if self.manifest is not None else []

    def path(self, part: str) -> Path:
        """Where ``part`` is now: in its partition, or where the compaction that retired it
        (a later version, per the manifest as it is now) moved it."""
        here = self.root / part
        if here.exists():
            return here
        now = load_manifest(self.root)
        for commit in reversed(now.commits if now is not None else []):
            if commit.kind == "compact" and commit.retired and part in commit.removed:
                return self.root / commit.retired / part
        return here

    def stamps(self) -> dict[str, str]:
        """part -> its identity beyond its name (size and mtime: parts never change in
        place, and a move to ``_retired/`` keeps both)."""
        out = {}
        for part in self.parts:
            st = self.path(part).stat()
            out[part] = f"{st.st_size}:{st.st_mtime_ns}"
        return out

    def compactions(self) -> list[tuple[list[str], list[str]]]:
        """(removed, added) of every ``compact`` entry of the manifest's commit log (it
        keeps the recent versions only: a hint, an older compaction derives again)."""
        if self.manifest is None:
            return []
        return [(list(c.removed), list(c.added)) for c in self.manifest.commits
                if c.kind == "compact"]

    def time_range(self, part: str) -> tuple[int | None, int | None, int]:
        """(first, last record time in ms, records) of a part: recorded in the manifest
        at commit, else read from the part's Parquet statistics (older datasets)."""
        known = self.manifest.ranges.get(part) if self.manifest is not None else None
        if known is not None:
            lo, hi, rows = known
            return lo, hi, int(rows or 0)
        if part not in self._ranges:
            self._ranges[part] = part_range(self.path(part))
        return self._ranges[part]


def part_range(path: Path) -> tuple[int | None, int | None, int]:
    """(min, max record time in ms, rows) of a part file, from its Parquet statistics."""
    meta = pq.ParquetFile(path).metadata
    column = meta.schema.to_arrow_schema().get_field_index("time")
    lows, highs = [], []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        stats = group.column(column).statistics
        if stats is None or not stats.has_min_max:
            if group.num_rows and (stats is None or stats.null_count != group.num_rows):
                raise ValueError(f"{path}: no time statistics")
            continue
        lows.append(_ms(stats.min))
        highs.append(_ms(stats.max))
    return (min(lows) if lows else None, max(highs) if highs else None, meta.num_rows)


def _ms(value: object) -> int:
    if hasattr(value, "timestamp"):
        return round(value.timestamp() * 1000)  # type: ignore[attr-defined]
    return int(value)  # type: ignore[call-overload]


def drop_old_retired(root: Path, grace_s: float = RETIRED_GRACE_S) -> None:
    """Remove ``_retired/<version>/`` directories retired longer ago than ``grace_s``."""
    base = root / RETIRED_DIR
    if not base.is_dir():
        return
    now = time.time()
    for old in base.iterdir():
        try:
            if now - old.stat().st_mtime > grace_s:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
