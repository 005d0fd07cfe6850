"""auditreduce's job: keep the records the question filters select, in trail order.

The filters mean exactly what they mean on the question commands (:class:`Filters`
over the ``events`` view, or ``activity`` when ``--command`` needs each record's
process), so ``knox print --user alice --event execve`` and ``knox events --user alice
--event execve`` select the same records.  The selection is a set of record keys
(``source``, ``offset``); :func:`keep_selected` applies it to the decoded stream that
``knox print`` renders, so the printed text stays byte-identical to praudit's.

    >>> keys = selected_keys(["trail.bsm"], Filters(events=("execve",)))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.questions import Filters, view_columns


def selected_keys(inputs: list[str], filters: Filters, users: str | None = None
                  ) -> dict[str, np.ndarray]:
    """source -> sorted byte offsets of the records the filters keep."""
    from knox_analytics.catalog import Catalog
    from knox_analytics.known import check_filters

    view = "activity" if filters.command else "events"
    with Catalog(inputs, users=users) as cat:
        check_filters(cat, filters)  # a misspelt event is usage (exit 2), not no output
        where, params = filters.where(view_columns(cat, view), view)
        table = cat.query(f'SELECT source, "offset" FROM {view} WHERE {where}', params)
    keys: dict[str, list[int]] = {}
    for source, offset in zip(table.column("source").to_pylist(),
                              table.column("offset").to_pylist(), strict=True):
        keys.setdefault(_norm(source), []).append(offset)
    return {s: np.sort(np.asarray(o, dtype=np.int64)) for s, o in keys.items()}


def keep_selected(tables: Iterable[pa.Table], keys: dict[str, np.ndarray]
                  ) -> Iterator[pa.Table]:
    """The rows of each table whose (source, offset) is in ``keys``."""
    empty = np.empty(0, dtype=np.int64)
    for table in tables:
        sources = table.column("source").to_pylist()
        offsets = table.column("offset").to_numpy(zero_copy_only=False).astype(np.int64)
        mask = np.zeros(table.num_rows, dtype=bool)
        for source in set(sources):
            mine = pc.equal(table.column("source").cast(pa.string()), source)
            mine = mine.to_numpy(zero_copy_only=False)
            mask |= mine & np.isin(offsets, keys.get(_norm(source), empty))
        if mask.any():
            yield table.filter(pa.array(mask))


def _norm(source: str | None) -> str:
    # The catalog names a trail as its Path, print as typed ("./x" vs "x"): compare both
    # as normalised paths.
    return str(Path(source)) if source else ""
