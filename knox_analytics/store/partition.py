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

    Hosts and days are encoded once each and their codes combined as numbers: the key
    text is formatted once per distinct (host, day), not once per row (string joins over
    millions of rows cost more than the whole Parquet write, and identity needs the keys
    of every chunk too).
    """
    fallback = label or UNKNOWN_HOST
    host_names, host_codes, n_hosts = _codes(table.column("host"))
    day_names, day_codes, n_days = _codes(pc.cast(table.column("time"), pa.date32()))
    # '/' cannot occur in an address; keep any odd byte out of the directory name anyway.
    hosts = [fallback if h is None else h.replace("/", "_") for h in host_names] + [fallback]
    dates = [NULL_VALUE if d is None else d.isoformat() for d in day_names] + [NULL_VALUE]
    combo = host_codes * n_days + day_codes
    lut = np.zeros(n_hosts * n_days, np.int32)
    names: dict[str, int] = {}  # a null host and its label are one key
    for c in np.flatnonzero(np.bincount(combo, minlength=n_hosts * n_days)).tolist():
        lut[c] = names.setdefault(f"host={hosts[c // n_days]}/date={dates[c % n_days]}",
                                  len(names))
    return pa.DictionaryArray.from_arrays(pa.array(lut[combo]), pa.array(list(names),
                                                                       pa.string()))


def _codes(column: pa.Array | pa.ChunkedArray) -> tuple[list, np.ndarray, int]:
    """Distinct values (as Python objects), each row's code (nulls: one more code) and
    how many codes there are."""
    enc = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(enc.type):
        enc = pc.dictionary_encode(enc)
    n = len(enc.dictionary)
    codes = enc.indices.fill_null(n).to_numpy(zero_copy_only=False).astype(np.int64)
    return enc.dictionary.to_pylist(), codes, n + 1


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
