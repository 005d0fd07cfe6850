"""Convert trails into the Parquet dataset: the library function behind ``knox convert``.

>>> from knox_analytics.convert import convert
>>> summary = convert(["/var/audit"], "audit-parquet")  # doctest: +SKIP
>>> summary.records, [str(d) for d in summary.damage]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.decode import DecodeResult
from knox_analytics.bsm.reader import DEFAULT_CHUNK, STDIN, read_trail
from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.errors import NotBSMError
from knox_analytics.inputs import expand
from knox_analytics.schema import SCHEMA
from knox_analytics.store import DatasetWriter
from knox_analytics.store.plan import SourcePlan


@dataclass
class FileReport:
    """What happened to one input."""

    path: str
    action: str  # "converted", "resumed", "skipped"
    records: int = 0
    bytes: int = 0
    damage: list[Damage] = field(default_factory=list)
    reason: str = ""


@dataclass
class ConvertSummary:
    """Totals of one conversion run."""

    output: Path
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def damage(self) -> list[Damage]:
        return [d for f in self.files for d in f.damage]

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0


def is_open_trail(path: str) -> bool:
    """Is auditd still appending to this trail?  Then its last record may be incomplete.

    auditd names the trail it writes ``START.not_terminated`` and points ``current`` at
    it; on rotation it renames it ``START.END``.
    """
    name = os.path.basename(path)
    return name == "current" or name.endswith(".not_terminated")


def convert(inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], *,
            overwrite: bool = False, strict: bool = False, host: str | None = None,
            tables: Tables | None = None, chunk_size: int | None = None, jobs: int = 1,
            on_bytes: Callable[[int], None] | None = None) -> ConvertSummary:
    """Convert trail files, directories of trails, or ``-`` (stdin) into a dataset.

    Inputs already converted are skipped; a trail that grew is converted from where the
    last run stopped (see :mod:`knox_analytics.store`).  Damaged byte ranges are skipped
    and reported in the summary; ``strict`` raises at the first one instead.  ``jobs > 1``
    decodes that many files at once in worker processes while this one writes Parquet.
    """
    tables = tables or load_tables()
    summary = ConvertSummary(Path(output))
    started = time.perf_counter()
    options = _Options(strict, tables, chunk_size or DEFAULT_CHUNK)
    paths = expand([os.fspath(p) for p in inputs])
    with DatasetWriter(Path(output), host=host, overwrite=overwrite) as store, \
            _BackgroundWriter(store) as writer:
        if jobs > 1 and len(paths) > 1:
            summary.files = _convert_parallel(writer, paths, options, jobs, on_bytes)
        else:
            summary.files = [_convert_guarded(writer, path, found, options, on_bytes)
                             for path, found in paths]
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

    def write(self, table: pa.Table) -> None:
        self._submit(self.store.write, table)

    def commit_source(self, source: Path, **kwargs: int) -> None:
        self._submit(self.store.commit_source, source, **kwargs)

    def plan(self, source: Path) -> SourcePlan:
        done = self._submit(self.store.plan, source)
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
        _pump(writer, _read(path, 0, options, on_bytes), report)
        return report
    plan = writer.plan(Path(path))
    if not plan.needs_work:
        return _skipped(plan, on_bytes)
    report = FileReport(path, "resumed" if plan.start_offset else "converted",
                        reason=plan.reason)
    if on_bytes and plan.start_offset:
        on_bytes(plan.start_offset)
    _pump(writer, _read(path, plan.start_offset, options, on_bytes), report)
    writer.commit_source(Path(path), end_offset=plan.start_offset + report.bytes,
                         records=report.records, damaged=len(report.damage))
    return report


def _skipped(plan: SourcePlan, on_bytes: Callable[[int], None] | None) -> FileReport:
    if on_bytes and plan.size:
        on_bytes(plan.size)
    return FileReport(str(plan.source), "skipped", reason=plan.reason)


def _read(path: str, start: int, options: _Options,
          on_bytes: Callable[[int], None] | None) -> Iterator[DecodeResult]:
    return read_trail(path, start_offset=start, strict=options.strict, tables=options.tables,
                      open_ended=path != STDIN and is_open_trail(path),
                      chunk_size=options.chunk_size, on_bytes=on_bytes)


def _pump(writer: _BackgroundWriter, results: Iterator[DecodeResult], report: FileReport) -> None:
    for result in results:
        writer.write(result.table)
        report.records += result.records
        report.bytes += result.consumed
        report.damage.extend(result.damage)


# --- several files at once ------------------------------------------------------------
# Workers decode whole files into Arrow IPC files in a staging directory; this process
# streams them into the one DatasetWriter (which owns the manifest and the lock), so the
# workers' decoding overlaps with Parquet encoding here.

@dataclass
class _Decoded:
    ipc: str
    consumed: int = 0
    records: int = 0
    damage: list[Damage] = field(default_factory=list)
    # (source, detail) of a NotBSMError: exceptions with custom arguments do not survive
    # the trip back from a worker process, their parts do.
    not_bsm: tuple[str, str] | None = None


def _decode_to_ipc(path: str, start: int, options: _Options, staging: str) -> _Decoded:
    fd, ipc = tempfile.mkstemp(suffix=".arrow", dir=staging)
    os.close(fd)
    out = _Decoded(ipc)
    try:
        with pa.OSFile(ipc, "wb") as sink, pa.ipc.new_stream(sink, SCHEMA) as stream:
            for result in _read(path, start, options, None):
                stream.write_table(result.table)
                out.consumed += result.consumed
                out.records += result.records
                out.damage.extend(result.damage)
    except NotBSMError as exc:
        out.not_bsm = (exc.source, exc.detail)
    return out


def _convert_parallel(writer: _BackgroundWriter, paths: list[tuple[str, bool]], options: _Options,
                      jobs: int, on_bytes: Callable[[int], None] | None) -> list[FileReport]:
    reports: list[FileReport] = []
    staging = tempfile.mkdtemp(prefix=".knox-staging-", dir=writer.root)
    try:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            pending = []
            for path, found in paths:
                plan = None if path == STDIN else writer.plan(Path(path))
                fut = (pool.submit(_decode_to_ipc, path, plan.start_offset, options, staging)
                       if plan is not None and plan.needs_work else None)
                pending.append((path, found, plan, fut))
            for path, found, plan, fut in pending:  # in input order: deterministic output
                if plan is None:
                    reports.append(_convert_guarded(writer, path, found, options, on_bytes))
                elif fut is None:
                    reports.append(_skipped(plan, on_bytes))
                else:
                    reports.append(_collect(writer, found, plan, fut.result(), on_bytes))
    finally:
        for leftover in Path(staging).glob("*"):
            leftover.unlink()
        os.rmdir(staging)
    return reports


def _collect(writer: _BackgroundWriter, found: bool, plan: SourcePlan, decoded: _Decoded,
             on_bytes: Callable[[int], None] | None) -> FileReport:
    path = str(plan.source)
    if decoded.not_bsm is not None:
        return not_a_trail(NotBSMError(*decoded.not_bsm), found)
    with pa.memory_map(decoded.ipc) as source:
        for batch in pa.ipc.open_stream(source):
            writer.write(pa.Table.from_batches([batch]))
    os.unlink(decoded.ipc)
    writer.commit_source(plan.source, end_offset=plan.start_offset + decoded.consumed,
                         records=decoded.records, damaged=len(decoded.damage))
    if on_bytes:
        on_bytes(plan.start_offset + decoded.consumed)
    return FileReport(path, "resumed" if plan.start_offset else "converted",
                      decoded.records, decoded.consumed, decoded.damage, plan.reason)
