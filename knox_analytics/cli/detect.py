"""``knox detect``: run Sigma rules (the shipped pack by default) over trails and datasets.

Parse → :func:`knox_analytics.detect.load_ruleset` and :func:`knox_analytics.detect.detect`
→ render.  ``--coverage`` lists the rules and whether each compiles (and why not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from knox_analytics.cli.common import (
    Force,
    Format,
    Inputs,
    Output,
    Tz,
    Users,
    damaged_exit,
    emit,
    open_catalog,
    warn,
)
from knox_analytics.cli.exits import EXIT_ALERTED
from knox_analytics.cli.pipe import FollowOpt, SourceOpt, SudoOpt
from knox_analytics.errors import UsageError
from knox_analytics.words import count

#: Columns of the terminal table (files get every column).
TABLE_COLUMNS = ("time", "level", "title", "host", "user", "euser", "pid", "command_line",
                 "parent_chain", "evidence")

Rules = Annotated[list[Path] | None, typer.Option(
    "--rules", "-r", help="Sigma rule file or directory (repeatable); the shipped pack "
    "when not given.", show_default=False)]
FailOn = Annotated[str | None, typer.Option(
    "--fail-on", help="Exit 4 when an alert at or above this level was raised: "
    "informational, low, medium, high or critical.", show_default=False)]
MinLevel = Annotated[str, typer.Option(
    "--min-level", help="Show alerts at or above this level (informational rules are "
    "hunting aids: ask for them with --min-level informational).")]
New = Annotated[bool, typer.Option(
    "--new", help="Only the alerts no earlier --new run of these rules reported over this "
    "DATASET: the records committed since then, plus a look-back of twice the longest "
    "correlation window, so a correlation spanning two runs and a host converted late "
    "are seen. The position is kept in DATASET/_knox_cache/detect-new/ (delete it to "
    "start over).")]
Coverage = Annotated[bool, typer.Option(
    "--coverage", help="List the rules, one line each: compiled, or why not (no INPUTS "
    "needed).")]


def detect(inputs: Inputs = None, rules: Rules = None, new: New = False,
           coverage: Coverage = False, min_level: MinLevel = "low", fail_on: FailOn = None,
           fmt: Format = "table",
           output: Output = None, force: Force = False, users: Users = None,
           tz: Tz = "UTC", source: SourceOpt = None, follow: FollowOpt = None,
           sudo: SudoOpt = False) -> None:
    """Run Sigma rules over trails and datasets and print the alerts.

    Each alert names its rule (id, title, level, author), time, host, login and
    effective user, pid, command line, parent chain, session and the evidence records
    (source and byte offset). The shipped pack runs when no --rules is given.

    With no TRAIL or DATASET and --follow TRAIL or --source FILE|FIFO|-, runs live: the
    same rules over each batch as records arrive, correlation windows carried across.

    With --new over one DATASET, only what is new since the last --new run of the
    same rules (e.g. after each conversion, from cron).

    Example: knox detect /var/audit --fail-on high

    Example: knox detect audit-parquet --new
    """
    from knox_analytics.detect import LEVELS, level_at_least, load_ruleset
    from knox_analytics.detect import detect as run

    for flag, value in (("--fail-on", fail_on), ("--min-level", min_level)):
        if value is not None and value not in LEVELS:
            raise UsageError(f"{flag} {value!r}: expected one of {', '.join(LEVELS)}")
    ruleset = load_ruleset(list(rules) if rules else None)
    if coverage:
        _coverage(ruleset)
        return
    if not inputs and (source is not None or follow is not None):
        _live(ruleset, source, follow, sudo, users, min_level, fmt, output, fail_on, tz)
        return
    if source is not None or follow is not None:
        raise UsageError("--source and --follow are for live detection: give no TRAIL or "
                         "DATASET with them")
    if not inputs:
        raise UsageError("give TRAIL or DATASET inputs, --follow/--source (live), or "
                         "--coverage to check the rules")
    if new:
        _one_dataset(inputs)
    for r in ruleset.rules:
        if not r.compiled:
            warn(f"knox: {r.path}: rule {r.title!r} skipped: {r.reason}")
    with open_catalog(inputs, users) as cat:
        if new:
            from knox_analytics.detect.incremental import new_alerts

            fresh = new_alerts(cat, ruleset, min_level=min_level)
            alerts = fresh.alerts
        else:
            alerts = run(cat, ruleset, min_level=min_level)
        shown = alerts
        if fmt == "table" and output is None:
            shown = _for_terminal(alerts)
        elif fmt == "csv":
            shown = _flat_evidence(alerts)
        emit(shown, fmt, output, force=force, title="alerts", tz=tz)
        if new and not fresh.new_parts:
            warn("knox: no new records since the last --new run of these rules")
        elif not alerts.num_rows:
            n = sum(r.compiled for r in ruleset.rules)
            warn(f"knox: no {'new ' if new else ''}alert ({count(n, 'rule')} ran)")
        if new:
            why = fresh.save()
            if why:
                warn(f"knox: --new: the position could not be saved ({why}): the next "
                     "--new run reports these alerts again")
    damaged_exit(cat.damage)
    if fail_on and any(level_at_least(lv, fail_on) for lv in
                       alerts.column("level").to_pylist()):
        raise typer.Exit(EXIT_ALERTED)


def _one_dataset(inputs: list[Path]) -> None:
    """--new remembers what it examined in a dataset: exactly one, written by knox."""
    from knox_analytics.store import MANIFEST_NAME

    if len(inputs) != 1 or not (Path(inputs[0]) / MANIFEST_NAME).is_file():
        raise UsageError("--new reads one DATASET (a directory knox convert wrote): it "
                         "remembers there what it examined")


def _live(ruleset: object, source: str | None, follow: str | None, sudo: bool,
          users: str | None, min_level: str, fmt: str, output: Path | None,
          fail_on: str | None, tz: str = "UTC") -> None:
    """Print alerts as they are raised (ndjson, or one line each); exit 4 at the end when
    --fail-on saw one."""
    from knox_analytics.cli.live_commands import escape_controls, line_time
    from knox_analytics.cli.pipe import escalate_if_needed, print_stats
    from knox_analytics.cli.query import emit as emit_rows
    from knox_analytics.detect import level_at_least
    from knox_analytics.detect.live import live_alert_tables
    from knox_analytics.zones import zone

    if source is not None and follow is not None:
        raise UsageError("give --source or --follow, not both")
    if output is not None or fmt not in ("table", "ndjson"):
        raise UsageError("live detect prints to stdout as lines or --format ndjson")
    escalate_if_needed(follow if follow is not None else source, sudo)
    where = zone(tz)
    failed = False
    for table in live_alert_tables(ruleset, follow or source, follow is not None,  # type: ignore[arg-type]
                                   users=users, min_level=min_level,
                                   on_stats=print_stats):
        if fmt == "ndjson":
            emit_rows(table, "ndjson", None, tz=where)
        else:
            for row in _flat_evidence(table).to_pylist():  # type: ignore[attr-defined]
                typer.echo(escape_controls(
                    f"{line_time(row['time'], where, 6)} {row['level']} {row['title']}: "
                    f"pid {row['pid']} {row['command_line'] or '-'} [{row['evidence']}]"))
        failed = failed or (bool(fail_on) and any(
            level_at_least(lv, fail_on) for lv in table.column("level").to_pylist()))
    if failed:
        raise typer.Exit(EXIT_ALERTED)


def _coverage(ruleset: object) -> None:
    rules = ruleset.rules  # type: ignore[attr-defined]
    for r in rules:
        state = "compiled" if r.compiled else f"not compiled: {r.reason}"
        typer.echo(f"{r.path}: {r.title}: {state}")
    ok = sum(r.compiled for r in rules)
    # past tense: "0 of 1 rule compiled" needs no verb agreeing with either number
    typer.echo(f"{ok} of {count(len(rules), 'rule')} compiled")


def _flat_evidence(alerts: object) -> object:
    """Evidence as one text cell: ``source@offset`` (and ``#record_id``), space separated."""
    import pyarrow as pa

    table: pa.Table = alerts  # type: ignore[assignment]
    cells = [" ".join(f"{e['source']}@{e['offset']}" + (f"#{e['record_id']}" if
                      e["record_id"] else "") for e in (v or []))
             for v in table.column("evidence").to_pylist()]
    i = table.schema.get_field_index("evidence")
    return table.set_column(i, "evidence", pa.array(cells, pa.string()))


def _for_terminal(alerts: object) -> object:
    table = _flat_evidence(alerts)
    return table.select(list(TABLE_COLUMNS))  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    """Add ``knox detect`` to the knox app."""
    app.command("detect")(detect)
