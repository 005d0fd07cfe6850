"""``knox convert`` on Spark: the same dataset, decoded by many tasks.

>>> from knox_analytics.spark import convert, local_session
>>> spark = local_session()                                     # doctest: +SKIP
>>> summary = convert(spark, ["/fleet/trails"], "audit-parquet")  # doctest: +SKIP

The driver plans exactly as ``knox convert`` does (a :class:`DatasetWriter` holds the
dataset lock and the manifest; each trail is skipped, resumed or converted by content),
cuts the work into byte ranges (:mod:`knox_analytics.bsm.ranges`: a trail bigger than
``split_bytes`` is split at record boundaries, never loaded whole), packs small ranges
together so that a task reads about ``split_bytes``, and runs one Spark task per pack
with ``mapInArrow``: each decodes with the same vectorized decoder and writes its own part files
(:mod:`.parts`).  Only when every task has succeeded does the driver list the parts and
the converted trails in the manifest -- the commit point, as for ``knox convert``.

Inputs and output are paths that the driver and every executor see (local disk in
``local[*]`` mode; a shared file system -- NFS, a mounted bucket -- on a cluster).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from knox_analytics.bsm.ranges import DEFAULT_SPLIT, TrailRange, split_trail
from knox_analytics.bsm.reader import STDIN
from knox_analytics.convert import (
    ConvertSummary,
    FileReport,
    is_open_trail,
    not_a_trail,
    resume_point,
)
from knox_analytics.errors import DamagedTrailError, NotBSMError, UsageError
from knox_analytics.inputs import expand
from knox_analytics.spark.parts import remove_parts
from knox_analytics.spark.tasks import REPORT_DDL, damage_from, decode_ids, task_batches
from knox_analytics.store import DatasetWriter
from knox_analytics.store.occurrences import OCC_DTYPE, merge_counts
from knox_analytics.store.plan import SourcePlan


def convert(spark: Any, inputs: Sequence[str | os.PathLike[str]],
            output: str | os.PathLike[str], *, overwrite: bool = False,
            strict: bool = False, host: str | None = None,
            split_bytes: int | None = None, derive: bool | None = None) -> ConvertSummary:
    """Convert trails (files or directories of trails) into the dataset at ``output``.

    Same arguments and result as :func:`knox_analytics.convert.convert` (``spark`` is a
    ``pyspark.sql.SparkSession``); ``split_bytes`` is the work of one task (default
    :data:`~knox_analytics.bsm.ranges.DEFAULT_SPLIT`, as ``knox convert --jobs``).  Stdin
    cannot be read by a cluster: use ``knox convert`` for ``-``.  After the commit, the
    driver extends the dataset's derived process state as every writer does
    (:func:`knox_analytics.derived.after_commit`; ``derive`` as for ``knox convert``).
    """
    started = time.perf_counter()
    split_bytes = split_bytes or DEFAULT_SPLIT
    paths = expand([os.fspath(p) for p in inputs])
    if any(path == STDIN for path, _ in paths):
        raise UsageError("--engine spark reads files, not stdin ('-'); use knox convert")
    summary = ConvertSummary(Path(output))
    with DatasetWriter(Path(output), host=host, overwrite=overwrite) as writer:
        plans = [(writer.plan(Path(path)), found) for path, found in paths]
        work = [p for p, _ in plans if p.needs_work]
        reports = _run(spark, writer, work, host, split_bytes) if work else {}
        parts = [part for r in reports.values() for part in r["parts"]]
        priors = {str(p.source): writer.prior_occurrences(p) for p in work}
        if _conflicts(reports, priors):
            # identical records in two tasks: the tasks could not number them (the
            # multiset rule); rare (a trail and its copy in one run, a trail holding
            # another's records): convert the run's inputs here, one at a time
            remove_parts(str(writer.root), parts)
            summary.files = _convert_here(writer, plans, strict)
            summary.seconds = time.perf_counter() - started
            return summary
        by_path = _by_path(reports)
        try:
            summary.files = [_report(plan, found, by_path.get(str(plan.source), []), strict)
                             for plan, found in plans]
        except BaseException:
            remove_parts(str(writer.root), parts)
            raise
        # Parts first: a commit inside commit_source must never list a trail as
        # converted without the parts that hold its rows.
        writer.adopt(tuple(pair) for pair in parts)
        for hosts in _hosts(reports).values():  # each input's hosts: one machine
            writer.add_machine(hosts)
        for r in reports.values():
            for rng in r["ranges"]:
                for key, ids in rng.get("added", {}).items():
                    writer.index.add(key, decode_ids(ids))
        counts = _counts(reports)
        for report, (plan, _found) in zip(summary.files, plans, strict=True):
            if plan.needs_work and report.bytes:
                prior = priors.get(str(plan.source))
                occurrences = merge_counts([*([prior] if prior is not None else []),
                                            *counts.get(str(plan.source), [])])
                writer.commit_source(plan.source, end_offset=plan.start_offset + report.bytes,
                                     records=report.records, damaged=len(report.damage),
                                     damage=report.damage, occurrences=occurrences)
    if summary.records:
        from knox_analytics.derived import after_commit

        summary.derive_seconds = after_commit(Path(output), derive)
    summary.seconds = time.perf_counter() - started
    return summary


def _hosts(reports: dict[int, dict]) -> dict[str, set[str]]:
    """Per input path, the host keys its ranges' records name."""
    out: dict[str, set[str]] = defaultdict(set)
    for report in reports.values():
        for rng in report["ranges"]:
            out[rng["path"]].update(rng.get("hosts", ()))
    return out


def _counts(reports: dict[int, dict]) -> dict[str, list]:
    """Per input path, its ranges' occurrence counts."""
    out: dict[str, list] = defaultdict(list)
    for report in reports.values():
        for rng in report["ranges"]:
            if rng.get("counts"):
                out[rng["path"]].append(decode_ids(rng["counts"], OCC_DTYPE))
    return out


def _conflicts(reports: dict[int, dict], priors: dict[str, Any]) -> bool:
    """Did two ranges keep the same record, or do two ranges of one input (or a range
    and the part of a grown trail converted before) hold identical records, which the
    tasks numbered apart?"""
    import numpy as np

    added: dict[str, list] = defaultdict(list)
    for report in reports.values():
        for rng in report["ranges"]:
            for key, ids in rng.get("added", {}).items():
                added[key].append(decode_ids(ids))
    keys = [[c["key"] for c in [*([priors[p]] if priors.get(p) is not None else []), *cs]]
            for p, cs in _counts(reports).items()]
    for groups in [*added.values(), *keys]:
        if len(groups) > 1:
            each = np.concatenate(groups)
            if len(np.unique(each)) < len(each):
                return True
    return False


def _convert_here(writer: DatasetWriter, plans: list[tuple[SourcePlan, bool]],
                  strict: bool) -> list[FileReport]:
    """Convert the inputs in this process, through the driver's writer."""
    from knox_analytics.bsm.reader import DEFAULT_CHUNK
    from knox_analytics.bsm.tables import load_tables
    from knox_analytics.convert import _BackgroundWriter, _convert_guarded, _Options

    options = _Options(strict, load_tables(), DEFAULT_CHUNK)
    with _BackgroundWriter(writer) as background:
        return [_convert_guarded(background, str(plan.source), found, options, None)
                for plan, found in plans]


def plan_tasks(plans: Sequence[SourcePlan], split_bytes: int) -> list[list[TrailRange]]:
    """Cut the trails into ranges and pack them into tasks of about ``split_bytes``."""
    tasks: list[list[TrailRange]] = []
    current: list[TrailRange] = []
    size = 0
    for plan in plans:
        path = str(plan.source)
        for rng in split_trail(path, plan.start_offset, plan.size, split_bytes=split_bytes,
                               open_ended=is_open_trail(path)):
            current.append(rng)
            size += (rng.stop if rng.stop is not None else plan.size) - rng.start
            if size >= split_bytes:
                tasks.append(current)
                current, size = [], 0
    if current:
        tasks.append(current)
    return tasks


def _run(spark: Any, writer: DatasetWriter, work: list[SourcePlan], host: str | None,
         split_bytes: int) -> dict[int, dict]:
    """Run the tasks on Spark; the reports by task number."""
    run = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    specs = [(n, json.dumps({"root": str(writer.root.resolve()), "label": host,
                             "prefix": f"{run}-t{n:05d}",
                             "ranges": [asdict(r) for r in ranges]}))
             for n, ranges in enumerate(plan_tasks(work, split_bytes))]
    # One partition per task: Spark schedules them independently (and retries one alone).
    rdd = spark.sparkContext.parallelize(specs, numSlices=len(specs))
    frame = spark.createDataFrame(rdd, "task INT, spec STRING")
    rows = frame.mapInArrow(task_batches, REPORT_DDL).collect()
    return {row["task"]: json.loads(row["report"]) for row in rows}


def _report(plan: SourcePlan, found: bool, ranges: list[dict], strict: bool) -> FileReport:
    """What happened to one trail, from its ranges' reports (raises like knox convert)."""
    path = str(plan.source)
    if not plan.needs_work:
        return FileReport(path, "skipped", reason=plan.reason)
    ranges = sorted(ranges, key=lambda r: r["start"])
    not_bsm = [r["not_bsm"] for r in ranges if r["not_bsm"] is not None]
    if not_bsm:
        return not_a_trail(NotBSMError(path, not_bsm[0]), found)
    damage = [d for r in ranges for d in damage_from(r)]
    if strict and damage:
        d = damage[0]
        raise DamagedTrailError(d.source, d.offset, d.length, d.reason)
    end = resume_point(ranges[-1]["end"], plan.size, damage)
    known = sum(r.get("known", 0) for r in ranges)
    report = FileReport(path, "resumed" if plan.start_offset else "converted",
                        sum(r["rows"] - r.get("file_tokens", 0) for r in ranges),
                        end - plan.start_offset,
                        damage, plan.reason, known)
    if report.records == 0 and known:
        report.action = "skipped"
        report.reason = f"all {known:,} of its records are already in the dataset"
    return report


def _by_path(reports: dict[int, dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for report in reports.values():
        for rng in report["ranges"]:
            out[rng["path"]].append(rng)
    return out
