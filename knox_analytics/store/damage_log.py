"""The byte ranges of each input the decoder could not use, kept with the dataset.

``knox convert`` lists them as it goes; the manifest keeps them per converted trail
(:attr:`SourceEntry.damage <knox_analytics.store.manifest.SourceEntry>`, offsets in that
trail), so ``knox summary`` and the ``damage`` view show them later, from the dataset
alone.  A trail converted again from ``start`` (it grew) had its bytes from ``start`` on
read again: the ranges found there before are replaced by what this reading found (a
record that was cut at the old end and is whole now is no longer damage), never added to.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from knox_analytics.bsm.damage import Damage

#: the ``damage`` view: one row per damaged byte range of every input
DAMAGE_SCHEMA = pa.schema([("source", pa.string()), ("offset", pa.int64()),
                           ("length", pa.int64()), ("reason", pa.string()),
                           ("kind", pa.string())])


def entries(damage: Iterable[Damage]) -> list[dict[str, Any]]:
    """Damage as the manifest keeps it (its source is the entry's trail)."""
    return [{"offset": d.offset, "length": d.length, "reason": d.reason, "kind": d.kind}
            for d in damage]


def reread(kept: Iterable[dict[str, Any]], start: int,
           damage: Iterable[Damage]) -> list[dict[str, Any]]:
    """The ranges of a trail read again from byte ``start``: those before it, then the new."""
    return [d for d in kept if d["offset"] < start] + entries(damage)


def damage_table(trails: Iterable[Damage], datasets: Iterable[Path]) -> pa.Table:
    """Rows of the ``damage`` view: the ranges of decoded trails, then those the
    datasets' manifests keep (under the trail's most recent path)."""
    from knox_analytics.store.manifest import load_manifest

    rows = [{"source": d.source, "offset": d.offset, "length": d.length, "reason": d.reason,
             "kind": d.kind} for d in trails]
    for root in datasets:
        manifest = load_manifest(Path(root))
        for entry in manifest.sources if manifest else ():
            rows += [{"source": entry.path, **d} for d in entry.damage]
    return pa.Table.from_pylist(rows, schema=DAMAGE_SCHEMA)
