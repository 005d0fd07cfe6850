"""``knox convert --jobs N``: decode, filter and write Parquet in N worker processes.

Every worker does the whole pipeline for its task -- a trail, or a byte range of a big
trail cut at record boundaries (the ranges of :mod:`knox_analytics.bsm.ranges`) -- so
Parquet encoding, the costliest step after decoding, runs on every core instead of in
one writer.  A worker writes *staged* part files (invisible, see
:mod:`knox_analytics.store.commit`) and keeps only the records the dataset did not hold
when the run started (record identity against the id index as it was then); this
process adopts its parts into the one :class:`DatasetWriter`, which commits them.

Two things the workers cannot see: inputs of the same run that overlap each other (a
trail and its rotated copy side by side), and identical records in two ranges of one
input (the occurrence numbers of the multiset rule go on across ranges).  So this
process checks each input's new record ids against those adopted earlier in the run,
and the ids of each range against the input's earlier ranges; an input where either
meets is handed back to be converted again, on its own, through the writer (which sees
everything).  Memory: each worker holds one range
(:data:`~knox_analytics.bsm.ranges.DEFAULT_SPLIT`) and smaller write buffers.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.ranges import TrailRange, decode_range, split_trail
from knox_analytics.bsm.reader import read_trail
from knox_analytics.bsm.tables import Tables
from knox_analytics.errors import DamagedTrailError, NotBSMError
from knox_analytics.schema import file_tokens
from knox_analytics.store.identity import IdIndex, RecordFilter
from knox_analytics.store.manifest import load_manifest
from knox_analytics.store.occurrences import merge_counts
from knox_analytics.store.parts import PartBuffer
from knox_analytics.store.plan import SourcePlan
from knox_analytics.workers import worker_pool

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
    added: dict[str, np.ndarray] = field(default_factory=dict)  # new ids by partition
    #: per range: its occurrence counts (first halves of ids: how often each came)
    counts: list[np.ndarray] = field(default_factory=list)
    occurrences: np.ndarray | None = None  # the input's, when it is kept
    records: int = 0  # decoded
    known: int = 0  # of those, already in the dataset
    file_tokens: int = 0  # of those kept, stand-alone file tokens (rows, not records)
    consumed_end: int | None = None  # last range: where decoding stopped
    damage: list[dict] = field(default_factory=list)
    not_bsm: str | None = None
    hosts: set[str] = field(default_factory=set)  # host keys its records name


# --- in the worker ---------------------------------------------------------------------

def run_task(task: Task) -> TaskResult:
    """Decode the task's range, keep the new records, stage them as part files."""
    root = Path(task.root)
    manifest = load_manifest(root)
    index = IdIndex(root, manifest.id_files if manifest else ())
    filt = RecordFilter(index, task.label, keep_added=True)
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
    finally:
        filt.hasher.close()
    out.staged = buffer.flush_all()
    out.added = {k: np.concatenate(v) for k, v in filt.added.items()}
    out.counts = [filt.occurrences.table()]
    out.known = filt.known
    out.hosts = filt.hosts
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


@dataclass
class Outcome:
    """What became of one planned input (``status``): ``"done"``, its rows adopted into
    the writer (its source is not committed yet: the caller does that, from ``result``);
    ``"not_bsm"``, nothing kept; ``"redo"``, it overlaps other inputs of the run, so
    nothing was kept and the caller converts it again on its own."""

    plan: SourcePlan
    found: bool
    status: str
    result: TaskResult


def convert_parallel(writer: Any, work: list[tuple[SourcePlan, bool]], *, jobs: int,
                     label: str | None, compression: str, tables: Tables, chunk_size: int,
                     strict: bool, on_bytes: Callable[[int], None] | None,
                     open_ended: Callable[[str], bool]) -> list[Outcome]:
    """Convert the planned inputs with ``jobs`` workers; one :class:`Outcome` per input,
    in the order of ``work``.

    ``writer`` is the converter's (background) DatasetWriter: the staged parts and new
    ids of each input are adopted into it as its workers finish.  ``open_ended(path)``
    says whether auditd still writes a trail.  ``strict`` raises
    :class:`DamagedTrailError` at the first damaged input.
    """
    run = writer.store.run  # the tasks' staging goes with the writer's at close
    session = _Session()  # what inputs adopted during this run hold, to see them overlap
    outcomes: list[Outcome] = []
    lock = writer.store.lock_fd
    with worker_pool(jobs, inherited=() if lock is None else (lock,)) as pool:
        inputs = []
        number = 0
        for plan, found in work:
            item = _Input(plan, found)
            for rng in split_trail(str(plan.source), plan.start_offset, plan.size,
                                   open_ended=open_ended(str(plan.source))):
                number += 1
                item.futures.append(pool.submit(run_task, Task(
                    number, str(writer.root), run, label, compression, rng, tables,
                    chunk_size)))
            inputs.append(item)
        for item in inputs:
            results = [f.result() for f in item.futures]
            prior = writer.call(writer.store.prior_occurrences, item.plan)
            if prior is not None:
                results.insert(0, TaskResult(counts=[prior]))
            merged = _merge(results)
            if on_bytes:
                on_bytes(item.plan.size - item.plan.start_offset)
            if merged.not_bsm is not None or (strict and merged.damage) or \
                    session.overlaps(merged) or _repeats_across_ranges(merged):
                _discard(writer.root, merged.staged)
                if merged.not_bsm is not None:
                    outcomes.append(Outcome(item.plan, item.found, "not_bsm", merged))
                    continue
                if strict and merged.damage:
                    d = Damage(**merged.damage[0])
                    raise DamagedTrailError(d.source, d.offset, d.length, d.reason)
                outcomes.append(Outcome(item.plan, item.found, "redo", merged))
                continue
            session.add(merged)
            merged.occurrences = merge_counts(merged.counts)
            writer.call(writer.store.adopt, merged.staged, merged.hosts)
            for key, ids in merged.added.items():
                writer.call(writer.store.index.add, key, ids)
            outcomes.append(Outcome(item.plan, item.found, "done", merged))
    return outcomes


def _merge(results: list[TaskResult]) -> TaskResult:
    """One input's task results as one (ranges in order)."""
    merged = TaskResult()
    for r in results:
        if r.not_bsm is not None and merged.not_bsm is None:
            merged.not_bsm = r.not_bsm
        merged.staged += r.staged
        for key, ids in r.added.items():
            merged.added[key] = np.concatenate((merged.added[key], ids)) \
                if key in merged.added else ids
        merged.counts += r.counts
        merged.records += r.records
        merged.known += r.known
        merged.file_tokens += r.file_tokens
        merged.damage += r.damage
        merged.hosts |= r.hosts
        merged.consumed_end = r.consumed_end if r.consumed_end is not None \
            else merged.consumed_end
    return merged


def _repeats_across_ranges(merged: TaskResult) -> bool:
    """Do two ranges of one input (or a range and the part converted before, for a
    trail that grew) hold identical records?  Their occurrence numbers were counted
    per range, so the input must be converted again as one."""
    each = np.concatenate([c["key"] for c in merged.counts]) if merged.counts else []
    return len(np.unique(each)) < len(each)


class _Session:
    """The ids adopted during this run (the workers filtered against the index as it
    was when the run started): an input overlaps the run's earlier inputs when it
    added one of them too."""

    def __init__(self) -> None:
        self.ids = IdIndex(Path("."), ())

    def overlaps(self, merged: TaskResult) -> bool:
        return any(self.ids.known(key, ids).any() for key, ids in merged.added.items())

    def add(self, merged: TaskResult) -> None:
        for key, ids in merged.added.items():
            self.ids.add(key, ids)


def _discard(root: Path, staged: list[tuple[str, str]]) -> None:
    for path, _final in staged:
        (Path(root) / path).unlink(missing_ok=True)


