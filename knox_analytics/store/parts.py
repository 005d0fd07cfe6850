"""Rows buffered per partition and written as staged part files (not yet committed).

The one place that decides when rows become a part file: :class:`DatasetWriter` buffers
through it, and so do the worker processes of ``knox convert --jobs`` (whose staged
parts the writer then adopts), so every part is cut and written the same way.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from knox_analytics.schema import SCHEMA, SCHEMA_VERSION
from knox_analytics.store.commit import fsync_file
from knox_analytics.store.partition import split_by_partition
from knox_analytics.store.safefs import private_dir
from knox_analytics.store.stats import STATS_KEY, encode, part_stats

#: In-memory (Arrow) bytes per partition before it is written as a part file.
PARTITION_FLUSH_BYTES = 48 << 20
#: In-memory bytes over all partitions before the largest one is flushed.  With a decoded
#: chunk in flight and Parquet's own buffers this keeps `knox convert` under 512 MiB.
TOTAL_FLUSH_BYTES = 96 << 20
#: Where parts wait for their commit: hidden from hive readers by the underscore, and
#: named ``*.staged`` so that no ``**/*.parquet`` glob finds them either.
STAGING_DIR = "_staging"
STAGED_SUFFIX = ".staged"
#: Dictionaries where values repeat (names, addresses); statistics on the columns people
#: filter by (row-group pruning).  Statistics and dictionaries on every nested column
#: cost a quarter of the write time for a few percent of file size.
WRITE_OPTIONS = {
    "compression_level": 1,
    "use_dictionary": ["source", "event_name", "event_classes", "errno_name", "host",
                       "tid_addr", "paths.list.element", "argv.list.element"],
    "write_statistics": ["offset", "event", "time", "auid", "euid", "ruid", "pid",
                         "return_errno", "success"],
}
ROW_GROUP_ROWS = 256_000
FILE_METADATA = {"knox_analytics.schema_version": str(SCHEMA_VERSION),
                 "knox_analytics.writer": "knox_analytics.store.DatasetWriter"}


class PartBuffer:
    """Buffer rows by partition; write full partitions as staged part files.

    ``staged`` lists ``(staged, final)`` paths relative to ``root`` for the commit;
    ``touched`` the partition keys written.
    """

    def __init__(self, root: Path, run: str, label: str | None, compression: str,
                 *, partition_bytes: int | None = None, total_bytes: int | None = None) -> None:
        self.root, self.run, self.label, self.compression = root, run, label, compression
        self.partition_bytes = partition_bytes or PARTITION_FLUSH_BYTES
        self.total_bytes = total_bytes or TOTAL_FLUSH_BYTES
        self.staged: list[tuple[str, str]] = []
        self.touched: set[str] = set()
        self.seq = 0
        self._tables: dict[str, list[pa.Table]] = {}
        self._bytes: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self._tables or self.staged)

    @property
    def directory(self) -> Path:
        """This run's staging directory (created on demand, 0700: pyarrow writes there
        by path)."""
        path = self.root / STAGING_DIR / self.run
        private_dir(path.parent)
        return private_dir(path)

    def next_name(self) -> str:
        self.seq += 1
        return f"part-{self.run}-{self.seq:05d}.parquet"

    def add(self, table: pa.Table) -> None:
        """Buffer rows (exactly the schema) into their partitions; flush what is full."""
        if table.num_rows == 0:
            return
        for key, part in split_by_partition(table, self.label).items():
            self._tables.setdefault(key, []).append(part)
            self._bytes[key] = self._bytes.get(key, 0) + part.nbytes
            if self._bytes[key] >= self.partition_bytes:
                self.flush(key)
        while sum(self._bytes.values()) >= self.total_bytes:
            self.flush(max(self._bytes, key=self._bytes.__getitem__))

    def flush(self, key: str) -> None:
        """Write one partition's buffered rows as a staged part file."""
        tables = self._tables.pop(key, [])
        self._bytes.pop(key, None)
        if not tables:
            return
        name = self.next_name()
        staged = self.directory / (name + STAGED_SUFFIX)
        stage_part_file(staged, pa.concat_tables(tables), self.compression)
        self.staged.append((staged.relative_to(self.root).as_posix(), f"{key}/{name}"))
        self.touched.add(key)

    def flush_all(self) -> list[tuple[str, str]]:
        """Write every buffer; hand over (and forget) the staged parts."""
        for key in list(self._tables):
            self.flush(key)
        staged, self.staged = self.staged, []
        return staged

    def discard(self) -> None:
        """Drop buffered rows and delete staged files (they will never be committed)."""
        self._tables.clear()
        self._bytes.clear()
        for staged, _final in self.staged:
            (self.root / staged).unlink(missing_ok=True)
        self.staged.clear()


def with_metadata(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata({**(SCHEMA.metadata or {}), **FILE_METADATA})


def write_part(path: Path, table: pa.Table, compression: str) -> None:
    """Write ``table`` as one part file: the project's Parquet options, and the part's
    statistics (:mod:`.stats`) in its footer, so they are committed with it."""
    with pq.ParquetWriter(path, with_metadata(SCHEMA.empty_table()).schema,
                          compression=compression, **WRITE_OPTIONS) as out:
        out.write_table(with_metadata(table), row_group_size=ROW_GROUP_ROWS)
        out.add_key_value_metadata({STATS_KEY: encode(part_stats(table))})


def stage_part_file(path: Path, table: pa.Table, compression: str = "zstd") -> None:
    """Write one part file of the dataset, as every writer of it must (DatasetWriter,
    the Spark tasks): schema version and statistics in the metadata, the same Parquet
    options, then fsync, at a staged path that a commit later renames into its partition.

    Written under a temporary name first: a retried or speculative Spark attempt
    writing the same part renames identical content over it.
    """
    private_dir(path.parent.parent)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    write_part(tmp, table, compression)
    fsync_file(tmp)
    os.replace(tmp, path)
