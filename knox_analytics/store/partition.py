"""Where a record lands: ``host=<host>/date=<YYYY-MM-DD>`` (hive partitioning).

The partition key ``host`` shadows the record column of the same name in every hive
reader (DuckDB, polars, pyarrow), so its value must be the record's host whenever the
record has one: the header_ex address (column ``host``) when recorded, else the
``--host`` label, else ``unknown``.  The record column itself is stored unchanged; a
header32 record (no address) is told apart by ``header_token``.
"""

from __future__ import annotations

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


def partition_keys(table: pa.Table, label: str | None) -> pa.Array:
    """One ``host=…/date=…`` string per row of ``table``."""
    host = pc.fill_null(table.column("host"), label or UNKNOWN_HOST)
    date = pc.fill_null(pc.strftime(table.column("time"), format="%Y-%m-%d"), NULL_VALUE)
    # '/' cannot occur in an address; keep any odd byte out of the directory name anyway.
    host = pc.replace_substring(host, "/", "_")
    return pc.binary_join_element_wise("host=" , host, "/date=", date, "")


def split_by_partition(table: pa.Table, label: str | None) -> dict[str, pa.Table]:
    """Split ``table`` into one table per partition directory (rows keep their order)."""
    keys = pc.dictionary_encode(partition_keys(table, label)).combine_chunks()
    if len(keys.dictionary) == 1:
        return {keys.dictionary[0].as_py(): table}
    out = {}
    for code, key in enumerate(keys.dictionary.to_pylist()):
        out[key] = table.filter(pc.equal(keys.indices, code))
    return out
