"""What the live commands share (``auditpipe``, ``paudit``, ``pwait``, ``capture``, live
``commands``, ``logins``, ``network`` and ``detect``): the ``--source``, ``--follow``,
``--sudo`` and ``--naflags`` options, defined once, and opening the audit pipe or a
``--source`` the same way.

The decoder is not imported here: ``auditpipe`` and ``capture`` open sources without it.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from knox_analytics.bsm.classes import parse_classes
from knox_analytics.cli.common import warn
from knox_analytics.errors import UsageError
from knox_analytics.live import auditon as A
from knox_analytics.live import privilege
from knox_analytics.live.device import PipeStats
from knox_analytics.live.source import Source, open_source

SourceOpt = Annotated[str | None, typer.Option(
    "--source", help="Live: read this file, FIFO or '-' (stdin) instead of /dev/auditpipe.",
    show_default=False)]
FollowOpt = Annotated[str | None, typer.Option(
    "--follow", help="Live: tail -f this trail (e.g. /var/audit/current), across auditd's "
    "rotations.", show_default=False)]
SudoOpt = Annotated[bool, typer.Option(
    "--sudo", help="When the audit pipe or --source is not readable, have the privileged "
    "helper open it through sudo (with --follow: re-run knox through sudo; "
    "docs/real-hosts.md).")]
NaflagsOpt = Annotated[str | None, typer.Option(
    "--naflags", help="Classes for non-attributable events (default: same as the classes).")]


def say(message: str) -> None:
    """A live command's message on stderr: ``knox: message`` (the callbacks' form)."""
    warn(f"knox: {message}")


def use_helper(source: str | None, sudo: bool) -> bool:
    """Whether the privileged helper opens an unreadable source: when asked (or a tty
    says yes), never for a readable one."""
    path = source if source is not None else "/dev/auditpipe"
    if not privilege.needs_sudo([path]):
        return False
    return sudo or (sys.stdin.isatty() and sys.stderr.isatty() and typer.confirm(
        f"{privilege.unreadable_reason(path)}. Open it with sudo?", err=True))


def escalate_if_needed(source: str | None, sudo: bool) -> None:
    """Re-exec the whole command through sudo (only ``--follow``, which reopens its trail
    by name across rotations; needs a sudo rule for knox itself, not just the helper)."""
    path = source if source is not None else "/dev/auditpipe"
    if not privilege.needs_sudo([path]):
        return
    if sudo or (sys.stdin.isatty() and sys.stderr.isatty() and typer.confirm(
            f"{privilege.unreadable_reason(path)}. Re-run with sudo?", err=True)):
        privilege.reexec_with_sudo()


def warn_if_not_auditing(source: str | None, platform: str = sys.platform,
                         api: Callable[[], A.Auditon] = A.Auditon, *,
                         sudo: bool = False) -> None:
    """From the audit pipe: say at once when the kernel is not auditing (it stays silent).
    ``sudo``: the condition needs root here, so the privileged helper reads it."""
    if source is not None or not platform.startswith(("darwin", "freebsd")):
        return
    if sudo and os.geteuid() != 0:
        warning = A.warning_for(privilege.helper_output("auditon", "getcond"), platform)
    else:
        warning = A.condition_warning(api())
    if warning is not None:
        say(warning)


def open_classes(source: str | None, classes: str, naflags: str | None,
                 sudo: bool) -> Source:
    """The audit pipe (or ``source``) opened for ``classes``, through the helper if need be."""
    helper = use_helper(source, sudo)
    warn_if_not_auditing(source, sudo=helper)
    flags = parse_classes(classes)
    na = parse_classes(naflags) if naflags is not None else flags
    return open_source(source, flags, na, sudo=helper)


def print_stats(stats: PipeStats) -> None:
    """The audit pipe's drop and truncation counts, said on stderr."""
    say(f"audit pipe: {stats.drops} dropped, {stats.truncates} truncated")


def refuse_selected_capture(source: str | None, classes: str, naflags: str | None) -> None:
    """A capture keeps a file or stream byte for byte (it resumes a file by its offsets),
    so classes are selected on the way in, by ``knox auditpipe``: say so, never ignore them."""
    from knox_analytics.live.preselect import selects_everything

    flags = parse_classes(classes)
    if source is None or selects_everything(
            flags, parse_classes(naflags) if naflags is not None else flags):
        return
    na = f" --naflags {shlex.quote(naflags)}" if naflags is not None else ""
    raise UsageError(f"{source}: a capture selects classes from /dev/auditpipe only; from a "
                     f"file or stream select them on the way in: knox auditpipe "
                     f"{shlex.quote(classes)}{na} --source {shlex.quote(source)} | "
                     "knox capture --source - --out DIR")
