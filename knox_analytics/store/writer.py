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
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from knox_analytics.bsm.damage import Damage
from knox_analytics.errors import InputError, OutputExistsError, UsageError
from knox_analytics.schema import SCHEMA, SCHEMA_VERSION, file_tokens
from knox_analytics.store import machines
from knox_analytics.store import plan as planning
from knox_analytics.store.cache import CACHE_DIR
from knox_analytics.store.commit import (
    exchange_dirs,
    fsync_dir,
    fsync_file,
    move_into_place,
    signals_held,
)
from knox_analytics.store.identity import (
    Hasher,
    IdIndex,
    RecordFilter,
    slice_of,
    write_ids,
    write_merged,
)
from knox_analytics.store.manifest import (
    MANIFEST_NAME,
    Manifest,
    SourceEntry,
    load_manifest,
    save_manifest,
)
from knox_analytics.store.partition import check_label
from knox_analytics.store.parts import (
    ROW_GROUP_ROWS,
    STAGED_SUFFIX,
    STAGING_DIR,
    WRITE_OPTIONS,
    PartBuffer,
    with_metadata,
)
from knox_analytics.store.safefs import (
    PRIVATE,
    Protection,
    apply_path,
    check_owner,
    make_dir,
    make_dirs,
    open_lock,
    protection_of,
    protection_of_dataset,
    require_parent,
    tighten_tree,
)
from knox_analytics.store.snapshot import RETIRED_DIR, drop_old_retired, part_range
from knox_analytics.store.stats import STATS_KEY, decoded_stats, merge_stats, part_stats
from knox_analytics.store.stats import encode as encode_stats

#: Seconds between manifest checkpoints while converting many inputs.
CHECKPOINT_SECONDS = 10.0
LOCK_NAME = "_knox.lock"
PART_GLOB = "host=*/date=*/part-*.parquet"
#: The id index of record identity (see :mod:`.identity`).
IDS_DIR = "_knox_ids"
#: Index files of one partition before they are merged into one (a capture commits
#: every second; a lookup opens each file).
IDS_FILES_MERGED = 16
#: Ids kept in memory before they are written to staged index files (16 bytes each):
#: memory stays bounded however big one input is.
IDS_IN_MEMORY = 2_000_000


class DatasetWriter:
    """Append decoded tables to the dataset at ``root`` (see module docstring)."""

    def __init__(self, root: Path, *, host: str | None = None, overwrite: bool = False,
                 compression: str = "zstd", protection: Protection | None = None,
                 allow_foreign_owner: bool = False) -> None:
        """``protection``: that of the inputs (:func:`.safefs.protection_of`); a new
        dataset takes it, an existing one is tightened to it, never loosened.  None: a
        new dataset is private (0600 files), an existing one keeps its own, and each
        planned input tightens it."""
        self.root = Path(root)
        check_owner(self.root, allow_foreign_owner=allow_foreign_owner)
        self.protection = protection or PRIVATE
        self._asked = protection
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
        self._hasher: Hasher | None = None
        self._prior: np.ndarray | None = None  # occurrence counts of the input resumed
        self._ended: RecordFilter | None = None  # the last input's, for commit_source
        self._extra_moves: list[dict[str, str]] = []
        self._spilled: list[tuple[str, dict[str, str]]] = []  # staged index files
        self._superseded: list[str] = []
        #: stand-alone file tokens written: rows, not records (convert does not count them)
        self.file_tokens = 0
        self.manifest = self._open(overwrite)
        self.index = IdIndex(self.root, self.manifest.id_files)

    # -- opening ------------------------------------------------------------------
    def _open(self, overwrite: bool) -> Manifest:
        if self.root.exists() and not self.root.is_dir():
            raise OutputExistsError(f"{self.root}: exists and is not a directory")
        # Checked before the lock file is made, so a foreign directory keeps no trace.
        self._refuse_foreign(overwrite)
        require_parent(self.root)
        try:
            make_dir(self.root, self.protection)
        except OSError as exc:
            raise InputError(f"{self.root}: cannot create the dataset directory "
                             f"({exc.strerror})") from None
        self._lock()
        try:
            return self._open_locked(overwrite)
        except BaseException:
            self._unlock()
            raise

    def _open_locked(self, overwrite: bool) -> Manifest:
        # Only under the lock: a manifest read before it may be stale, and recovery
        # would delete the parts another writer committed in between.
        self._refuse_foreign(overwrite)
        existing = load_manifest(self.root)
        if overwrite:
            self._remove_dataset()
            existing = None
        if existing is not None and existing.schema_version != SCHEMA_VERSION:
            raise UsageError(schema_refusal(self.root, existing.schema_version))
        manifest = existing or Manifest(SCHEMA_VERSION)
        self.protection = protection_of_dataset(self.root)
        if self._asked is not None:
            self.protect(self._asked)
        self._recover(manifest)
        save_manifest(self.root, manifest, self.protection)
        return manifest

    def protect(self, inputs: Protection) -> None:
        """Inputs with ``inputs``' protection go into the dataset: when they are
        stricter, the whole dataset is tightened to it (nothing ever loosens)."""
        tighter = self.protection & inputs
        if tighter != self.protection:
            tighten_tree(self.root, tighter)
            self.protection = tighter

    def _refuse_foreign(self, overwrite: bool) -> None:
        if overwrite or not self.root.is_dir() or (self.root / MANIFEST_NAME).exists():
            return
        if any(p.name != LOCK_NAME for p in self.root.iterdir()):
            raise OutputExistsError(f"{self.root}: exists, is not empty and is not a knox "
                                    "dataset (no manifest); give --overwrite (overwrite=True) to "
                                    "replace it")

    @property
    def run(self) -> str:
        """This writer's run name: its staged parts' prefix (worker tasks stage theirs
        in ``_staging/RUN-tNNNNN``, dropped with the run's own at close)."""
        return self._run

    @property
    def lock_fd(self) -> int | None:
        """The descriptor holding the dataset lock (worker processes close their copy)."""
        return self._lock_fh.fileno() if self._lock_fh is not None else None

    def _unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def _lock(self) -> None:
        try:
            self._lock_fh = os.fdopen(open_lock(self.root / LOCK_NAME, self.protection),
                                      "a+b")
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
                         self.root / STAGING_DIR, self.root / RETIRED_DIR]:
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
        ids = set(manifest.id_files) | {e.occurrences for e in manifest.sources}
        for leftover in (self.root / IDS_DIR).rglob("*"):
            if leftover.is_file() and leftover.relative_to(self.root).as_posix() not in ids:
                leftover.unlink()

    def _redo(self, move: dict[str, str]) -> None:
        staged, final = self.root / move["staged"], self.root / move["final"]
        if move["kind"] == "file":
            if staged.exists():
                apply_path(staged, self.protection)
                make_dirs(self.root, str(Path(move["final"]).parent), self.protection)
                move_into_place(staged, final)
        elif not (self.root / move["part"]).exists() and staged.is_dir():
            apply_path(staged, self.protection)
            exchange_dirs(staged, final)

    # -- the converter's API ------------------------------------------------------
    def plan(self, source: Path) -> planning.SourcePlan:
        """Skip, resume at a byte offset, or convert ``source`` in full (by content)."""
        source = Path(source)
        if not source.is_file():
            raise InputError(f"{source}: no such file")
        result = planning.plan_source(source, self.manifest, self.label)
        self.protect(protection_of([source]))
        self._plans[str(source)] = result
        return result

    def prior_occurrences(self, plan: planning.SourcePlan | None) -> np.ndarray | None:
        """The occurrence counts of the input a resumed plan continues."""
        if plan is None or plan.action != planning.RESUME or not plan.entry_id:
            return None
        entry = self._entry(plan.entry_id)
        if entry is None or not entry.occurrences:
            return None
        for move in self._extra_moves:  # staged, not committed yet
            if move["final"] == entry.occurrences:
                return np.load(self.root / move["staged"])
        # mapped: a big input's counts are copied to runs slice by slice, never whole
        return np.load(self.root / entry.occurrences, mmap_mode="r")

    def begin_input(self, source: Path | None) -> None:
        """The next :meth:`write` starts ``source`` (as planned; None: an input without
        a plan, stdin): a resumed input numbers its repeated records on from where its
        earlier conversion stopped."""
        self.end_input()
        plan = self._plans.get(str(source)) if source is not None else None
        self._prior = self.prior_occurrences(plan)

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
        spans = None
        if raw is None and table.num_rows:  # rows without their bytes (tests, tools)
            raw, *spans = _bytes_of(table)
        if self._filter is None:
            if self._hasher is None:
                self._hasher = Hasher()
            self._filter = RecordFilter(self.index, self.label, self._hasher, self._prior,
                                        spill=self.root / STAGING_DIR)
            self._prior = None
        self._buffer(self._filter.feed(table, raw or b"", raw_base, spans))
        self._dirty = True
        if self.index.pending_ids >= IDS_IN_MEMORY:
            self._spill_ids()

    def _spill_ids(self) -> None:
        """Write the ids added so far to staged index files (committed with the rows)."""
        for key, ids in self.index.take_pending().items():
            move = self._stage_ids(key, ids)
            self._spilled.append((key, move))
            self.index.committed(key, move["staged"])

    def end_input(self) -> int:
        """The input whose bytes :meth:`write` was given has ended (the next write
        starts a new input: its identical records are numbered from 0 again).  Returns
        how many of its records the dataset already held (and were not written)."""
        filt, self._filter = self._filter, None
        if filt is not None:
            self.add_machine(filt.hosts)
            self._end_filter()
            self._ended = filt
        return 0 if filt is None else filt.known

    def _end_filter(self) -> None:
        """Forget the input that ended before (its occurrence counts on disk too)."""
        if self._ended is not None:
            self._ended.occurrences.close()
            self._ended = None

    def _buffer(self, table: pa.Table) -> None:
        self._parts.add(table)
        self.file_tokens += file_tokens(table)

    @property
    def touched(self) -> set[str]:
        """Partition keys (``host=…/date=…``) written through this writer."""
        return self._parts.touched

    def commit_source(self, source: Path, *, end_offset: int, records: int,
                      damaged: int, damage: Iterable[Damage] = (),
                      occurrences: np.ndarray | None = None, seen_size: int = 0) -> None:
        """Record that ``source`` is converted up to ``end_offset`` (bytes of content),
        with the ``damage`` found in it (kept in the manifest: store/damage_log.py).

        Call after every :meth:`write` of that source.  The manifest is committed at the
        next checkpoint (at most every few seconds) and at :meth:`close`.
        ``occurrences``: the input's occurrence counts (default: those of the input just
        written through this writer).  ``seen_size``: the content size read, when that
        is past ``end_offset`` (a record cut at the end, to be read whole if it grows).
        """
        self.end_input()
        if occurrences is None and self._ended is not None:
            occurrences = self._ended.occurrences.table()
        source = Path(source)
        plan = self._plans.pop(str(source), None)
        entry = self._entry(plan.entry_id) if plan and plan.entry_id else None
        if entry is not None:
            planning.update_entry(entry, source, end_offset=end_offset, records=records,
                                  damaged=damaged, damage=damage,
                                  start_offset=plan.start_offset if plan else 0,
                                  seen_size=seen_size)
        else:
            entry = planning.new_entry(source, end_offset=end_offset, records=records,
                                       damaged=damaged, damage=damage,
                                       seen_size=seen_size, host=self.label)
            self.manifest.sources.append(entry)
        if occurrences is not None:
            self._stage_occurrences(entry, occurrences)
        self._end_filter()
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
        if self._filter is not None:  # a capture's input goes on: its hosts so far
            self.add_machine(self._filter.hosts)
        staged = self._parts.flush_all() + self._adopted
        self._adopted = []
        added = [final for _, final in staged]
        m = self.manifest
        moves = [{"kind": "file", "staged": s, "final": f} for s, f in staged]
        moves += self._extra_moves
        self._extra_moves = []
        for key, move in self._spilled:
            moves.append(move)
            m.id_files.append(move["final"])
            self.index.replace(key, [move["staged"]], move["final"])
        self._spilled = []
        for key, ids in self.index.take_pending().items():
            moves.append(self._stage_ids(key, ids))
            m.id_files.append(moves[-1]["final"])
            self.index.committed(key, moves[-1]["final"])
        if added:
            m.parts.extend(added)
            for staged_at, final in staged:  # derived state plans epochs from these
                m.ranges[final] = list(part_range(self.root / staged_at))
            m.log_commit("append", added, [], _now())
        m.pending = moves
        if moves or self._dirty:
            self._publish()
        for old in self._superseded:
            (self.root / old).unlink(missing_ok=True)
        self._superseded = []
        self._dirty = False
        self._last_checkpoint = time.monotonic()
        self._compact_ids(IDS_FILES_MERGED)
        return added

    def checkpoint(self) -> None:
        """Commit (the name the converter has always used)."""
        self.commit()

    def adopt(self, staged: Iterable[tuple[str, str]], hosts: Iterable[str] = ()) -> None:
        """Take part files staged by someone else (Spark tasks, see
        :func:`stage_part_file`) into the next commit: ``(staged, final)`` pairs relative
        to the root; ``hosts``: those their input's records name (one machine)."""
        for pair in staged:
            self._adopted.append(pair)
            self.touched.add(pair[1].rsplit("/", 1)[0])
        self.add_machine(hosts)

    def add_machine(self, hosts: Iterable[str]) -> None:
        """The hosts one input's records name are one machine (:mod:`.machines`)."""
        hosts = set(hosts)
        if hosts and self.manifest.machines is not None:
            groups = machines.add_input(self.manifest.machines, hosts, self.label)
            if groups != self.manifest.machines:
                self.manifest.machines = groups
                self._dirty = True

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
        self._compact_ids(2)
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
        self._close_identity()
        self._drop_staging()
        self._lock_fh.close()
        self._lock_fh = None

    def _close_identity(self) -> None:
        self.index.close()
        if self._filter is not None:
            self._filter.occurrences.close()
        self._end_filter()
        if self._hasher is not None:
            self._hasher.close()
            self._hasher = None

    def _drop_staging(self) -> None:
        staging = self.root / STAGING_DIR
        shutil.rmtree(staging / self._run, ignore_errors=True)
        # this run's worker tasks staged in RUN-tNNNNN (parallel.py): empty once adopted
        for task in staging.glob(f"{self._run}-t*") if staging.is_dir() else ():
            shutil.rmtree(task, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.root / STAGING_DIR).rmdir()  # only when no other run stages there

    def abort(self) -> None:
        """Drop buffered and staged rows (nothing uncommitted ever shows); release the
        lock."""
        self._parts.discard()
        for staged, _final in self._adopted:
            (self.root / staged).unlink(missing_ok=True)
        self._adopted.clear()
        self._close_identity()
        self._drop_staging()
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self.close()
            except BaseException:
                self.abort()  # a commit that failed (a full disk) leaves nothing staged
                raise
        else:
            self.abort()

    # -- internals ----------------------------------------------------------------
    def _entry(self, entry_id: str) -> SourceEntry | None:
        return next((e for e in self.manifest.sources if e.id == entry_id), None)

    def _next_name(self) -> str:
        return self._parts.next_name()

    def _staging(self) -> Path:
        return self._parts.directory

    def _stage_ids(self, key: str, ids: np.ndarray | list[Path]) -> dict[str, str]:
        """Stage an index file of partition ``key``: sorted ``ids``, or the index files
        ``ids`` merged (a slice at a time)."""
        # Not *.parquet: a reader globbing ROOT/**/*.parquet must see only the records.
        name = f"ids-{self._next_name()[5:-8]}.npy"
        staged = self._staging() / (name + STAGED_SUFFIX)
        if isinstance(ids, list):
            write_merged(ids, staged)
        else:
            write_ids(staged, ids)
        return {"kind": "file", "staged": staged.relative_to(self.root).as_posix(),
                "final": f"{IDS_DIR}/{key}/{name}"}

    def _stage_occurrences(self, entry: SourceEntry, table: np.ndarray) -> None:
        name = f"occ-{self._next_name()[5:-8]}.npy"
        staged = self._staging() / (name + STAGED_SUFFIX)
        write_ids(staged, table)
        if entry.occurrences:
            self._superseded.append(entry.occurrences)
        entry.occurrences = f"{IDS_DIR}/inputs/{name}"
        self._extra_moves.append({"kind": "file",
                                  "staged": staged.relative_to(self.root).as_posix(),
                                  "final": entry.occurrences})

    def _compact_ids(self, at_least: int) -> None:
        """Merge the index files of each partition that has ``at_least`` of them."""
        m = self.manifest
        by_key: dict[str, list[str]] = {}
        for f in m.id_files:
            by_key.setdefault(slice_of(f), []).append(f)
        for key, olds in by_key.items():
            if len(olds) < at_least:
                continue
            move = self._stage_ids(key, [self.root / f for f in olds])
            m.id_files = [f for f in m.id_files if f not in olds] + [move["final"]]
            m.pending = [move]
            self._publish()
            self.index.replace(key, olds, move["final"])
            for old in olds:
                (self.root / old).unlink(missing_ok=True)

    def _publish(self) -> None:
        """Write the manifest (the commit point), make its pending moves, write it again."""
        save_manifest(self.root, self.manifest, self.protection)
        with signals_held():
            for move in self.manifest.pending:
                self._redo(move)
            self.manifest.pending = []
            save_manifest(self.root, self.manifest, self.protection)

    def _compact_one(self, key: str, olds: list[str]) -> None:
        name = self._next_name()
        rebuilt = self._staging() / f"compact-{name[-14:-8]}"
        rebuilt.mkdir(mode=0o700)
        merge_parts([self.root / p for p in olds], rebuilt / name, self.compression)
        apply_path(rebuilt / name, self.protection)
        gone = set(olds)
        for kept in (self.root / key).iterdir():  # parts not merged: the same files
            if f"{key}/{kept.name}" not in gone:
                os.link(kept, rebuilt / kept.name)
        fsync_dir(rebuilt)
        part = f"{key}/{name}"
        m = self.manifest
        m.parts = [p for p in m.parts if p not in gone] + [part]
        m.ranges = {p: r for p, r in m.ranges.items() if p not in gone}
        m.ranges[part] = list(part_range(rebuilt / name))
        m.log_commit("compact", [part], olds, _now())
        # the retired parts stay readable for a grace period, outside every hive glob,
        # for the readers of older versions (store/snapshot.py)
        retired = Path(RETIRED_DIR) / str(m.version)
        m.commits[-1].retired = retired.as_posix()
        m.pending = [{"kind": "exchange", "staged": rebuilt.relative_to(self.root).as_posix(),
                      "final": key, "part": part}]
        self._publish()
        # ``rebuilt`` now holds the retired parts (and links of the kept ones)
        (self.root / retired / key).parent.mkdir(parents=True, exist_ok=True)
        os.replace(rebuilt, self.root / retired / key)
        drop_old_retired(self.root)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _bytes_of(table: pa.Table) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Bytes to identify rows given without those they were decoded from, with each
    row's place in them: the records rebuilt (the lossless round trip); rows that are
    not records (made up by tests and tools: no token ids) by their values."""
    from knox_analytics.bsm.encode import table_to_trail

    try:
        raw = table_to_trail(table)
        lengths = table.column("length").to_numpy().astype(np.int64)
    except UsageError:  # not a hot path: made-up rows
        values = [repr(sorted(row.items())).encode() for row in table.to_pylist()]
        raw = b"".join(values)
        lengths = np.array([len(v) for v in values], np.int64)
    return raw, np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths


def schema_refusal(root: Path, version: int) -> str:
    """The one line refusing a dataset of another schema version."""
    if version < SCHEMA_VERSION:
        return (f"{root}: dataset written by an older knox (schema version {version}, "
                f"before record ids; this knox writes {SCHEMA_VERSION}): convert its "
                "trails again into a new directory, or pass --overwrite to replace it")
    return (f"{root}: dataset has schema version {version}, newer than this knox's "
            f"{SCHEMA_VERSION}: upgrade knox")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def merge_parts(parts: list[Path], dest: Path, compression: str = "zstd") -> None:
    """Concatenate part files into one (compaction), a row group at a time: memory stays
    bounded whatever the partition's size.  The merged part's statistics are those of
    the parts added up (counted from the rows of a part written before statistics).
    The result is fsynced."""
    schema = with_metadata(SCHEMA.empty_table()).schema
    pending: list[pa.Table] = []
    rows = 0
    counted = []
    with pq.ParquetWriter(dest, schema, compression=compression, **WRITE_OPTIONS) as out:
        for part in parts:
            source = pq.ParquetFile(part)
            stats = decoded_stats((source.metadata.metadata or {}).get(STATS_KEY))
            if stats is not None:
                counted.append(stats)
            for group in range(source.num_row_groups):
                # Small parts (a capture commits every second) merge into full row groups.
                pending.append(source.read_row_group(group).cast(schema))
                if stats is None:
                    counted.append(part_stats(pending[-1]))
                rows += pending[-1].num_rows
                if rows >= ROW_GROUP_ROWS:
                    out.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
                    pending, rows = [], 0
        if pending:
            out.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
        out.add_key_value_metadata({STATS_KEY: encode_stats(merge_stats(counted))})
    fsync_file(dest)

