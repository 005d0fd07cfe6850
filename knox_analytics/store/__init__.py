"""How decoded records land on disk: a hive-partitioned Parquet dataset + a manifest.

``DatasetWriter`` is the converter's sink; ``dataset_glob`` tells readers where the
records are.  Layout::

    ROOT/_knox_manifest.json                     converted inputs, part list
    ROOT/host=<host>/date=<YYYY-MM-DD>/part-<run>-<n>.parquet   (zstd)
"""

from __future__ import annotations

from pathlib import Path

from knox_analytics.store.manifest import MANIFEST_NAME, Manifest, SourceEntry, load_manifest
from knox_analytics.store.plan import FULL, RESUME, SKIP, SourcePlan
from knox_analytics.store.writer import PART_GLOB, DatasetWriter

__all__ = ["FULL", "MANIFEST_NAME", "PART_GLOB", "RESUME", "SKIP", "DatasetWriter",
           "Manifest", "SourceEntry", "SourcePlan", "dataset_glob",
           "load_manifest"]


def dataset_glob(root: Path) -> str:
    """The glob matching every committed part file of the dataset at ``root``.

    ``root`` is escaped (``[`` -> ``[[]``, ``*`` -> ``[*]``, as DuckDB's glob reads them):
    a dataset named ``br[1]`` must not fail, nor ``star*x`` read ``starAx`` beside it.
    """
    import glob

    return str(Path(glob.escape(str(root))) / PART_GLOB)
