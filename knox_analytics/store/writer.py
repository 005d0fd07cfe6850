"""Write decoded records as a hive-partitioned Parquet dataset, incrementally.

Usage (the converter's loop)::

    with DatasetWriter(Path("audit-parquet"), host="mac1") as writer:
        plan = writer.plan(trail)
        if plan.needs_work:
            for result in read_trail(trail, start=plan.start_offset):
                writer.write(result.table)
            writer.commit_source(trail, end_offset=..., records=..., damaged=...)

Memory stays flat: rows are buffered per partition and flushed to a new part file when
a partition (or the whole buffer) reaches a size bound.  Crash safety: the manifest is
the commit point.  It lists the part files and the converted inputs; parts that it does
not list are removed when the dataset is next opened, so an interrupted run leaves no
duplicate records and is simply converted again.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from knox_analytics.errors import InputError, OutputExistsError, UsageError
from knox_analytics.schema import SCHEMA, SCHEMA_VERSION
from knox_analytics.store import plan as planning
from knox_analytics.store.cache import CACHE_DIR
from knox_analytics.store.manifest import (
    MANIFEST_NAME,
    Manifest,
    SourceEntry,
    load_manifest,
    save_manifest,
)
from knox_analytics.store.partition import check_label, split_by_partition

#: In-memory (Arrow) bytes per partition before it is written as a part file.
PARTITION_FLUSH_BYTES = 48 << 20
#: In-memory bytes over all partitions before the largest one is flushed.  With a decoded
#: chunk in flight and Parquet's own buffers this keeps `knox convert` under 512 MiB.
TOTAL_FLUSH_BYTES = 96 << 20
#: Seconds between manifest checkpoints while converting many inputs.
CHECKPOINT_SECONDS = 10.0
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
LOCK_NAME = "_knox.lock"
PART_GLOB = "host=*/date=*/part-*.parquet"
FILE_METADATA = {"knox_analytics.schema_version": str(SCHEMA_VERSION),
                 "knox_analytics.writer": "knox_analytics.store.DatasetWriter"}


class DatasetWriter:
    """Append decoded tables to the dataset at ``root`` (see module docstring)."""

    def __init__(self, root: Path, *, host: str | None = None, overwrite: bool = False,
                 compression: str = "zstd") -> None:
        self.root = Path(root)
        self.label = check_label(host) if host is not None else None
        self.compression = compression
        self._buffers: dict[str, list[pa.Table]] = {}
        self._buffered: dict[str, int] = {}
        self._plans: dict[str, planning.SourcePlan] = {}
        self._run = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self._seq = 0
        self._last_checkpoint = time.monotonic()
        self._lock_fh = None
        self.manifest = self._open(overwrite)

    # -- opening ------------------------------------------------------------------
    def _open(self, overwrite: bool) -> Manifest:
        existing = load_manifest(self.root) if self.root.is_dir() else None
        if self.root.exists() and not self.root.is_dir():
            raise OutputExistsError(f"{self.root}: exists and is not a directory")
        if existing is None and self._has_foreign_content() and not overwrite:
            raise OutputExistsError(f"{self.root}: exists, is not empty and is not a knox "
                                    "dataset (no manifest); pass overwrite to replace it")
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock()
        if overwrite:
            self._remove_dataset()
            existing = None
        if existing is not None and existing.schema_version != SCHEMA_VERSION:
            raise UsageError(f"{self.root}: dataset has schema version "
                             f"{existing.schema_version}, this knox writes {SCHEMA_VERSION}; "
                             "convert into a new directory or pass overwrite")
        manifest = existing or Manifest(SCHEMA_VERSION)
        self._remove_orphans(manifest)
        save_manifest(self.root, manifest)
        return manifest

    def _has_foreign_content(self) -> bool:
        return self.root.is_dir() and any(self.root.iterdir())

    def _lock(self) -> None:
        self._lock_fh = open(self.root / LOCK_NAME, "a+b")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_fh.close()
            raise InputError(f"{self.root}: another knox process is writing this "
                             "dataset") from exc

    def _remove_dataset(self) -> None:
        """overwrite=True: drop our partitions and manifest; leave other files alone."""
        for part_dir in [*self.root.glob("host=*"), self.root / CACHE_DIR]:
            if part_dir.is_dir():
                shutil.rmtree(part_dir)
        (self.root / MANIFEST_NAME).unlink(missing_ok=True)

    def _remove_orphans(self, manifest: Manifest) -> None:
        """Delete part files an interrupted run wrote but never committed."""
        listed = set(manifest.parts)
        for part in self.root.glob(PART_GLOB):
            if part.relative_to(self.root).as_posix() not in listed:
                part.unlink()
        for tmp in self.root.glob("host=*/date=*/.part-*.tmp"):
            tmp.unlink()

    # -- the converter's API ------------------------------------------------------
    def plan(self, source: Path) -> planning.SourcePlan:
        """Skip, resume at a byte offset, or convert ``source`` in full (by content)."""
        source = Path(source)
        if not source.is_file():
            raise InputError(f"{source}: no such file")
        result = planning.plan_source(source, self.manifest)
        self._plans[str(source)] = result
        return result

    def write(self, table: pa.Table) -> None:
        """Buffer decoded records (exactly :data:`SCHEMA`) into their partitions."""
        if not table.schema.equals(SCHEMA, check_metadata=False):
            raise UsageError("DatasetWriter.write: table does not have the knox SCHEMA "
                             f"(got columns {table.column_names[:5]}…)")
        if table.num_rows == 0:
            return
        for key, part in split_by_partition(table, self.label).items():
            self._buffers.setdefault(key, []).append(part)
            self._buffered[key] = self._buffered.get(key, 0) + part.nbytes
            if self._buffered[key] >= PARTITION_FLUSH_BYTES:
                self._flush(key)
        while sum(self._buffered.values()) >= TOTAL_FLUSH_BYTES:
            self._flush(max(self._buffered, key=self._buffered.__getitem__))

    def commit_source(self, source: Path, *, end_offset: int, records: int,
                      damaged: int) -> None:
        """Record that ``source`` is converted up to ``end_offset`` (bytes of content).

        Call after every :meth:`write` of that source.  The manifest is written at the
        next checkpoint (at most every few seconds) and at :meth:`close`.
        """
        source = Path(source)
        plan = self._plans.pop(str(source), None)
        entry = self._entry(plan.entry_id) if plan and plan.entry_id else None
        if entry is not None:
            planning.update_entry(entry, source, end_offset=end_offset, records=records,
                                  damaged=damaged)
        else:
            self.manifest.sources.append(planning.new_entry(
                source, end_offset=end_offset, records=records, damaged=damaged))
        if time.monotonic() - self._last_checkpoint >= CHECKPOINT_SECONDS:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Flush every buffer and write the manifest (the commit point)."""
        for key in list(self._buffers):
            self._flush(key)
        save_manifest(self.root, self.manifest)
        self._last_checkpoint = time.monotonic()

    def close(self) -> None:
        """Flush, commit the manifest and release the dataset lock."""
        if self._lock_fh is None:
            return
        self.checkpoint()
        self._lock_fh.close()
        self._lock_fh = None

    def abort(self) -> None:
        """Drop buffered rows and uncommitted parts' manifest update; release the lock."""
        self._buffers.clear()
        self._buffered.clear()
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- internals ----------------------------------------------------------------
    def _entry(self, entry_id: str) -> SourceEntry | None:
        return next((e for e in self.manifest.sources if e.id == entry_id), None)

    def _flush(self, key: str) -> None:
        tables = self._buffers.pop(key, [])
        self._buffered.pop(key, None)
        if not tables:
            return
        self._seq += 1
        name = f"part-{self._run}-{self._seq:05d}.parquet"
        write_part_file(self.root / key, name, pa.concat_tables(tables), self.compression)
        self.manifest.parts.append(f"{key}/{name}")


def write_part_file(directory: Path, name: str, table: pa.Table,
                    compression: str = "zstd") -> None:
    """Write one part file of the dataset, as every writer of it must (DatasetWriter,
    the Spark tasks): schema version in the metadata, the same Parquet options, a hidden
    temporary name then an atomic rename, so a reader never sees half a file.

    The temporary name is unique per call: a retried or speculative Spark attempt
    writing the same part renames identical content over it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    table = table.replace_schema_metadata({**(SCHEMA.metadata or {}), **FILE_METADATA})
    pq.write_table(table, tmp, compression=compression, row_group_size=ROW_GROUP_ROWS,
                   **WRITE_OPTIONS)
    os.replace(tmp, directory / name)
