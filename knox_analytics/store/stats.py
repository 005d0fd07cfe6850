"""Per-part statistics: what ``knox summary`` reports, counted once when a part is written.

Every part file carries, in its Parquet footer (key :data:`STATS_KEY`), the counts the
summary adds up: records, time range, records by event, by audit-class string, by user
id, execs by command name and failures by event and errno.  They are written with the
part (:func:`knox_analytics.store.parts.stage_part_file`, compaction's
:func:`~knox_analytics.store.writer.merge_parts`), so they are as atomic as the part
itself and follow it through every commit; a summary then reads a few kilobytes per part
instead of every record.  A part written before statistics existed gets them counted
once from its columns (:func:`read_stats`) and kept in the dataset's cache.

The counting rules are those of the question views, restated over Arrow columns (the
store layer does not run SQL): a "record" is a row of ``events`` (stand-alone file tokens
excluded), a user is ``COALESCE(NULLIF(auid, unset), euid)`` (``sql/10_events.sql``), an
exec is a row of ``execs`` and its command ``COALESCE(basename(paths[1]), argv[1])``
(``sql/24_execs.sql``, ``sql/30_commands.sql``).  ``tests/store/test_stats.py`` holds the
two to the same answers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from knox_analytics.bsm.process_events import IMAGE_EVENTS
from knox_analytics.bsm.tokens import AUT_OTHER_FILE32, UNSET_AUID
from knox_analytics.errors import InputError
from knox_analytics.store.safefs import make_dirs, protection_of_dataset, write_atomic

#: The footer key holding a part's statistics (JSON).
STATS_KEY = b"knox_analytics.stats"
#: Bump when what is counted changes: statistics of another format are counted anew.
STATS_FORMAT = 1
#: The exec events of the ``execs`` view (sql/24_execs.sql): the image-loading events.
EXEC_EVENTS = IMAGE_EVENTS
#: The columns counting reads (a part without statistics is read for these only).
COLUMNS = ["header_token", "event", "event_name", "event_classes", "auid", "euid", "time",
           "success", "return_errno", "errno_name", "paths", "argv"]
#: Where statistics counted after the fact are kept (inside the dataset's cache).
CACHE_SUBDIR = "stats"

#: Lists of ``[key..., count]`` rows, and how many key fields each row has.
LISTS = {"events": 2, "classes": 1, "uids": 1, "commands": 1, "failures": 4}


def empty_stats() -> dict[str, Any]:
    """The statistics of no records."""
    return {"format": STATS_FORMAT, "records": 0, "time": None,
            **{name: [] for name in LISTS}}


def part_stats(table: pa.Table) -> dict[str, Any]:
    """Count what the summary needs in ``table`` (rows of the knox schema, or at least
    :data:`COLUMNS`), vectorized: a handful of Arrow group-bys."""
    t = table.select(COLUMNS)
    t = t.filter(pc.not_equal(t["header_token"], AUT_OTHER_FILE32))
    out = empty_stats()
    out["records"] = t.num_rows
    if not t.num_rows:
        return out
    span = pc.min_max(pc.cast(t["time"], pa.int64()))
    if span["min"].is_valid:
        out["time"] = [span["min"].as_py(), span["max"].as_py()]
    names = {c: pc.cast(t[c], pa.string()) for c in ("event_name", "event_classes", "errno_name")}
    auid = t["auid"]
    uid = pc.coalesce(pc.if_else(pc.equal(auid, UNSET_AUID), pa.scalar(None, auid.type), auid),
                      t["euid"])
    out["events"] = _counts({"e": t["event"], "n": names["event_name"]})
    out["classes"] = _counts({"c": names["event_classes"]})
    out["uids"] = _counts({"u": uid})
    failed = pc.invert(t["success"])
    out["failures"] = _counts({"e": t["event"].filter(failed),
                               "n": names["event_name"].filter(failed),
                               "r": t["return_errno"].filter(failed),
                               "x": names["errno_name"].filter(failed)})
    execs = pc.is_in(names["event_name"], value_set=pa.array(EXEC_EVENTS))
    if pc.any(execs).as_py():
        paths = _first(t["paths"].filter(execs))
        base = pc.struct_field(pc.extract_regex(paths, r"(?P<b>[^/]*)$"), "b")
        out["commands"] = _counts({"c": pc.coalesce(base, _first(t["argv"].filter(execs)))})
    return out


def _first(lists: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Each list's first element (null for a null or empty list): SQL's ``xs[1]``."""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    offsets = lists.offsets.to_numpy()
    present = (offsets[1:] > offsets[:-1]) & lists.is_valid().to_numpy(zero_copy_only=False)
    return pc.take(lists.values, pa.array(offsets[:-1], mask=~present))


def _counts(columns: dict[str, Any]) -> list[list[Any]]:
    table = pa.table(columns)
    if not table.num_rows:
        return []
    grouped = table.group_by(list(columns), use_threads=False).aggregate([([], "count_all")])
    keys = [grouped[k].to_pylist() for k in columns]
    return [[*row[:-1], int(row[-1])] for row in zip(*keys, grouped["count_all"].to_pylist(),
                                                      strict=True)]


def merge_stats(many: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The statistics of the union of parts (counts add up, time ranges widen)."""
    out = empty_stats()
    counters: dict[str, Counter] = {name: Counter() for name in LISTS}
    lo = hi = None
    for stats in many:
        out["records"] += stats["records"]
        if stats["time"] is not None:
            a, b = stats["time"]
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
        for name, width in LISTS.items():
            for row in stats[name]:
                counters[name][tuple(row[:width])] += row[width]
    out["time"] = None if lo is None else [lo, hi]
    for name in LISTS:
        out[name] = [[*key, n] for key, n in counters[name].items()]
    return out


def encode(stats: dict[str, Any]) -> bytes:
    """Statistics as the footer value (compact JSON)."""
    return json.dumps(stats, separators=(",", ":")).encode()


def footer_stats(path: Path) -> dict[str, Any] | None:
    """The statistics in a part's footer (None: written before them, or another format)."""
    meta = pq.read_metadata(path).metadata or {}
    return decoded_stats(meta.get(STATS_KEY))


def decoded_stats(raw: bytes | None) -> dict[str, Any] | None:
    """Statistics from a footer value (None: absent, unreadable or another format)."""
    if raw is None:
        return None
    try:
        stats = json.loads(raw)
    except ValueError:
        return None
    return stats if isinstance(stats, dict) and stats.get("format") == STATS_FORMAT else None


def read_stats(root: Path, part: str, cache: Path | None = None) -> dict[str, Any]:
    """The statistics of the committed ``part`` (relative to ``root``): from its footer,
    else from ``cache`` (a directory), else counted from its columns now and kept in
    ``cache`` when it can be written (a read-only dataset is counted each time)."""
    path = Path(root) / part
    stats = footer_stats(path)
    if stats is not None:
        return stats
    kept = None if cache is None else cache / f"{Path(part).name}.v{STATS_FORMAT}.json"
    if kept is not None and kept.is_file():
        stats = decoded_stats(kept.read_bytes())
        if stats is not None:
            return stats
    parquet = pq.ParquetFile(path)
    stats = merge_stats(part_stats(parquet.read_row_group(g, columns=COLUMNS))
                        for g in range(parquet.num_row_groups))
    if kept is not None:
        _keep(Path(root), kept, encode(stats))
    return stats


def _keep(root: Path, path: Path, data: bytes) -> None:
    """Write a cache file whole or not at all, as protected as the dataset (never through
    a link); a cache that cannot be written is no error (counted again next time)."""
    try:
        protection = protection_of_dataset(root)
        make_dirs(root, str(path.parent.relative_to(root)), protection)
        write_atomic(path, data, protection)
    except (OSError, InputError, ValueError):
        return

