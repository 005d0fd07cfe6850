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

from knox_analytics.errors import UsageError
from knox_analytics.questions import Filters, filter_sql

#: The ``records`` view's definition over one decoded chunk (as the catalog defines it).
_CHUNK_RECORDS = ("(SELECT * REPLACE (COALESCE(host, 'unknown') AS host), "
                  "CAST(time AS DATE) AS date FROM _chunk) AS records")


def selected_keys(inputs: list[str], filters: Filters, users: str | None = None
                  ) -> dict[str, np.ndarray]:
    """source -> sorted byte offsets of the records the filters keep."""
    from knox_analytics.catalog import Catalog

    view = "activity" if filters.command else "records"
    with Catalog(inputs, users=users) as cat:
        where, params = filter_sql(cat, filters, view)
        table = cat.query(f'SELECT source, "offset" FROM {view} WHERE {where}', params)
    keys: dict[str, list[int]] = {}
    for source, offset in zip(table.column("source").to_pylist(),
                              table.column("offset").to_pylist(), strict=True):
        keys.setdefault(_norm(source), []).append(offset)
    return {s: np.sort(np.asarray(o, dtype=np.int64)) for s, o in keys.items()}


class RecordSelector:
    """The record-local filters applied to each decoded chunk as it arrives (stdin, a
    FIFO, a growing trail): the same SQL as on a dataset, over one chunk at a time, so a
    stream is filtered exactly as the file it would be.

    ``--command`` is refused: a record's command comes from its process's earlier execs,
    which a chunk does not hold.
    """

    def __init__(self, filters: Filters, users: object = None, tables: str = "auto") -> None:
        from knox_analytics.catalog import Catalog

        if not filters.record_local():
            raise UsageError("--command needs the records before it (each record's process): "
                             "give the trail or dataset as a file, or use knox commands -")
        self.filters = filters
        self.cat = Catalog(users=users, tables=tables)
        self.records = 0
        self.where, self.params = filter_sql(self.cat, filters, "records")

    def __call__(self, table: pa.Table) -> pa.Table:
        """The rows of ``table`` the filters select, in order."""
        self.records += table.num_rows
        con = self.cat.con
        con.register("_chunk", table.append_column(
            "_row", pa.array(np.arange(table.num_rows, dtype=np.int64))))
        try:
            rows = con.execute(f"SELECT _row FROM {_CHUNK_RECORDS} WHERE {self.where}",
                               self.params).fetchnumpy()["_row"]
        finally:
            con.unregister("_chunk")
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[np.asarray(rows, dtype=np.int64)] = True
        return table.filter(pa.array(mask))

    def select(self, tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
        """The selected rows of every chunk (empty chunks dropped)."""
        for table in tables:
            kept = self(table)
            if kept.num_rows:
                yield kept

    def close(self) -> None:
        """Release the lookup database."""
        self.cat.close()


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
