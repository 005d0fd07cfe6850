"""Convert trails into the Parquet dataset: the library function behind ``knox convert``.

>>> from knox_analytics.convert import convert
>>> summary = convert(["/var/audit"], "audit-parquet")  # doctest: +SKIP
>>> summary.records, [str(d) for d in summary.damage]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.reader import STDIN, expand_inputs_found, read_trail
from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.errors import NotBSMError
from knox_analytics.store import DatasetWriter


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
            tables: Tables | None = None, chunk_size: int | None = None,
            on_bytes: Callable[[int], None] | None = None) -> ConvertSummary:
    """Convert trail files, directories of trails, or ``-`` (stdin) into a dataset.

    Inputs already converted are skipped; a trail that grew is converted from where the
    last run stopped (see :mod:`knox_analytics.store`).  Damaged byte ranges are skipped
    and reported in the summary; ``strict`` raises at the first one instead.
    """
    tables = tables or load_tables()
    summary = ConvertSummary(Path(output))
    started = time.perf_counter()
    kwargs = {"chunk_size": chunk_size} if chunk_size else {}
    with DatasetWriter(Path(output), host=host, overwrite=overwrite) as writer:
        for path, found in expand_inputs_found([os.fspath(p) for p in inputs]):
            try:
                report = _convert_one(writer, path, strict=strict, tables=tables,
                                      on_bytes=on_bytes, **kwargs)
            except NotBSMError:
                if not found:
                    raise
                # A README or checksum file beside the trails in a directory.
                report = FileReport(path, "skipped", reason="not a BSM trail")
            summary.files.append(report)
    summary.seconds = time.perf_counter() - started
    return summary


def _convert_one(writer: DatasetWriter, path: str, *, strict: bool, tables: Tables,
                 on_bytes: Callable[[int], None] | None, **kwargs: int) -> FileReport:
    if path == STDIN:
        report = FileReport(path, "converted")
        _pump(writer, read_trail(path, strict=strict, tables=tables, on_bytes=on_bytes,
                                 **kwargs), report)
        return report
    plan = writer.plan(Path(path))
    if not plan.needs_work:
        if on_bytes and plan.size:
            on_bytes(plan.size)
        return FileReport(path, "skipped", reason=plan.reason)
    report = FileReport(path, "resumed" if plan.start_offset else "converted",
                        reason=plan.reason)
    if on_bytes and plan.start_offset:
        on_bytes(plan.start_offset)
    results = read_trail(path, start_offset=plan.start_offset, strict=strict, tables=tables,
                         open_ended=is_open_trail(path), on_bytes=on_bytes, **kwargs)
    _pump(writer, results, report)
    writer.commit_source(Path(path), end_offset=plan.start_offset + report.bytes,
                         records=report.records, damaged=len(report.damage))
    return report


def _pump(writer: DatasetWriter, results, report: FileReport) -> None:  # noqa: ANN001
    for result in results:
        writer.write(result.table)
        report.records += result.records
        report.bytes += result.consumed
        report.damage.extend(result.damage)
