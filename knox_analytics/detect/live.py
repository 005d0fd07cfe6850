"""``knox detect --follow TRAIL`` / ``--source FILE|-``: the same rules over each batch.

Each decoded batch is run through :func:`knox_analytics.detect.run.detect` with a small
carried prefix of earlier records in front of it, so that the offline SQL sees what it
needs from the past:

- per pid, the record that started it and its last exit (process instances and parents,
  as live ``knox commands`` carries them) and its last successful exec (ParentImage,
  ParentCommandLine, the alert's command line);
- every record of the last ``window`` (the rule set's longest correlation timespan,
  at most :data:`MAX_WINDOW_MS`): a correlation's window runs across batches.

Only alerts whose last evidence record is in the new batch are reported (an alert found
again in the carried prefix was reported with its batch).  Evidence offsets are the
stream's, not the scratch file's.  The carried prefix is bounded by the pid space plus
one window of records.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from knox_analytics.bsm.reader import Batch
from knox_analytics.detect.rules import RuleSet
from knox_analytics.detect.run import ALERT_SCHEMA, detect

#: The longest look-back carried between batches (ms).
MAX_WINDOW_MS = 3_600_000
#: What one carried record is: its time, bytes and place in the stream.
Carried = tuple[Any, bytes, str, int]

_KEEP = {
    "start": "SELECT s.child_pid AS pid, r.time, r.\"offset\", r.length FROM process_starts "
             "AS s JOIN records AS r USING (\"offset\")",
    "exit": "SELECT pid, time, \"offset\", length FROM records WHERE is_exit_event(event_name)",
    "exec": "SELECT x.exec_pid AS pid, x.time, x.\"offset\", r.length FROM execs x "
            "JOIN records r USING (\"offset\") WHERE x.success",
}


def window_ms(ruleset: RuleSet) -> int:
    """The longest correlation window of ``ruleset`` (ms), capped."""
    spans = [int(r.correlation["timespan_ms"]) for r in ruleset.rules
             if r.correlation and r.compiled]
    return min(max(spans, default=0), MAX_WINDOW_MS)


class DetectOverStream:
    """Alerts of ``ruleset`` for each batch of a stream, carrying what the SQL needs."""

    def __init__(self, ruleset: RuleSet, users: Any = None, min_level: str = "low",
                 workdir: Path | None = None) -> None:
        from knox_analytics.engine import load_users

        self.ruleset, self.min_level, self._dir = ruleset, min_level, workdir
        self.users = load_users(users)
        self.window = window_ms(ruleset)
        self._by_pid: dict[str, dict[int, Carried]] = {k: {} for k in _KEEP}
        self._tail: list[Carried] = []

    def _carried(self) -> list[Carried]:
        seen: dict[tuple[str, int], Carried] = {}
        for table in self._by_pid.values():
            for rec in table.values():
                seen[(rec[2], rec[3])] = rec
        for rec in self._tail:
            seen[(rec[2], rec[3])] = rec
        return sorted(seen.values(), key=lambda r: (r[0], r[2], r[3]))

    def answer(self, batch: Batch) -> pa.Table:
        """The alerts whose last evidence record is in ``batch``."""
        from knox_analytics.catalog import Catalog

        if batch.records == 0:
            return ALERT_SCHEMA.empty_table()
        carried = self._carried()
        prefix = b"".join(r[1] for r in carried)
        places = []  # scratch offset -> (source, stream offset)
        at = 0
        for rec in carried:
            places.append((at, rec[2], rec[3]))
            at += len(rec[1])
        data = prefix + batch.data
        where = {p[0]: (p[1], p[2]) for p in places}
        with tempfile.TemporaryDirectory(dir=self._dir, prefix="knox-detect-") as tmp:
            trail = Path(tmp) / "batch.bsm"
            trail.write_bytes(data)
            with Catalog([trail], users=self.users) as cat:
                alerts = detect(cat, self.ruleset, min_level=self.min_level)
                self._carry(cat, data, batch, len(prefix), where)
        return _new_only(alerts, len(prefix), batch, where)

    def _carry(self, cat: Any, data: bytes, batch: Batch, prefix: int,
               places: dict[int, tuple[str, int]]) -> None:
        def place(off: int) -> tuple[str, int]:
            return places[off] if off < prefix else (batch.source, batch.offset + off - prefix)

        for kind, sql in _KEEP.items():
            for row in cat.query(f'SELECT * FROM ({sql}) ORDER BY time, "offset"').to_pylist():
                if row["pid"] is None:
                    continue
                off = int(row["offset"])
                self._by_pid[kind][int(row["pid"])] = (
                    row["time"], data[off:off + row["length"]], *place(off))
        if self.window:
            rows = cat.query(
                "SELECT time, \"offset\", length FROM records WHERE NOT "
                "is_file_token(header_token) AND time >= (SELECT max(time) FROM records) "
                f"- INTERVAL {self.window} MILLISECONDS ORDER BY time, \"offset\"").to_pylist()
            self._tail = [(r["time"], data[int(r["offset"]):int(r["offset"]) + r["length"]],
                           *place(int(r["offset"]))) for r in rows]


def _new_only(alerts: pa.Table, prefix: int, batch: Batch,
              places: dict[int, tuple[str, int]]) -> pa.Table:
    rows = []
    for a in alerts.to_pylist():
        evidence = a["evidence"] or []
        if not evidence or max(e["offset"] for e in evidence) < prefix:
            continue
        for e in evidence:
            off = e["offset"]
            e["source"], e["offset"] = places.get(off, (batch.source,
                                                        batch.offset + off - prefix))
        rows.append(a)
    return pa.Table.from_pylist(rows, schema=ALERT_SCHEMA)


def live_alert_tables(ruleset: RuleSet, source: str | None = None, follow: bool = False,
                      *, users: Any = None, min_level: str = "low",
                      stop: Callable[[], bool] | None = None, poll: float = 0.25,
                      on_stats: Callable[[Any], None] | None = None,
                      read_size: int | None = None) -> Iterator[pa.Table]:
    """Alert tables as records arrive from the audit pipe, ``source`` or a followed
    trail (every audit class: the rules read logins, files and sockets too)."""
    from knox_analytics.live.stream import live_chunks

    runner = DetectOverStream(ruleset, users, min_level)
    for batch in live_chunks(source, classes="all", follow=follow, stop=stop, poll=poll,
                             on_stats=on_stats, read_size=read_size):
        table = runner.answer(batch)
        if table.num_rows:
            yield table
