"""Write one task's decoded rows as part files of the dataset (inside a Spark task).

The files are exactly what :class:`knox_analytics.store.DatasetWriter` writes -- same
``host=…/date=…`` partitions (:func:`split_by_partition`), written by the same
:func:`~knox_analytics.store.writer.stage_part_file` -- so readers cannot tell which
engine converted a trail.  Tasks stage them under ``ROOT/_staging/``; the driver's
writer adopts them and commits them with the one protocol of :mod:`knox_analytics.store`
(a failed job leaves staged files that the next :class:`DatasetWriter` open removes).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from knox_analytics.store.partition import split_by_partition
from knox_analytics.store.parts import STAGED_SUFFIX, STAGING_DIR
from knox_analytics.store.writer import stage_part_file


def write_parts(root: str, tables: list[pa.Table], *, label: str | None, prefix: str,
                compression: str = "zstd") -> list[list[str]]:
    """Stage ``tables`` (exactly SCHEMA) as one part per partition under ``root``.

    Parts are named ``part-<prefix>-<n>.parquet``; returns ``[staged, final]`` path pairs
    relative to ``root`` (the manifest's spelling), for :meth:`DatasetWriter.adopt`.
    """
    buckets: dict[str, list[pa.Table]] = {}
    for table in tables:
        if table.num_rows:
            for key, part in split_by_partition(table, label).items():
                buckets.setdefault(key, []).append(part)
    written = []
    for n, key in enumerate(sorted(buckets)):
        name = f"part-{prefix}-{n:05d}.parquet"
        staged = f"{STAGING_DIR}/spark-{prefix}/{name}{STAGED_SUFFIX}"
        stage_part_file(Path(root) / staged, pa.concat_tables(buckets[key]), compression)
        written.append([staged, f"{key}/{name}"])
    return written


def remove_parts(root: str, parts: list[list[str]]) -> None:
    """Delete the staged files of a job that will not be committed."""
    for staged, _final in parts:
        (Path(root) / staged).unlink(missing_ok=True)
