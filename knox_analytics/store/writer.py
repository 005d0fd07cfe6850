"""Write decoded records as a hive-partitioned Parquet dataset, incrementally.

Usage (the converter's loop)::

    with DatasetWriter(Path("audit-parquet"), host="mac1") as writer:
        plan = writer.plan(trail)
        if plan.needs_work:
            for result in read_trail(trail, start=plan.start_offset):
                writer.write(result.table)
            writer.commit_source(trail, end_offset=..., records=..., damaged=...)

Memory stays flat: rows are buffered per partition and flushed to a part file when a
partition (or the whole buffer) reaches a size bound.  Nothing is visible before a
commit (:meth:`DatasetWriter.commit`, the protocol of :mod:`.commit`): part files are
staged under ``ROOT/_staging/`` (no hive reader looks there, no ``*.parquet`` glob
matches them), fsynced, named in the manifest, and only then renamed into
``host=…/date=…/``.  After a crash or Ctrl-C at any moment readers see the previous
version; the next writer rolls a half-done commit forward and drops uncommitted parts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from knox_analytics.bsm.damage import Damage
from knox_analytics.errors import InputError, OutputExistsError, UsageError
from knox_analytics.schema import SCHEMA, SCHEMA_VERSION, file_tokens
from knox_analytics.store import plan as planning
from knox_analytics.store.cache import CACHE_DIR
from knox_analytics.store.commit import (
    exchange_dirs,
    fsync_dir,
    fsync_file,
    move_into_place,
    signals_held,
)
from knox_analytics.store.identity import RecordFilter, RunIndex, runs_of, split_records
from knox_analytics.store.manifest import (
    MANIFEST_NAME,
    Manifest,
    SourceEntry,
    load_manifest,
    save_manifest,
)
from knox_analytics.store.partition import NULL_VALUE, check_label
from knox_analytics.store.parts import (
    ROW_GROUP_ROWS,
    STAGED_SUFFIX,
    STAGING_DIR,
    WRITE_OPTIONS,
    PartBuffer,
    with_metadata,
)

#: Seconds between manifest checkpoints while converting many inputs.
CHECKPOINT_SECONDS = 10.0
LOCK_NAME = "_knox.lock"
PART_GLOB = "host=*/date=*/part-*.parquet"
#: The run index of record identity (see :mod:`.identity`).
IDS_DIR = "_knox_ids"


class DatasetWriter:
    """Append decoded tables to the dataset at ``root`` (see module docstring)."""

    def __init__(self, root: Path, *, host: str | None = None, overwrite: bool = False,
                 compression: str = "zstd") -> None:
        self.root = Path(root)
        self.label = check_label(host) if host is not None else None
        self.compression = compression
        self._plans: dict[str, planning.SourcePlan] = {}
        self._run = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self._parts = PartBuffer(self.root, self._run, self.label, compression)
        self._adopted: list[tuple[str, str]] = []  # staged by others (Spark, --jobs)
        self._dirty = False
        self._last_checkpoint = time.monotonic()
        self._lock_fh = None
        self._filter: RecordFilter | None = None
        self._checking = False
        #: stand-alone file tokens written: rows, not records (convert does not count them)
        self.file_tokens = 0
        self.manifest = self._open(overwrite)
        self.index = self._load_index()

    # -- opening ------------------------------------------------------------------
    def _open(self, overwrite: bool) -> Manifest:
        existing = load_manifest(self.root) if self.root.is_dir() else None
        self._legacy = existing is not None and _format_of(self.root) == 1
        if self.root.exists() and not self.root.is_dir():
            raise OutputExistsError(f"{self.root}: exists and is not a directory")
        if existing is None and self._has_foreign_content() and not overwrite:
            raise OutputExistsError(f"{self.root}: exists, is not empty and is not a knox "
                                    "dataset (no manifest); pass overwrite to replace it")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{self.root}: cannot create the dataset directory "
                             f"({exc.strerror})") from None
        self._lock()
        if overwrite:
            self._remove_dataset()
            existing = None
        if existing is not None and existing.schema_version != SCHEMA_VERSION:
            raise UsageError(f"{self.root}: dataset has schema version "
                             f"{existing.schema_version}, this knox writes {SCHEMA_VERSION}; "
                             "convert into a new directory or pass overwrite")
        manifest = existing or Manifest(SCHEMA_VERSION)
        self._recover(manifest)
        save_manifest(self.root, manifest)
        return manifest

    def _has_foreign_content(self) -> bool:
        return self.root.is_dir() and any(self.root.iterdir())

    def _lock(self) -> None:
        try:
            self._lock_fh = open(self.root / LOCK_NAME, "a+b")  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"{self.root}: cannot write the dataset ({exc.strerror})") \
                from None
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_fh.close()
            raise InputError(f"{self.root}: another knox process is writing this "
                             "dataset") from exc

    def _remove_dataset(self) -> None:
        """overwrite=True: drop our partitions and manifest; leave other files alone."""
        for part_dir in [*self.root.glob("host=*"), self.root / CACHE_DIR,
                         self.root / STAGING_DIR]:
            if part_dir.is_dir():
                shutil.rmtree(part_dir)
        shutil.rmtree(self.root / IDS_DIR, ignore_errors=True)
        (self.root / MANIFEST_NAME).unlink(missing_ok=True)

    def _recover(self, manifest: Manifest) -> None:
        """Finish a commit a crash interrupted (roll forward), then drop what no commit
        names: staged parts of interrupted runs and parts the manifest does not list."""
        for move in manifest.pending:
            self._redo(move)
        manifest.pending = []
        staging = self.root / STAGING_DIR
        if staging.is_dir():
            shutil.rmtree(staging)
        listed = set(manifest.parts)
        for part in self.root.glob(PART_GLOB):
            if part.relative_to(self.root).as_posix() not in listed:
                part.unlink()
        for tmp in self.root.glob("host=*/date=*/.part-*.tmp"):
            tmp.unlink()
        ids = set(manifest.id_files)
        for leftover in (self.root / IDS_DIR).glob("*"):
            if leftover.relative_to(self.root).as_posix() not in ids:
                leftover.unlink()

    def _redo(self, move: dict[str, str]) -> None:
        staged, final = self.root / move["staged"], self.root / move["final"]
        if move["kind"] == "file":
            if staged.exists():
                move_into_place(staged, final)
        elif not (self.root / move["part"]).exists() and staged.is_dir():
            exchange_dirs(staged, final)

    # -- the converter's API ------------------------------------------------------
    def plan(self, source: Path) -> planning.SourcePlan:
        """Skip, resume at a byte offset, or convert ``source`` in full (by content)."""
        source = Path(source)
        if not source.is_file():
            raise InputError(f"{source}: no such file")
        result = planning.plan_source(source, self.manifest)
        self._plans[str(source)] = result
        return result

    def write(self, table: pa.Table, raw: bytes | None = None, raw_base: int = 0) -> None:
        """Buffer decoded records (exactly :data:`SCHEMA`) into their partitions.

        With ``raw`` (the input bytes the rows were decoded from, starting at input offset
        ``raw_base``) only the records the dataset does not hold yet are kept (record
        identity, :mod:`.identity`); call :meth:`end_input` when the input ends.
        Without it every row is written.
        """
        if not table.schema.equals(SCHEMA, check_metadata=False):
            raise UsageError("DatasetWriter.write: table does not have the knox SCHEMA "
                             f"(got columns {table.column_names[:5]}…)")
        if raw is not None:
            if self._filter is None:
                self._filter = RecordFilter(self.index, self._known_bytes)
            table = self._filter.feed(table, raw, raw_base)
        self._buffer(table)

    def end_input(self) -> int:
        """The input whose bytes :meth:`write` was given has ended: decide its last
        records and remember its runs.  Returns how many of its records the dataset
        already held (and were not written again)."""
        filt = self._filter
        if filt is None:
            return 0
        self._flush_input()
        self._filter = None
        return filt.known

    def _flush_input(self) -> None:
        """Decide the run still open (a commit must publish every row written so far;
        an input that goes on -- a capture -- starts a new run) and remember the runs;
        the count of repeated records goes on for the same input."""
        filt = self._filter
        if filt is None:
            return
        rest = filt.finish()
        if rest is not None:
            self._buffer(rest)
        self.index.add(filt.runs)
        filt.runs = []
        self._dirty = True

    def _buffer(self, table: pa.Table) -> None:
        self._parts.add(table)
        self.file_tokens += file_tokens(table)

    @property
    def touched(self) -> set[str]:
        """Partition keys (``host=…/date=…``) written through this writer."""
        return self._parts.touched

    def commit_source(self, source: Path, *, end_offset: int, records: int,
                      damaged: int, damage: Iterable[Damage] = ()) -> None:
        """Record that ``source`` is converted up to ``end_offset`` (bytes of content),
        with the ``damage`` found in it (kept in the manifest: store/damage_log.py).

        Call after every :meth:`write` of that source.  The manifest is committed at the
        next checkpoint (at most every few seconds) and at :meth:`close`.
        """
        self.end_input()
        source = Path(source)
        plan = self._plans.pop(str(source), None)
        entry = self._entry(plan.entry_id) if plan and plan.entry_id else None
        if entry is not None:
            planning.update_entry(entry, source, end_offset=end_offset, records=records,
                                  damaged=damaged, damage=damage,
                                  start_offset=plan.start_offset if plan else 0)
        else:
            self.manifest.sources.append(planning.new_entry(
                source, end_offset=end_offset, records=records, damaged=damaged,
                damage=damage))
        self._dirty = True
        if time.monotonic() - self._last_checkpoint >= CHECKPOINT_SECONDS:
            self.commit()

    def commit(self) -> list[str]:
        """Make everything written so far visible and durable, as one new version.

        Buffers become staged part files (fsynced); the manifest naming them is written
        (the commit point); then each is renamed into its partition with Ctrl-C held,
        and the manifest is written again without the pending moves.  Returns the parts
        this commit added (paths relative to the root).
        """
        if not self._checking:
            self._flush_input()
        staged = self._parts.flush_all() + self._adopted
        self._adopted = []
        added = [final for _, final in staged]
        m = self.manifest
        moves = [{"kind": "file", "staged": s, "final": f} for s, f in staged]
        if self.index.unsaved:
            moves.append(self._stage_ids(self.index.take_unsaved()))
            m.id_files.append(moves[-1]["final"])
        if added:
            m.parts.extend(added)
            m.log_commit("append", added, [], _now())
        m.pending = moves
        if moves or self._dirty:
            self._publish()
        self._dirty = False
        self._last_checkpoint = time.monotonic()
        return added

    def checkpoint(self) -> None:
        """Commit (the name the converter has always used)."""
        self.commit()

    def adopt(self, staged: Iterable[tuple[str, str]]) -> None:
        """Take part files staged by someone else (Spark tasks, see
        :func:`stage_part_file`) into the next commit: ``(staged, final)`` pairs relative
        to the root."""
        for pair in staged:
            self._adopted.append(pair)
            self.touched.add(pair[1].rsplit("/", 1)[0])

    def compact(self, keys: Iterable[str] | None = None, *, min_parts: int = 2,
                small_bytes: int | None = None) -> int:
        """Rewrite each partition with at least ``min_parts`` parts into one part.

        ``keys``: partition keys (``host=…/date=…``); default: those this writer
        touched.  ``small_bytes``: merge only the parts smaller than that and keep the
        others as they are (a capture merges its per-second parts often without
        rewriting the day's big ones each time).  Pending rows are committed first.
        Each partition directory is swapped for its rebuilt copy in one atomic exchange,
        so a reader sees either every old part or the new one, never both and never
        neither.  Returns how many part files were retired.
        """
        self.commit()
        self._compact_ids()
        retired = 0
        for key in sorted(self.touched if keys is None else set(keys)):
            olds = [p for p in self.manifest.parts if p.rsplit("/", 1)[0] == key
                    and (small_bytes is None or _size(self.root / p) < small_bytes)]
            if len(olds) >= min_parts:
                self._compact_one(key, olds)
                retired += len(olds)
        return retired

    def parts_per_partition(self) -> dict[str, int]:
        """How many committed part files each partition has."""
        out: dict[str, int] = {}
        for part in self.manifest.parts:
            key = part.rsplit("/", 1)[0]
            out[key] = out.get(key, 0) + 1
        return out

    def close(self) -> None:
        """Commit and release the dataset lock."""
        if self._lock_fh is None:
            return
        self.commit()
        self._drop_staging()
        self._lock_fh.close()
        self._lock_fh = None

    def _drop_staging(self) -> None:
        shutil.rmtree(self.root / STAGING_DIR / self._run, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.root / STAGING_DIR).rmdir()  # only when no other run stages there

    def abort(self) -> None:
        """Drop buffered and staged rows (nothing uncommitted ever shows); release the
        lock."""
        self._parts.discard()
        for staged, _final in self._adopted:
            (self.root / staged).unlink(missing_ok=True)
        self._adopted.clear()
        self._drop_staging()
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

    def _next_name(self) -> str:
        return self._parts.next_name()

    def _staging(self) -> Path:
        return self._parts.directory

    def _load_index(self) -> RunIndex:
        if self._legacy and self.manifest.parts and not self.manifest.id_files:
            self._index_existing()
        return RunIndex.from_tables(pq.read_table(self.root / f) for f in self.manifest.id_files)

    def _index_existing(self) -> None:
        """A dataset written before record identity: build its run index once, from its
        records rebuilt byte for byte, a part at a time (each source in offset order;
        runs then break at part boundaries, which only sends those edges through the
        record-by-record check later)."""
        from knox_analytics.bsm.encode import table_to_trail

        index = RunIndex()
        for part in self.manifest.parts:
            data = pq.read_table(self.root / part).cast(SCHEMA)
            for source in pc.unique(data.column("source")).to_pylist():
                rows = data.filter(pc.equal(data.column("source"), source)) \
                    .sort_by([("offset", "ascending")])
                lengths = rows.column("length").to_numpy().astype(np.int64)
                # the rebuilt bytes are contiguous: give each record its place in them
                rebased = rows.set_column(
                    rows.schema.get_field_index("offset"), "offset",
                    pa.array(np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)))
                index.add(runs_of(rebased, table_to_trail(rows), 0))
        if index.unsaved:
            move = self._stage_ids(index.take_unsaved())
            self.manifest.id_files.append(move["final"])
            self.manifest.pending = [move]
            self._publish()

    def _stage_ids(self, runs: pa.Table) -> dict[str, str]:
        # Not *.parquet: a reader globbing ROOT/**/*.parquet must see only the records.
        name = f"runs-{self._run}-{self._next_name()[-14:-8]}.ids"
        staged = self._staging() / (name + STAGED_SUFFIX)
        pq.write_table(runs, staged, compression=self.compression)
        fsync_file(staged)
        return {"kind": "file", "staged": staged.relative_to(self.root).as_posix(),
                "final": f"{IDS_DIR}/{name}"}

    def _compact_ids(self) -> None:
        """Merge the run index files into one (a capture commits one every second)."""
        m = self.manifest
        if len(m.id_files) < 2:
            return
        olds = list(m.id_files)
        move = self._stage_ids(pa.concat_tables(pq.read_table(self.root / f) for f in olds))
        m.id_files = [move["final"]]
        m.pending = [move]
        self._publish()
        for old in olds:
            (self.root / old).unlink(missing_ok=True)

    def _known_bytes(self, tmin: int, tmax: int) -> Counter:
        """The records the dataset holds between two times (ms), rebuilt byte for byte,
        counted; rows not committed yet are committed first."""
        if self._parts or self._adopted:
            self._checking = True  # called from inside the filter: leave its run open
            try:
                self.commit()
            finally:
                self._checking = False
        return records_between(self.root, self.manifest.parts, tmin, tmax)

    def _publish(self) -> None:
        """Write the manifest (the commit point), make its pending moves, write it again."""
        save_manifest(self.root, self.manifest)
        with signals_held():
            for move in self.manifest.pending:
                self._redo(move)
            self.manifest.pending = []
            save_manifest(self.root, self.manifest)

    def _compact_one(self, key: str, olds: list[str]) -> None:
        name = self._next_name()
        rebuilt = self._staging() / f"compact-{name[-14:-8]}"
        rebuilt.mkdir()
        merge_parts([self.root / p for p in olds], rebuilt / name, self.compression)
        gone = set(olds)
        for kept in (self.root / key).iterdir():  # parts not merged: the same files
            if f"{key}/{kept.name}" not in gone:
                os.link(kept, rebuilt / kept.name)
        fsync_dir(rebuilt)
        part = f"{key}/{name}"
        m = self.manifest
        m.parts = [p for p in m.parts if p not in gone] + [part]
        m.log_commit("compact", [part], olds, _now())
        m.pending = [{"kind": "exchange", "staged": rebuilt.relative_to(self.root).as_posix(),
                      "final": key, "part": part}]
        self._publish()
        shutil.rmtree(rebuilt, ignore_errors=True)  # now holds the retired parts


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def records_between(root: Path, parts: list[str], tmin: int, tmax: int) -> Counter:
    """The records that committed ``parts`` of the dataset at ``root`` hold between two
    times (ms, inclusive), rebuilt byte for byte and counted (record identity's check)."""
    from knox_analytics.bsm.encode import table_to_trail

    days = {str(d) for d in np.arange(np.datetime64(tmin, "ms").astype("datetime64[D]"),
                                      np.datetime64(tmax, "ms").astype("datetime64[D]")
                                      + np.timedelta64(1, "D"))}
    if tmin == 0:
        days.add(NULL_VALUE)  # records without a time (identity treats them as 0)
    files = [root / p for p in parts if p.split("/")[1][5:] in days]
    if not files:
        return Counter()
    table = ds.dataset(files, format="parquet", schema=SCHEMA).to_table()
    ms = pc.fill_null(pc.cast(table.column("time"), pa.int64()), 0)
    table = table.filter(pc.and_(pc.greater_equal(ms, tmin), pc.less_equal(ms, tmax)))
    return split_records(table_to_trail(table), table.column("length").to_pylist())


def _format_of(root: Path) -> int | None:
    """The format number a manifest was written in (1: before record identity)."""
    return json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8")).get("format")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def merge_parts(parts: list[Path], dest: Path, compression: str = "zstd") -> None:
    """Concatenate part files into one (compaction), a row group at a time: memory stays
    bounded whatever the partition's size.  The result is fsynced."""
    schema = with_metadata(SCHEMA.empty_table()).schema
    pending: list[pa.Table] = []
    rows = 0
    with pq.ParquetWriter(dest, schema, compression=compression, **WRITE_OPTIONS) as out:
        for part in parts:
            source = pq.ParquetFile(part)
            for group in range(source.num_row_groups):
                # Small parts (a capture commits every second) merge into full row groups.
                pending.append(source.read_row_group(group).cast(schema))
                rows += pending[-1].num_rows
                if rows >= ROW_GROUP_ROWS:
                    out.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
                    pending, rows = [], 0
        if pending:
            out.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
    fsync_file(dest)
