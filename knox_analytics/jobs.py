"""``knox convert --jobs N``: decode, filter and write Parquet in N worker processes.

Every worker does the whole pipeline for its task -- a trail, or a byte range of a big
trail cut at record boundaries (the ranges of :mod:`knox_analytics.spark.ranges`) -- so
Parquet encoding, the costliest step after decoding, runs on every core instead of in
one writer.  A worker writes *staged* part files (invisible, see
:mod:`knox_analytics.store.commit`) and keeps only the records the dataset did not hold
when the run started (record identity against the run index as it was then); this
process adopts its parts into the one :class:`DatasetWriter`, which commits them.

Inputs of the same run may overlap each other (a trail and its rotated copy side by
side): the workers cannot see that, so this process checks every input's runs against
those adopted earlier in the run, and converts an input that overlaps them again, on
its own, through the writer (which sees everything).  Memory: each worker holds one
range (:data:`SPLIT_BYTES`) and smaller write buffers.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.reader import read_trail
from knox_analytics.bsm.tables import Tables
from knox_analytics.errors import DamagedTrailError, NotBSMError
from knox_analytics.schema import file_tokens
from knox_analytics.spark.ranges import TrailRange, decode_range, split_trail
from knox_analytics.store.identity import RecordFilter, Run, RunIndex
from knox_analytics.store.manifest import load_manifest
from knox_analytics.store.parts import PartBuffer
from knox_analytics.store.plan import SourcePlan
from knox_analytics.store.writer import records_between

#: Bytes of a trail one task decodes (a big trail is cut into ranges of this size).
SPLIT_BYTES = 16 << 20
#: A worker's write buffers (smaller than a lone writer's: N of them run at once).
WORKER_PARTITION_BYTES = 16 << 20
WORKER_TOTAL_BYTES = 32 << 20


@dataclass(frozen=True)
class Task:
    """One worker's job: a range of one input, and what it needs to know."""

    number: int
    root: str
    run: str
    label: str | None
    compression: str
    range: TrailRange
    tables: Tables
    chunk_size: int


@dataclass
class TaskResult:
    """What a worker sends back (plain data: it crosses a process boundary)."""

    staged: list[tuple[str, str]] = field(default_factory=list)
    runs: list[tuple[bytes, int, int, int, int]] = field(default_factory=list)
    records: int = 0  # decoded
    known: int = 0  # of those, already in the dataset
    file_tokens: int = 0  # of those kept, stand-alone file tokens (rows, not records)
    consumed_end: int | None = None  # last range: where decoding stopped
    damage: list[dict] = field(default_factory=list)
    not_bsm: str | None = None


# --- in the worker ---------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _snapshot(root: str, id_files: tuple[str, ...]) -> RunIndex:
    """The run index as committed (read once per worker process and dataset version)."""
    import pyarrow.parquet as pq

    return RunIndex.from_tables(pq.read_table(Path(root) / f) for f in id_files)


def run_task(task: Task) -> TaskResult:
    """Decode the task's range, keep the new records, stage them as part files."""
    root = Path(task.root)
    manifest = load_manifest(root)
    parts = list(manifest.parts) if manifest else []
    index = _snapshot(task.root, tuple(manifest.id_files) if manifest else ())
    filt = RecordFilter(index, lambda lo, hi: records_between(root, parts, lo, hi))
    buffer = PartBuffer(root, f"{task.run}-t{task.number:05d}", task.label, task.compression,
                        partition_bytes=WORKER_PARTITION_BYTES, total_bytes=WORKER_TOTAL_BYTES)
    out = TaskResult()
    damage: list[Damage] = []
    try:
        for table, raw, raw_base, end in _decoded(task, damage):
            out.records += table.num_rows
            kept = filt.feed(table, raw, raw_base)
            out.file_tokens += file_tokens(kept)
            buffer.add(kept)
            out.consumed_end = end
    except NotBSMError as exc:
        buffer.discard()
        out.not_bsm = exc.detail
        return out
    rest = filt.finish()
    if rest is not None:
        out.file_tokens += file_tokens(rest)
        buffer.add(rest)
    out.staged = buffer.flush_all()
    out.runs = [(r.digest, r.records, r.tmin, r.tmax, occ) for r, occ in filt.runs]
    out.known = filt.known
    out.damage = [asdict(d) for d in damage]
    return out


def _decoded(task: Task, damage: list[Damage]):
    """(table, raw bytes, their input offset, end so far) for the task's range."""
    rng = task.range
    if rng.stop is None and rng.first:  # a whole trail (or its new tail): stream it
        end = rng.start
        for result in read_trail(rng.path, start_offset=rng.start, tables=task.tables,
                                 open_ended=rng.open_ended, chunk_size=task.chunk_size,
                                 keep_raw=True):
            damage.extend(result.damage)
            end = result.raw_base + result.consumed
            yield result.table, result.raw or b"", result.raw_base, end
        return
    result = decode_range(rng, task.tables)
    damage.extend(result.damage)
    yield result.table, result.raw, result.raw_base, result.end


# --- in the converting process -----------------------------------------------------------

@dataclass
class _Input:
    """One input of the run and its tasks' futures, in range order."""

    plan: SourcePlan
    found: bool
    futures: list[Future] = field(default_factory=list)


def convert_parallel(writer: Any, work: list[tuple[SourcePlan, bool]], *, jobs: int,
                     label: str | None, compression: str, tables: Tables, chunk_size: int,
                     strict: bool, on_bytes: Callable[[int], None] | None,
                     open_ended: Callable[[str], bool], settle: Callable[..., Any],
                     redo: Callable[[str, bool], Any]) -> list:
    """Convert the planned inputs with ``jobs`` workers; returns one report per input.

    ``writer`` is the converter's (background) DatasetWriter; ``open_ended(path)``
    says whether auditd still writes a trail; ``settle(plan, found,
    result)`` turns an input's merged result into its report and commits its source;
    ``redo(path, found)`` converts one input on its own (inputs that overlap others of the
    run).
    """
    run = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    session = _Session()  # what inputs adopted during this run hold, to see them overlap
    reports: list = []
    redo_later: list[tuple[int, str, bool]] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        inputs = []
        number = 0
        for plan, found in work:
            item = _Input(plan, found)
            for rng in split_trail(str(plan.source), plan.start_offset, plan.size,
                                   split_bytes=SPLIT_BYTES,
                                   open_ended=open_ended(str(plan.source))):
                number += 1
                item.futures.append(pool.submit(run_task, Task(
                    number, str(writer.root), run, label, compression, rng, tables,
                    chunk_size)))
            inputs.append(item)
        for item in inputs:
            results = [f.result() for f in item.futures]
            merged = _merge(results)
            if on_bytes:
                on_bytes(item.plan.size - item.plan.start_offset)
            if merged.not_bsm is not None or (strict and merged.damage) or \
                    session.overlaps(merged):
                _discard(writer.root, merged.staged)
                if merged.not_bsm is not None:
                    reports.append(("not_bsm", item, merged))
                    continue
                if strict and merged.damage:
                    d = Damage(**merged.damage[0])
                    raise DamagedTrailError(d.source, d.offset, d.length, d.reason)
                redo_later.append((len(reports), str(item.plan.source), item.found))
                reports.append(None)
                continue
            runs = [(Run(d, n, lo, hi), occ) for d, n, lo, hi, occ in merged.runs]
            session.add(merged, runs)
            writer.call(writer.store.adopt, merged.staged)
            writer.call(writer.store.index.add, runs)
            reports.append(("done", item, merged))
    out = [settle(entry[1].plan, entry[1].found, entry[2], entry[0]) if entry else None
           for entry in reports]
    for at, path, found in redo_later:
        out[at] = redo(path, found)
    return out


def _merge(results: list[TaskResult]) -> TaskResult:
    """One input's task results as one (ranges in order)."""
    merged = TaskResult()
    for r in results:
        if r.not_bsm is not None and merged.not_bsm is None:
            merged.not_bsm = r.not_bsm
        merged.staged += r.staged
        merged.runs += r.runs
        merged.records += r.records
        merged.known += r.known
        merged.file_tokens += r.file_tokens
        merged.damage += r.damage
        merged.consumed_end = r.consumed_end if r.consumed_end is not None \
            else merged.consumed_end
    return merged


class _Session:
    """Runs adopted during this run: their digests, and per partition host the time
    they cover.  An input overlaps them when it shares a run, or when it adds records
    of a host in time those inputs already cover (the workers could not compare them)."""

    def __init__(self) -> None:
        self.runs = RunIndex()
        self.by_host: dict[str, RunIndex] = {}

    def overlaps(self, merged: TaskResult) -> bool:
        hosts = {final.split("/", 1)[0] for _staged, final in merged.staged}
        covers = [self.by_host[h] for h in hosts if h in self.by_host]
        return any(self.runs.occurrences(d) or any(c.covers(lo, hi) for c in covers)
                   for d, _n, lo, hi, _o in merged.runs)

    def add(self, merged: TaskResult, runs: list[tuple[Run, int]]) -> None:
        self.runs.add(runs)
        for host in {final.split("/", 1)[0] for _staged, final in merged.staged}:
            self.by_host.setdefault(host, RunIndex()).add(runs)


def _discard(root: Path, staged: list[tuple[str, str]]) -> None:
    for path, _final in staged:
        (Path(root) / path).unlink(missing_ok=True)


