"""auditreduce's job: keep the records the question filters select, in trail order.

The filters mean exactly what they mean on the question commands (:class:`Filters`
over the ``records`` view, or ``activity`` when ``--command`` needs each record's
process), so ``knox print --user alice --event execve`` and ``knox events --user alice
--event execve`` select the same records.  The selection is a set of record keys: the
``record_id`` of a dataset's records (one dataset may hold two inputs with the same
name and offsets: ``current`` before and after rotation), ``source`` and ``offset`` for
records read from trails.  :func:`keep_selected` applies it to the decoded stream that
``knox print`` renders, so the printed text stays byte-identical to praudit's;
:func:`keep_whole` does it for the filters that need every record before (``--command``)
with each input decoded once.

    >>> keys = selected_keys(["trail.bsm"], Filters(events=("execve",)))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.errors import UsageError
from knox_analytics.inputs import Given, Input, Inputs
from knox_analytics.questions import Filters, filter_sql

if TYPE_CHECKING:
    from knox_analytics.catalog import ProgressDisplay

#: The ``records`` view's definition over one decoded chunk (as the catalog defines it).
_CHUNK_RECORDS = ("(SELECT * REPLACE (COALESCE(host, 'unknown') AS host), "
                  "CAST(time AS DATE) AS date FROM _chunk) AS records")


@dataclass
class Selection:
    """The records a question kept: dataset records by id, trail records by place."""

    ids: pa.Array = field(default_factory=lambda: pa.array([], pa.binary(16)))
    places: dict[str, np.ndarray] = field(default_factory=dict)  # source -> offsets


def selected_keys(inputs: Given, filters: Filters, users: str | None = None, *,
                  decoded: pa.Table | None = None,
                  derive_progress: ProgressDisplay | None = None) -> Selection:
    """The keys of the records the filters keep (``decoded``: records of trails decoded
    already, read with the inputs; ``derive_progress`` as for the catalog: ``--command``
    may derive a dataset's process state)."""
    from knox_analytics.catalog import Catalog
    from knox_analytics.known import check_filters

    view = "activity" if filters.command else "records"
    with Catalog(inputs, users=users, decoded=decoded,
                 derive_progress=derive_progress) as cat:
        check_filters(cat, filters)  # a misspelt event is usage (exit 2), not no output
        where, params = filter_sql(cat, filters, view)
        table = cat.query(f'SELECT source, "offset", record_id FROM {view} WHERE {where}',
                          params)
    ids = table.column("record_id")
    by_id = pc.is_valid(ids)
    places = table.filter(pc.invert(by_id))
    keys: dict[str, list[int]] = {}
    for source, offset in zip(places.column("source").to_pylist(),
                              places.column("offset").to_pylist(), strict=True):
        keys.setdefault(_norm(source), []).append(offset)
    return Selection(ids.filter(by_id).combine_chunks().cast(pa.binary(16)),
                     {s: np.sort(np.asarray(o, dtype=np.int64)) for s, o in keys.items()})


def keep_whole(inputs: Inputs, read: Callable[[Input], Iterable[pa.Table]],
               filters: Filters, users: object = None,
               derive_progress: ProgressDisplay | None = None) -> Iterator[pa.Table]:
    """The tables of every input (``read`` gives one input's) that ``filters`` select,
    in input order, for filters that need the records before each one (``--command``: a
    record's process).  The trails are decoded once, held, asked about and then given
    out; datasets are asked about where they are, then read in input order."""
    trail_kinds = ("trail", "stdin")
    held = [list(read(i)) if i.kind in trail_kinds else None for i in inputs.items]
    decoded = [t for chunks in held if chunks for t in chunks]
    rest = Inputs([i for i in inputs.items if i.kind not in trail_kinds], sniffed=True)
    keys = selected_keys(rest, filters, users, decoded=pa.concat_tables(decoded)
                         if decoded else None, derive_progress=derive_progress)
    for item, chunks in zip(inputs.items, held, strict=True):
        yield from keep_selected(read(item) if chunks is None else chunks, keys)


def records_by_id(ids: Iterable[bytes]) -> Selection:
    """A selection naming records by id (``knox print --records``)."""
    return Selection(ids=pa.array(list(ids), pa.binary(16)))


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
        from knox_analytics.known import check_filters

        self.filters = filters
        self.cat = Catalog(users=users, tables=tables)
        check_filters(self.cat, filters)  # a misspelt event is usage (exit 2), not no output
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


def keep_selected(tables: Iterable[pa.Table], keys: Selection) -> Iterator[pa.Table]:
    """The rows of each table that ``keys`` selects."""
    empty = np.empty(0, dtype=np.int64)
    for table in tables:
        ids = table.column("record_id")
        mask = pc.fill_null(pc.is_in(ids, value_set=keys.ids), False) \
            .to_numpy(zero_copy_only=False).copy()
        if keys.places:
            sources = table.column("source").to_pylist()
            offsets = table.column("offset").to_numpy(zero_copy_only=False).astype(np.int64)
            by_place = pc.is_null(ids).to_numpy(zero_copy_only=False)
            for source in set(sources):
                mine = pc.equal(table.column("source").cast(pa.string()), source)
                mine = mine.to_numpy(zero_copy_only=False) & by_place
                mask |= mine & np.isin(offsets, keys.places.get(_norm(source), empty))
        if mask.any():
            yield table.filter(pa.array(mask))


def _norm(source: str | None) -> str:
    # The catalog names a trail as its Path, print as typed ("./x" vs "x"): compare both
    # as normalised paths.
    return str(Path(source)) if source else ""
