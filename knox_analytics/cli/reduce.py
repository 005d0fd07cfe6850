"""``knox reduce``: auditreduce — the selected records written back as a BSM trail.

Parse -> :func:`knox_analytics.reduce.auditreduce_filters` (auditreduce's single-letter
flags on top of knox's long filter options) -> :func:`knox_analytics.reduce.reduce_records`
-> stdout (never a terminal: binary records are for a file or a pipe).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from knox_analytics.cli.common import (
    TablesOption,
    Tz,
    Users,
    damaged_exit,
    derive_progress,
    report_damage,
    report_skipped,
    with_filters,
)
from knox_analytics.errors import UsageError
from knox_analytics.questions import Filters


def _opt(flag: str, text: str) -> typer.models.OptionInfo:
    return typer.Option(flag, help=text, show_default=False)


@with_filters(long_only=True)
def reduce_cmd(
    inputs: Annotated[list[str] | None, typer.Argument(
        help="Trail files (.gz/.bz2/.xz too), directories of trails, '-' for stdin, or a "
        "dataset directory. Default: stdin.", show_default=False)] = None,
    m: Annotated[list[str] | None, _opt(
        "-m", "Event name (exact) or number; repeatable.")] = None,
    c: Annotated[str | None, _opt("-c", "Class expression (audit_control: lo,+fc,-fr).")
                 ] = None,
    u: Annotated[str | None, _opt("-u", "Audit user id (or name with --users).")] = None,
    e: Annotated[str | None, _opt("-e", "Effective user id (or name with --users).")
                 ] = None,
    r: Annotated[str | None, _opt("-r", "Real user id (or name with --users).")] = None,
    f_: Annotated[int | None, _opt("-f", "Effective group id.")] = None,
    g: Annotated[int | None, _opt("-g", "Real group id.")] = None,
    j: Annotated[int | None, _opt("-j", "Subject process id.")] = None,
    a: Annotated[str | None, _opt(
        "-a", "At or after YYYYMMDD[HH[MM[SS]]] (in --tz).")] = None,
    b: Annotated[str | None, _opt(
        "-b", "Up to and including the second YYYYMMDD[HH[MM[SS]]] (in --tz).")] = None,
    d: Annotated[str | None, _opt("-d", "The day YYYYMMDD (in --tz).")] = None,
    o: Annotated[list[str] | None, _opt(
        "-o", "file=RE[,~RE] (path tokens, extended regular expressions; first match "
        "decides) or pid=N (a process token).")] = None,
    v: Annotated[bool, typer.Option("-v", help="Invert the selection.")] = False,
    users: Users = None, tz: Tz = "UTC", tables: TablesOption = "auto",
    f: Filters = Filters(),
) -> None:
    """Write the selected records as a BSM trail (auditreduce): byte-identical records,
    for a file or a pipe.

    auditreduce's flags keep auditreduce's meanings (-u audit user, -e effective user,
    -c class, -m event, -a/-b/-d times in --tz: auditreduce reads them in the local zone,
    so give --tz local to match it); the long options are the question filters.

    Example: knox reduce -m AUE_EXECVE -u 501 trail.bsm | knox print -ln -
    """
    from knox_analytics.reduce import auditreduce_filters, reduce_records

    if sys.stdout.isatty():
        raise UsageError("refusing to write binary audit records to a terminal; redirect "
                         "them to a file or pipe them, e.g. `knox reduce -m AUE_EXECVE "
                         "TRAIL | knox print -l -`")
    selection = auditreduce_filters(f, m=m or (), c=c, u=u, e=e, r=r, f=f_, g=g, j=j, a=a,
                                    b=b, d=d, o=o or (), v=v, tz=tz)
    damage: list = []
    skipped: list[tuple[str, str]] = []

    def on_damage(item: object) -> None:
        damage.append(item)
        report_damage([item])  # type: ignore[list-item]

    reduce_records(list(inputs or []), selection, sys.stdout.buffer, users=users,
                   tables=tables, on_damage=on_damage, skipped=skipped,
                   derive_progress=derive_progress)
    report_skipped(skipped)
    damaged_exit(damage)


def register(app: typer.Typer) -> None:
    """Add ``knox reduce`` to the app."""
    app.command("reduce", no_args_is_help=False)(reduce_cmd)
