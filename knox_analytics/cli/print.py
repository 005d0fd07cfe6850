"""``knox print``: praudit-compatible text and XML, or JSON Lines, from trails or Parquet.

Parse -> ``iter_inputs`` (trails, stdin, Parquet) -> (the question filters, when given:
auditreduce's job) -> ``render_stream`` -> write each chunk to stdout as soon as it is
rendered (so ``cat trail | knox print -`` prints while input still arrives).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import typer

from knox_analytics.bsm.damage import Damage
from knox_analytics.cli.common import (
    Classes,
    Command,
    Event,
    Failed,
    Groups,
    PathGlob,
    Pid,
    Since,
    TablesOption,
    Tz,
    Until,
    User,
    Users,
    damaged_exit,
    filters,
    report_damage,
    report_skipped,
)
from knox_analytics.errors import UsageError
from knox_analytics.questions import Filters
from knox_analytics.render.inputs import iter_inputs
from knox_analytics.render.names import IdNames
from knox_analytics.render.stream import render_stream
from knox_analytics.render.tokenfmt import PrintOptions

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
    since: Since = None, until: Until = None, user: User = None, pid: Pid = None,
    command: Command = None, path: PathGlob = None, failed: Failed = False,
    classes: Classes = None, event: Event = None,
    users: Users = None, groups: Groups = None, tz: Tz = "UTC",
    tables: TablesOption = "auto",
) -> None:
    """Print audit records like praudit (byte-identical text), as XML, or as JSON Lines.

    The question filters (--since, --until, --user, --event, --class, --pid, --path,
    --command, --failed) select records as auditreduce does, from trails and datasets
    alike. Times are shown in --tz (UTC by default; --tz local prints as praudit does).

    Example: knox print -ln /var/audit/current | grep execve
    """
    if raw and short:
        raise UsageError("-r and -s are mutually exclusive (as in praudit)")
    if json and xml:
        raise UsageError("--json and -x are mutually exclusive")
    if not inputs and sys.stdin.isatty():  # as auditpipe(4) readers do: nothing comes
        raise UsageError("knox print reads a trail from stdin, which is a terminal: give "
                         "a TRAIL or DATASET, or pipe one in (knox auditpipe | knox print)")
    _set_zone(tz)
    f = filters(since, until, user, pid, command, path, failed, classes, event)
    opts = PrintOptions(raw=raw, short=short, resolve=not numeric, oneline=oneline,
                        delimiter=delimiter, xml=xml, ids=_id_names(users, groups),
                        tables=tables)
    report, skipped = _DamageReport(partial), []
    decoded = iter_inputs(list(inputs or []), report, skipped=skipped)
    if f != Filters():
        decoded = _selected(list(inputs or []), f, users, decoded)
    out = sys.stdout.buffer
    for chunk in render_stream(decoded, opts, json=json):
        out.write(chunk)
        out.flush()
    report_skipped(skipped)
    damaged_exit(report.damage)


def _set_zone(tz: str) -> None:
    """praudit formats times with localtime(3): point TZ at the zone asked for."""
    if tz == "local":
        return
    from knox_analytics.cli.output import resolve_tz

    os.environ["TZ"] = resolve_tz(tz)
    time.tzset()


def _id_names(users: str | None, groups: str | None) -> IdNames:
    """Names from the audited machine's files; ``local`` asks this machine."""
    from knox_analytics.userdb import read_id_file

    def table(given: str | None, default: dict[int, str]) -> dict[int, str] | None:
        if given == "local":
            return None  # IdNames asks the host
        return read_id_file(given) if given else dict(default)

    return IdNames(users=table(users, DEFAULT_USERS), groups=table(groups, DEFAULT_GROUPS))


def _selected(inputs: list[str], f: Filters, users: str | None, decoded: object) -> object:
    from knox_analytics.select import keep_selected, selected_keys

    if not inputs or "-" in inputs:
        raise UsageError("the filters need TRAIL or DATASET arguments (stdin is read once); "
                         "save the stream to a file first")
    return keep_selected(decoded, selected_keys(inputs, f, users))


def register(app: typer.Typer) -> None:
    """Add ``knox print`` to the app."""
    app.command("print", no_args_is_help=False)(print_cmd)
