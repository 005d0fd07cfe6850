"""Where a record lands: ``host=<host>/date=<YYYY-MM-DD>`` (hive partitioning).

The partition key ``host`` shadows the record column of the same name in every hive
reader (DuckDB, polars, pyarrow), so its value must be the record's host whenever the
record has one: the header_ex address (column ``host``) when recorded, else the
``--host`` label, else ``unknown``.  The record column itself is stored unchanged; a
header32 record (no address) is told apart by ``header_token``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.errors import UsageError

UNKNOWN_HOST = "unknown"
#: Hive's spelling of a null partition value (a record without a time).
NULL_VALUE = "__HIVE_DEFAULT_PARTITION__"


def check_label(label: str) -> str:
    """Validate a ``--host`` label: it becomes a directory name."""
    if not label or "/" in label or "=" in label or label.startswith((".", "_")):
        raise UsageError(f"--host {label!r}: expected a plain name (no '/', '=', leading "
                         "'.' or '_')")
    return label


def partition_keys(table: pa.Table, label: str | None) -> pa.DictionaryArray:
    """``host=…/date=…`` per row of ``table``, dictionary-encoded.

    Dates are formatted once per distinct day, not once per row (strftime over millions
    of rows costs more than the whole Parquet write).
    """
    host = pc.fill_null(table.column("host"), label or UNKNOWN_HOST)
    # '/' cannot occur in an address; keep any odd byte out of the directory name anyway.
    host = pc.replace_substring(host, "/", "_")
    days = pc.dictionary_encode(pc.cast(table.column("time"), pa.date32())).combine_chunks()
    names = [NULL_VALUE if d is None else d.isoformat() for d in days.dictionary.to_pylist()]
    date = pc.take(pa.array(names, pa.string()), days.indices)
    date = pc.fill_null(date, NULL_VALUE)
    keys = pc.binary_join_element_wise("host=", host, "/date=", date, "")
    return pc.dictionary_encode(keys).combine_chunks()


def split_by_partition(table: pa.Table, label: str | None) -> dict[str, pa.Table]:
    """Split ``table`` into one table per partition directory (rows keep their order).

    The row numbers of every partition come from one stable sort (a filter per partition
    would rescan every nested column once per partition); each partition then takes just
    its rows.  Not slices of one sorted copy: a small partition waiting to be flushed
    would keep the whole copy alive, and memory would grow chunk after chunk.
    """
    keys = partition_keys(table, label)
    if len(keys.dictionary) == 1:
        return {keys.dictionary[0].as_py(): table}
    codes = keys.indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(keys.dictionary)))))
    return {key: table.take(pa.array(order[bounds[i]:bounds[i + 1]]))
            for i, key in enumerate(keys.dictionary.to_pylist()) if bounds[i + 1] > bounds[i]}
