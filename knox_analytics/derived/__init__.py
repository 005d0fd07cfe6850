"""Derived process state: the process views of a dataset, kept and extended as it grows.

One public object, :class:`DerivedState` (``exists``/``update``/``merge``/``segments``);
:mod:`.plan` is the pure planner (epochs as time ranges, bounded in size; which segments
to merge), :mod:`.build` derives and merges with the question SQL (``sql/*.sql`` plus
``sql/derived/*.sql``), :mod:`.files` keeps ``state.json`` and the segments,
:mod:`.upkeep` runs it beside ``knox capture``.  See docs/derived-state.md.
"""

from __future__ import annotations

from knox_analytics.derived.state import DerivedState, Progress, Settings, after_commit

__all__ = ["DerivedState", "Progress", "Settings", "after_commit"]
