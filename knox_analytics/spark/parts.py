"""Write one task's decoded rows as part files of the dataset (inside a Spark task).

The files are exactly what :class:`knox_analytics.store.DatasetWriter` writes -- same
``host=…/date=…`` directories (:func:`split_by_partition`), written by the same
:func:`~knox_analytics.store.writer.write_part_file` -- so readers cannot tell which
engine converted a trail.
They are not committed until the driver lists them in the manifest: a failed job leaves
orphans that the next :class:`DatasetWriter` open removes.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from knox_analytics.store.partition import split_by_partition
from knox_analytics.store.writer import write_part_file


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
        write_part_file(Path(root) / key, name, pa.concat_tables(buckets[key]), compression)
        written.append(f"{key}/{name}")
    return written


def remove_parts(root: str, parts: list[str]) -> None:
    """Delete part files of a job that will not be committed."""
    for part in parts:
        (Path(root) / part).unlink(missing_ok=True)
