"""``knox print``: praudit-compatible text and XML, or JSON Lines, from trails or Parquet.

Parse -> ``discover`` the inputs once -> ``iter_inputs`` (trails, stdin, Parquet) -> (the
question filters, when given: auditreduce's job) -> ``render_stream`` -> write each chunk
to stdout as soon as it is rendered (so ``cat trail | knox print -`` prints while input
still arrives).  Each input is decoded once, ``--command`` too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from knox_analytics.bsm.damage import Damage
from knox_analytics.cli.common import (
    Groups,
    TablesOption,
    Tz,
    Users,
    damaged_exit,
    derive_progress,
    report_damage,
    report_skipped,
    warn,
    with_filters,
)
from knox_analytics.errors import UsageError
from knox_analytics.inputs import Inputs, check_trails_found, discover
from knox_analytics.questions import Filters
from knox_analytics.render.names import IdNames
from knox_analytics.render.records import iter_input, iter_inputs
from knox_analytics.render.stream import render_stream
from knox_analytics.render.tokenfmt import PrintOptions
from knox_analytics.zones import zone

if TYPE_CHECKING:
    import pyarrow as pa

#: Names known without --users/--groups: uid 0 and gid 0 are root and wheel on every
#: macOS and FreeBSD machine; any other id is printed as a number rather than guessed
#: from this machine (whose gid 20 is not the Mac's "staff").
DEFAULT_USERS = {0: "root"}
DEFAULT_GROUPS = {0: "wheel"}


class _DamageReport:
    """Collects damaged spans; with ``-p`` the leading one (mid-stream start) is silent."""

    def __init__(self, partial: bool) -> None:
        self.partial, self.damage = partial, []

    def __call__(self, damage: Damage) -> None:
        if self.partial and damage.offset == 0 and damage.kind == "skipped":
            return  # -p: skipping to the first valid record is the point
        self.damage.append(damage)
        report_damage([damage])


@with_filters()
def print_cmd(
    inputs: Annotated[list[str] | None, typer.Argument(
        help="Trail files (.gz/.bz2/.xz too), directories of trails, '-' for stdin, or a "
        "dataset directory / .parquet file. Default: stdin.", show_default=False)] = None,
    oneline: Annotated[bool, typer.Option("-l", help="One record per line.")] = False,
    raw: Annotated[bool, typer.Option("-r", help="Raw numbers (events, errnos, times).")
                   ] = False,
    short: Annotated[bool, typer.Option("-s", help="Short event names (AUE_...).")] = False,
    numeric: Annotated[bool, typer.Option("-n", help="Do not turn uids/gids into names.")
                       ] = False,
    xml: Annotated[bool, typer.Option("-x", help="XML (well-formed, praudit's elements).")
                   ] = False,
    delimiter: Annotated[str, typer.Option("-d", help="Field delimiter.")] = ",",
    partial: Annotated[bool, typer.Option(
        "-p", help="Input starts mid-stream: skip silently to the first valid record.")
                       ] = False,
    json: Annotated[bool, typer.Option("--json", help="JSON Lines: one object per record "
                                       "(see docs/json.md).")] = False,
    users: Users = None, groups: Groups = None, tz: Tz = "UTC",
    tables: TablesOption = "auto", f: Filters = Filters(),
    records: Annotated[list[str] | None, typer.Option(
        "--records", metavar="ID", help="Only the dataset records with these record ids "
        "(32 hex digits, the record_id column; repeat or separate with commas).",
        show_default=False)] = None,
) -> None:
    """Print audit records like praudit (byte-identical text), as XML, or as JSON Lines.

    The question filters (--event, --class, --user, --auid, --pid, --path, --since,
    --until, ...) select records as on every question, from trails, datasets and stdin
    alike (--command needs files). knox reduce writes such a selection as a trail. Times
    are shown in --tz (UTC by default; --tz local prints as praudit does). Trails print
    as they are, repeated records included; a dataset prints each input's records in
    that input's order, the inputs merged by time.

    Example: knox print -ln /var/audit/current | grep execve
    """
    if raw and short:
        raise UsageError("-r and -s are mutually exclusive (as in praudit)")
    if json and xml:
        raise UsageError("--json and -x are mutually exclusive")
    if not inputs and sys.stdin.isatty():  # as auditpipe(4) readers do: nothing comes
        raise UsageError("knox print reads a trail from stdin, which is a terminal: give "
                         "a TRAIL or DATASET, or pipe one in (knox auditpipe | knox print)")
    opts = PrintOptions(raw=raw, short=short, resolve=not numeric, oneline=oneline,
                        delimiter=delimiter, xml=xml, ids=_id_names(users, groups),
                        tables=tables, zone=zone(tz))
    report, skipped = _DamageReport(partial), []
    found = discover(inputs or ["-"])  # once: each input is then decoded once
    if f.record_local():
        decoded = iter_inputs(found, report, skipped=skipped)
        if f != Filters():
            decoded = _selected(f, users, tables, decoded)
    else:
        decoded = _selected_whole(inputs or [], found, f, users, report, skipped)
    if records:
        from knox_analytics.select import keep_selected, records_by_id

        decoded = keep_selected(decoded, records_by_id(_record_ids(records)))
    out = sys.stdout.buffer
    for chunk in render_stream(decoded, opts, json=json):
        out.write(chunk)
        out.flush()
    # a directory holding no trail (/etc) is one line and exit 1, as on every command
    check_trails_found(found, skipped)
    report_skipped(skipped)
    damaged_exit(report.damage)


def _record_ids(given: list[str]) -> list[bytes]:
    from knox_analytics.store.identity import parse_id

    out = []
    for text in (t for value in given for t in value.split(",") if t.strip()):
        try:
            out.append(parse_id(text))
        except ValueError:
            raise UsageError(f"--records {text!r}: a record id is 32 hex digits (the "
                             "record_id column: hex(record_id) in knox query)") from None
    return out


def _id_names(users: str | None, groups: str | None) -> IdNames:
    """Names from the audited machine's files; ``local`` asks this machine."""
    from knox_analytics.userdb import read_id_file

    def table(given: str | None, default: dict[int, str]) -> dict[int, str] | None:
        if given == "local":
            return None  # IdNames asks the host
        return read_id_file(given) if given else dict(default)

    return IdNames(users=table(users, DEFAULT_USERS), groups=table(groups, DEFAULT_GROUPS))


def _selected(f: Filters, users: str | None, tables: str,
              decoded: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """The filtered stream, record by record (stdin too)."""
    from knox_analytics.questions import unknown_user
    from knox_analytics.select import RecordSelector

    selector = RecordSelector(f, users=users, tables=tables)
    for flag in ("user", "auid", "euid", "ruid"):
        value = getattr(f, flag)
        reason = unknown_user(selector.cat, value, flag) if value else None
        if reason:
            warn(f"knox: {reason}")
    return selector.select(decoded)


def _selected_whole(inputs: list[str], found: Inputs, f: Filters, users: str | None,
                    report: _DamageReport, skipped: list[tuple[str, str]]
                    ) -> Iterator[pa.Table]:
    """For --command (which needs each record's process): the selection over the whole
    input, each input decoded once."""
    from knox_analytics.select import keep_whole

    if not inputs or "-" in inputs:
        raise UsageError("--command needs the records before it (each record's process): "
                         "give the trail or dataset as a file (stdin is read once)")
    return keep_whole(found, lambda item: iter_input(item, report, skipped=skipped), f,
                      users, derive_progress)


def register(app: typer.Typer) -> None:
    """Add ``knox print`` to the app."""
    app.command("print", no_args_is_help=False)(print_cmd)
