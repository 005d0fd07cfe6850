"""Write one task's decoded rows as part files of the dataset (inside a Spark task).

The files are exactly what :class:`knox_analytics.store.DatasetWriter` writes -- same
``host=…/date=…`` directories (:func:`split_by_partition`), same Arrow schema with the
schema version in the file metadata, zstd, ``part-*.parquet`` names, written to a hidden
temporary name and renamed -- so readers cannot tell which engine converted a trail.
They are not committed until the driver lists them in the manifest: a failed job leaves
orphans that the next :class:`DatasetWriter` open removes.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from knox_analytics.schema import SCHEMA
from knox_analytics.store.partition import split_by_partition
from knox_analytics.store.writer import FILE_METADATA

ROW_GROUP_ROWS = 256_000  # as DatasetWriter


def write_parts(root: str, tables: list[pa.Table], *, label: str | None, prefix: str,
                compression: str = "zstd") -> list[str]:
    """Write ``tables`` (exactly SCHEMA) into their partitions under ``root``.

    One file per partition, named ``part-<prefix>-<n>.parquet``; returns their paths
    relative to ``root`` (the manifest's spelling).
    """
    buckets: dict[str, list[pa.Table]] = {}
    for table in tables:
        if table.num_rows:
            for key, part in split_by_partition(table, label).items():
                buckets.setdefault(key, []).append(part)
    written = []
    for n, key in enumerate(sorted(buckets)):
        name = f"part-{prefix}-{n:05d}.parquet"
        _write_one(Path(root) / key, name, pa.concat_tables(buckets[key]), compression)
        written.append(f"{key}/{name}")
    return written


def _write_one(directory: Path, name: str, table: pa.Table, compression: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # A retried or speculative attempt of the same task writes the same names: its own
    # temporary file, then an atomic rename of identical content.
    tmp = directory / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    table = table.replace_schema_metadata({**(SCHEMA.metadata or {}), **FILE_METADATA})
    pq.write_table(table, tmp, compression=compression, row_group_size=ROW_GROUP_ROWS)
    os.replace(tmp, directory / name)


def remove_parts(root: str, parts: list[str]) -> None:
    """Delete part files of a job that will not be committed."""
    for part in parts:
        (Path(root) / part).unlink(missing_ok=True)
