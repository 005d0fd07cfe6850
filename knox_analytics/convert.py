"""Convert trails into the Parquet dataset: the library function behind ``knox convert``.

>>> from knox_analytics.convert import convert
>>> summary = convert(["/var/audit"], "audit-parquet")  # doctest: +SKIP
>>> summary.records, [str(d) for d in summary.damage]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import errno
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.decode import DecodeResult
from knox_analytics.bsm.reader import DEFAULT_CHUNK, STDIN, read_trail
from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.errors import DiskFullError, KnoxError, NotBSMError
from knox_analytics.inputs import Given, expand
from knox_analytics.store import DatasetWriter
from knox_analytics.store.identity import IndexStats
from knox_analytics.store.plan import SourcePlan
from knox_analytics.store.safefs import protection_of

if TYPE_CHECKING:
    from knox_analytics.derived import Progress
    from knox_analytics.parallel import Outcome


@dataclass
class FileReport:
    """What happened to one input."""

    path: str
    action: str  # "converted", "resumed", "skipped"
    records: int = 0  # records added to the dataset
    bytes: int = 0
    damage: list[Damage] = field(default_factory=list)
    reason: str = ""
    known: int = 0  # records read that the dataset already held (not added again)
    #: damage an earlier conversion found in these same, unchanged bytes and reported
    #: then: said once more, not an error again
    reported: list[Damage] = field(default_factory=list)


@dataclass
class ConvertSummary:
    """Totals of one conversion run."""

    output: Path
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    derive_seconds: float = 0.0  # of ``seconds``: bringing the process state up to date
    #: Work record identity did in this process (index files opened, ids looked up).
    identity: IndexStats = field(default_factory=IndexStats)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def known(self) -> int:
        return sum(f.known for f in self.files)

    @property
    def damage(self) -> list[Damage]:
        return [d for f in self.files for d in f.damage]

    @property
    def reported(self) -> list[Damage]:
        """Damage of unchanged inputs that an earlier run reported (not an error now)."""
        return [d for f in self.files for d in f.reported]

    @property
    def mb_per_s(self) -> float:
        """Conversion throughput (the derivation of the process state not counted)."""
        seconds = self.seconds - self.derive_seconds
        return self.bytes / 1e6 / seconds if seconds > 0 else 0.0


def is_open_trail(path: str) -> bool:
    """Is auditd still appending to this trail?  Then its last record may be incomplete.

    auditd names the trail it writes ``START.not_terminated`` and points ``current`` at
    it; on rotation it renames it ``START.END``.
    """
    name = os.path.basename(path)
    return name == "current" or name.endswith(".not_terminated")


def convert(inputs: Given, output: str | os.PathLike[str], *,
            overwrite: bool = False, strict: bool = False, host: str | None = None,
            tables: Tables | None = None, chunk_size: int | None = None, jobs: int = 1,
            on_bytes: Callable[[int], None] | None = None,
            derive: bool | None = None,
            allow_foreign_owner: bool = False,
            on_derive: Progress | None = None) -> ConvertSummary:
    """Convert trail files, directories of trails, or ``-`` (stdin) into a dataset
    (``inputs``: paths, or the :class:`~knox_analytics.inputs.Inputs` a command
    discovered).

    Inputs already converted are skipped; a trail that grew is converted from where the
    last run stopped (see :mod:`knox_analytics.store`).  Damaged byte ranges are skipped
    and reported in the summary; ``strict`` raises at the first one instead.  ``jobs > 1``
    decodes, filters and writes Parquet in that many worker processes, a big trail cut
    into ranges at record boundaries (:mod:`knox_analytics.parallel`).  ``derive`` then
    extends the dataset's derived process state by the new records
    (docs/derived-state.md), so that the first process question does not pay for it.
    None (the default): when the dataset already keeps that state (a process question
    was asked of it), which costs about as much as the new records; not for a dataset
    that has none (its first derivation, in epochs of bounded memory, costs about as
    much CPU time as converting: it is left to the first process question).
    ``on_derive``: told that derivation's progress (:data:`knox_analytics.derived.Progress`).

    The dataset is no more readable than the inputs (:mod:`knox_analytics.store.safefs`);
    as root, an output directory another user owns is refused unless
    ``allow_foreign_owner``.
    """
    tables = tables or load_tables()
    summary = ConvertSummary(Path(output))
    started = time.perf_counter()
    options = _Options(strict, tables, chunk_size or DEFAULT_CHUNK)
    paths = expand(inputs)
    protection = protection_of(path for path, _found in paths)
    try:
        with DatasetWriter(Path(output), host=host, overwrite=overwrite,
                           protection=protection,
                           allow_foreign_owner=allow_foreign_owner) as store, \
                _BackgroundWriter(store) as writer:
            if jobs > 1:
                summary.files = _convert_parallel(writer, paths, options, jobs, on_bytes)
            else:
                summary.files = [_convert_guarded(writer, path, found, options, on_bytes)
                                 for path, found in paths]
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or isinstance(exc, KnoxError):
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        raise DiskFullError(f"{output}: disk full ({exc.strerror}{where}); nothing staged "
                            "is left behind and nothing is lost: free some space and run "
                            "the same command again") from None
    summary.identity = store.index.stats
    if summary.records:
        from knox_analytics.derived import after_commit

        summary.derive_seconds = after_commit(Path(output), derive, on_derive)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass(frozen=True)
class _Options:
    strict: bool
    tables: Tables
    chunk_size: int


class _BackgroundWriter:
    """Runs a DatasetWriter's calls in order on one thread of its own.

    Parquet encoding and partitioning run in Arrow's C++ with the GIL released, so they
    overlap with decoding the next chunk here.  The queue is short: at most one decoded
    chunk waits, so memory stays flat.  Calls that answer (``plan``) wait for the queue.
    """

    def __init__(self, store: DatasetWriter, depth: int = 1) -> None:
        self.store, self.root = store, store.root
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="knox-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, args, kwargs, done = item
            try:
                if self._error is None:
                    done.append(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the caller at its next call
                self._error = exc
            finally:
                self._queue.task_done()

    def _submit(self, fn: Callable, *args: object, **kwargs: object) -> list:
        if self._error is not None:
            raise self._error
        done: list = []
        self._queue.put((fn, args, kwargs, done))
        return done

    def write(self, table: pa.Table, raw: bytes | None = None, raw_base: int = 0) -> None:
        self._submit(self.store.write, table, raw, raw_base)

    def commit_source(self, source: Path, **kwargs: Any) -> None:
        self._submit(self.store.commit_source, source, **kwargs)

    def begin_input(self, source: Path | None) -> None:
        self._submit(self.store.begin_input, source)

    def plan(self, source: Path) -> SourcePlan:
        return self.call(self.store.plan, source)

    def end_input(self) -> int:
        return self.call(self.store.end_input)

    def call(self, fn: Callable, *args: object) -> Any:
        """Run ``fn`` in order with the queued calls and wait for its answer."""
        done = self._submit(fn, *args)
        self._queue.join()
        if self._error is not None:
            raise self._error
        return done[0]

    def __enter__(self) -> _BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error


def _convert_guarded(writer: _BackgroundWriter, path: str, found: bool, options: _Options,
                     on_bytes: Callable[[int], None] | None) -> FileReport:
    """Convert one input; a non-trail *found* in a directory is skipped, not an error."""
    try:
        return _convert_one(writer, path, options, on_bytes)
    except NotBSMError as exc:
        return not_a_trail(exc, found)


def not_a_trail(error: NotBSMError, found: bool) -> FileReport:
    """A named input that is not a trail is an error; one found in a directory (a README
    or checksum file beside the trails) is skipped and listed."""
    if not found:
        raise error
    return FileReport(error.source, "skipped", reason="not a BSM trail")


def _convert_one(writer: _BackgroundWriter, path: str, options: _Options,
                 on_bytes: Callable[[int], None] | None) -> FileReport:
    if path == STDIN:
        report = FileReport(path, "converted")
        tokens = writer.store.file_tokens  # the queue is empty: the last input ended
        writer.begin_input(None)
        _pump(writer, _read(path, 0, options, on_bytes), report)
        return _settled(report, writer.end_input(), writer.store.file_tokens - tokens)
    plan = writer.plan(Path(path))
    if not plan.needs_work:
        return _skipped(plan, on_bytes)
    report = FileReport(path, "resumed" if plan.start_offset else "converted",
                        reason=plan.reason)
    if on_bytes and plan.start_offset:
        on_bytes(plan.start_offset)
    tokens = writer.store.file_tokens  # the queue is empty: plan() waited for it
    writer.begin_input(Path(path))
    _pump(writer, _read(path, plan.start_offset, options, on_bytes), report)
    seen = plan.start_offset + report.bytes
    end = resume_point(seen, plan.size, report.damage)
    _settled(report, writer.end_input(), writer.store.file_tokens - tokens)
    writer.commit_source(Path(path), end_offset=end, records=report.records,
                         damaged=len(report.damage), damage=report.damage, seen_size=seen)
    return report


def resume_point(end: int, size: int, damage: list[Damage]) -> int:
    """Where the next conversion of this trail starts: before a record cut off by the
    end of the file, whatever the file is called, so that a trail that grows gets that
    record whole next time (the cut is still reported as damage now)."""
    if damage and end == size:
        last = damage[-1]
        if last.offset + last.length == size and last.reason.startswith("truncated record"):
            damage[-1] = dataclasses.replace(
                last, reason=last.reason + " (read again if the trail grows)")
            return last.offset
    return end


def _settled(report: FileReport, known: int, file_tokens: int = 0) -> FileReport:
    """Count the records identity dropped, and not the stand-alone file tokens added
    (rows, not records: summary does not count them either); an input that added
    nothing says so."""
    report.known = known
    report.records -= known + file_tokens
    if report.records == 0 and known:
        report.action = "skipped"
        report.reason = f"all {known:,} of its records are already in the dataset"
    return report


def _skipped(plan: SourcePlan, on_bytes: Callable[[int], None] | None) -> FileReport:
    if on_bytes and plan.size:
        on_bytes(plan.size)
    return FileReport(str(plan.source), "skipped", reason=plan.reason,
                      reported=list(plan.reported))


def _read(path: str, start: int, options: _Options,
          on_bytes: Callable[[int], None] | None) -> Iterator[DecodeResult]:
    return read_trail(path, start_offset=start, strict=options.strict, tables=options.tables,
                      open_ended=path != STDIN and is_open_trail(path),
                      chunk_size=options.chunk_size, on_bytes=on_bytes, keep_raw=True)


def _pump(writer: _BackgroundWriter, results: Iterator[DecodeResult], report: FileReport) -> None:
    for result in results:
        writer.write(result.table, result.raw, result.raw_base)
        report.records += result.records
        report.bytes += result.consumed
        report.damage.extend(result.damage)


# --- several files at once: knox_analytics.parallel -----------------------------------

def _convert_parallel(writer: _BackgroundWriter, paths: list[tuple[str, bool]], options: _Options,
                      jobs: int, on_bytes: Callable[[int], None] | None) -> list[FileReport]:
    """Plan here, convert in ``jobs`` workers (see :mod:`knox_analytics.parallel`); stdin
    and inputs that overlap others of the run are converted here, one at a time."""
    from knox_analytics.parallel import convert_parallel

    reports: list[FileReport | None] = []
    work: list[tuple[SourcePlan, bool]] = []
    slots: list[int] = []
    for path, found in paths:
        plan = None if path == STDIN else writer.plan(Path(path))
        if plan is None:
            reports.append(_convert_guarded(writer, path, found, options, on_bytes))
        elif not plan.needs_work:
            reports.append(_skipped(plan, on_bytes))
        else:
            slots.append(len(reports))
            reports.append(None)
            work.append((plan, found))

    outcomes = convert_parallel(writer, work, jobs=jobs, label=writer.store.label,
                                compression=writer.store.compression, tables=options.tables,
                                chunk_size=options.chunk_size, strict=options.strict,
                                on_bytes=on_bytes, open_ended=is_open_trail)
    # every adopted input's source is committed before any overlapping one is redone
    for slot, outcome in zip(slots, outcomes, strict=True):
        if outcome.status != "redo":
            reports[slot] = _settle(writer, outcome)
    for slot, outcome in zip(slots, outcomes, strict=True):
        if outcome.status == "redo":
            reports[slot] = _convert_guarded(writer, str(outcome.plan.source), outcome.found,
                                             options, None)
    return [r for r in reports if r is not None]


def _settle(writer: _BackgroundWriter, outcome: Outcome) -> FileReport:
    """The report of an input the workers converted, its source committed."""
    plan, merged = outcome.plan, outcome.result
    if outcome.status == "not_bsm":
        return not_a_trail(NotBSMError(str(plan.source), merged.not_bsm or ""), outcome.found)
    damage = [Damage(**d) for d in merged.damage]
    seen = merged.consumed_end if merged.consumed_end is not None else plan.start_offset
    end = resume_point(seen, plan.size, damage)
    report = FileReport(str(plan.source), "resumed" if plan.start_offset else "converted",
                        merged.records, end - plan.start_offset, damage, plan.reason)
    _settled(report, merged.known, merged.file_tokens)
    writer.commit_source(plan.source, end_offset=end, records=report.records,
                         damaged=len(damage), damage=damage, occurrences=merged.occurrences,
                         seen_size=seen)
    return report
