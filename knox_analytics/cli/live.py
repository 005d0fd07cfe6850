"""Live commands: ``auditpipe``, ``auditon``, ``paudit``, ``pwait``.

Each is parse -> one library call in :mod:`knox_analytics.live` -> render.  On Linux,
``--source FILE|FIFO|-`` replaces ``/dev/auditpipe``.  The decoder (numpy, pyarrow) is
imported only by the commands that decode (paudit, pwait, auditpipe --parquet):
``auditpipe`` and ``auditon`` run without it (docs/real-hosts.md).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from knox_analytics.bsm.classes import AuMask, load_class_table, parse_classes
from knox_analytics.cli.pipe import (
    NaflagsOpt,
    SourceOpt,
    SudoOpt,
    escalate_if_needed,
    open_classes,
    print_stats,
    refuse_selected_capture,
    say,
    use_helper,
    warn_if_not_auditing,
)
from knox_analytics.errors import UsageError
from knox_analytics.live import auditon as A
from knox_analytics.live import privilege, proc
from knox_analytics.live.device import report_stats
from knox_analytics.live.source import Source, read_chunks
from knox_analytics.live.units import parse_duration


def _refuse_terminal() -> None:
    if sys.stdout.isatty():
        raise UsageError("refusing to write binary audit records to a terminal; "
                         "pipe them, e.g. `knox auditpipe pc | knox print`")


def _open_selected(source: str | None, classes: str, naflags: str | None,
                   sudo: bool) -> Source:
    """:func:`~knox_analytics.cli.pipe.open_classes`, then a file, FIFO or stdin source
    preselected as the audit pipe would be (live/preselect.py): ``--source`` gives what
    ``/dev/auditpipe`` would."""
    from knox_analytics.live.preselect import preselected

    src = open_classes(source, classes, naflags, sudo)
    flags = parse_classes(classes)
    return preselected(src, flags, parse_classes(naflags) if naflags is not None else flags)


def auditpipe(
    classes: Annotated[str, typer.Argument(help="audit_control(5) classes, e.g. 'pc,+fc,-fr'.")],
    source: SourceOpt = None,
    naflags: NaflagsOpt = None,
    parquet: Annotated[Path | None, typer.Option(
        "--parquet", help="Capture into this directory (segments + Parquet) instead.")] = None,
    sudo: SudoOpt = False,
) -> None:
    """Stream raw audit records of CLASSES to stdout (never to a terminal).

    Example: knox auditpipe pc,ex | knox print
    """
    if parquet is None:
        _refuse_terminal()
    else:
        refuse_selected_capture(source, classes, naflags)
    src = _open_selected(source, classes, naflags, sudo)
    try:
        if parquet is not None:
            from knox_analytics.live.capture import Capture, CaptureConfig, protection_of_source

            summary = Capture(parquet, CaptureConfig(), on_message=say,
                              protection=protection_of_source(src)).run(src)
            say(summary.line())
            return
        out = sys.stdout.buffer
        for chunk, _offset in report_stats(read_chunks(src), src, print_stats, 60.0):
            out.write(chunk)
            out.flush()
    finally:
        src.close()


def _running_processes(source: str | None, platform: str = sys.platform,
                       lister: Callable[[str], list[proc.Process]] | None = None
                       ) -> proc.ProcessList | None:
    """The platform's process list when reading the live audit pipe, else None.

    A list that cannot be read is said once and paudit goes on with new processes only.
    """
    if source is not None or not platform.startswith(("darwin", "freebsd")):
        return None
    from knox_analytics.live.processes import ProcessListError, list_processes

    def running() -> list[proc.Process]:
        try:
            return (lister or list_processes)(platform)
        except ProcessListError as exc:
            say(f"{exc}; following only processes started from now on")
            return []

    return running


def paudit(
    names: Annotated[list[str] | None, typer.Argument(
        help="Program names (exec'd path basename).")] = None,
    pid: Annotated[list[int] | None, typer.Option(
        "--pid", help="Also follow this running process and its descendants; repeatable."
    )] = None,
    source: SourceOpt = None,
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="SOURCE is a trail file being appended to: tail -f it.")] = False,
    sudo: SudoOpt = False,
) -> None:
    """Pass through raw records of processes NAME... and all their descendants.

    From the audit pipe it also follows those already running (the kernel's process list).

    Example: knox paudit sshd | knox print
    """
    if not names and not pid:
        raise UsageError("paudit: give a program NAME or --pid PID")
    _refuse_terminal()
    if follow:
        escalate_if_needed(source, sudo)
    helper = not follow and use_helper(source, sudo)
    warn_if_not_auditing(source, sudo=helper)
    out = sys.stdout.buffer
    for record in proc.paudit(names or [], source, follow=follow, on_stats=print_stats,
                              pids=pid or (), processes=_running_processes(source),
                              sudo=helper):
        out.write(record)
        out.flush()


def pwait(
    names: Annotated[list[str], typer.Argument(help="Program names to wait for.")],
    source: SourceOpt = None,
    timeout: Annotated[str | None, typer.Option(
        "--timeout", help="Give up after this long (e.g. 30s, 5min): exit status 1.")] = None,
    sudo: SudoOpt = False,
) -> None:
    """Block until a process named NAME execs; print its pid and command line.

    Example: knox pwait --timeout 5min make && echo "make started"
    """
    seconds = parse_duration(timeout) if timeout is not None else None
    helper = use_helper(source, sudo)
    warn_if_not_auditing(source, sudo=helper)
    row = proc.pwait(names, source, timeout=seconds, sudo=helper)
    if row is None:
        say(f"pwait: no exec of {', '.join(names)} "
             + (f"within {timeout}" if timeout else "before the end of input"))
        raise typer.Exit(1)
    typer.echo(f"{row['pid']} {shlex.join(row['argv'] or [])}")


# --- knox auditon ---------------------------------------------------------------------------
auditon_app = typer.Typer(
    help="Read and change the kernel audit settings through auditon(2) (macOS, FreeBSD)."
    "\n\nExample: knox auditon getpolicy",
    no_args_is_help=True,
)
PidArg = Annotated[int, typer.Argument(help="Process id.")]
EventArg = Annotated[str, typer.Argument(help="Event number or name, e.g. 23 or AUE_EXECVE.")]
ClassesArg = Annotated[str, typer.Argument(help="audit_control(5) classes, e.g. pc,+fc.")]
PolicyArg = Annotated[str, typer.Argument(
    help="Policy flags: cnt, ahlt, argv, arge (all the macOS and FreeBSD kernels accept).")]
AuditonSudoOpt = Annotated[bool, typer.Option(
    "--sudo", help="Run it through sudo by the privileged helper: the kernel audit "
    "settings need root.")]


def _api(sudo: bool, verb: str, *args: object) -> A.Auditon:
    """The auditon(2) commands; with ``--sudo`` (not root) the command ``verb args`` is
    handed to the privileged helper instead (``auditon VERB ARG...``, which checks its
    arguments itself and runs it as root): knox itself never runs as root."""
    if sudo and os.geteuid() != 0:
        privilege.exec_helper("auditon", verb, *map(str, args))
    return A.Auditon()


def _mask_text(mask: AuMask) -> str:
    expr = mask.to_expression(load_class_table()) or "no"
    return f"{expr} (success 0x{mask.success:08x}, failure 0x{mask.failure:08x})"


def _class_text(bits: int) -> str:
    return f"{AuMask(bits, bits).to_expression(load_class_table()) or 'no'} (0x{bits:08x})"


def _class_bits(expr: str) -> int:
    mask = parse_classes(expr)
    return mask.success | mask.failure


@auditon_app.command("getpolicy")
def getpolicy(sudo: AuditonSudoOpt = False) -> None:
    """Print the audit policy flags.

    Example: knox auditon getpolicy
    """
    typer.echo(A.policy_names(_api(sudo, "getpolicy").getpolicy()))


@auditon_app.command("setpolicy")
def setpolicy(policy: PolicyArg, sudo: AuditonSudoOpt = False) -> None:
    """Add policy flags.

    Example: knox auditon setpolicy argv,arge --sudo
    """
    A.parse_policy(policy)  # a name the kernel rejects: say so before asking for sudo
    api = _api(sudo, "setpolicy", policy)
    typer.echo(A.policy_names(A.change_policy(api, policy, on=True)))


@auditon_app.command("unsetpolicy")
def unsetpolicy(policy: PolicyArg, sudo: AuditonSudoOpt = False) -> None:
    """Remove policy flags.

    Example: sudo knox auditon unsetpolicy arge
    """
    A.parse_policy(policy)
    api = _api(sudo, "unsetpolicy", policy)
    typer.echo(A.policy_names(A.change_policy(api, policy, on=False)))


@auditon_app.command("getmask")
def getmask(pid: PidArg, sudo: AuditonSudoOpt = False) -> None:
    """Print the preselection mask of process PID.

    Example: knox auditon getmask 1
    """
    typer.echo(_mask_text(_api(sudo, "getmask", pid).getpinfo(pid).mask))


@auditon_app.command("setmask")
def setmask(pid: PidArg, classes: ClassesArg, sudo: AuditonSudoOpt = False) -> None:
    """Add CLASSES to the preselection mask of process PID.

    Example: sudo knox auditon setmask 4242 +fc,-fr
    """
    api = _api(sudo, "setmask", pid, classes)
    typer.echo(_mask_text(A.change_mask(api, pid, parse_classes(classes), on=True)))


@auditon_app.command("unsetmask")
def unsetmask(pid: PidArg, classes: ClassesArg, sudo: AuditonSudoOpt = False) -> None:
    """Remove CLASSES from the preselection mask of process PID.

    Example: sudo knox auditon unsetmask 4242 fr
    """
    api = _api(sudo, "unsetmask", pid, classes)
    typer.echo(_mask_text(A.change_mask(api, pid, parse_classes(classes), on=False)))


@auditon_app.command("getclass")
def getclass(event: EventArg, sudo: AuditonSudoOpt = False) -> None:
    """Print the classes of EVENT.

    Example: knox auditon getclass AUE_EXECVE
    """
    typer.echo(_class_text(_api(sudo, "getclass", event).getclass(A.event_number(event))))


@auditon_app.command("setclass")
def setclass(event: EventArg, classes: ClassesArg, sudo: AuditonSudoOpt = False) -> None:
    """Add CLASSES to EVENT.

    Example: sudo knox auditon setclass AUE_OPEN_R fr
    """
    api = _api(sudo, "setclass", event, classes)
    bits = A.change_class(api, A.event_number(event), _class_bits(classes), on=True)
    typer.echo(_class_text(bits))


@auditon_app.command("unsetclass")
def unsetclass(event: EventArg, classes: ClassesArg, sudo: AuditonSudoOpt = False) -> None:
    """Remove CLASSES from EVENT.

    Example: sudo knox auditon unsetclass AUE_OPEN_R fr
    """
    api = _api(sudo, "unsetclass", event, classes)
    bits = A.change_class(api, A.event_number(event), _class_bits(classes), on=False)
    typer.echo(_class_text(bits))


def _echo_fields(values: dict[str, int]) -> None:
    for key, value in values.items():
        typer.echo(f"{key}: {value}")


@auditon_app.command("getqctrl")
def getqctrl(sudo: AuditonSudoOpt = False) -> None:
    """Print the kernel audit queue parameters.

    Example: knox auditon getqctrl
    """
    _echo_fields(_api(sudo, "getqctrl").getqctrl())


@auditon_app.command("getstat")
def getstat(sudo: AuditonSudoOpt = False) -> None:
    """Print the audit statistics (the macOS and FreeBSD kernels do not implement it).

    Example: knox auditon getstat
    """
    _echo_fields(_api(sudo, "getstat").getstat())


@auditon_app.command("getcond")
def getcond(sudo: AuditonSudoOpt = False) -> None:
    """Print the audit condition (auditing, noaudit, unset, disabled).

    Example: knox auditon getcond
    """
    typer.echo(_api(sudo, "getcond").getcond())


@auditon_app.command("getkmask")
def getkmask(sudo: AuditonSudoOpt = False) -> None:
    """Print the kernel mask for non-attributable events.

    Example: knox auditon getkmask
    """
    typer.echo(_mask_text(_api(sudo, "getkmask").getkmask()))


@auditon_app.command("getfsize")
def getfsize(sudo: AuditonSudoOpt = False) -> None:
    """Print the maximum and current trail file size.

    Example: knox auditon getfsize
    """
    _echo_fields(_api(sudo, "getfsize").getfsize())



def register(app: typer.Typer) -> None:
    """Add the live commands to the knox app."""
    app.command("auditpipe")(auditpipe)
    app.command("paudit")(paudit)
    app.command("pwait")(pwait)
    app.add_typer(auditon_app, name="auditon")
