"""The privileged helper ``--sudo`` runs: only what needs root, arguments checked here.

Run by sudo as ``python -I -m knox_analytics.live.helper VERB ARG...`` (the command line
a sudoers rule names: docs/real-hosts.md).  Three verbs, nothing else:

``pipe CLASSES NAFLAGS``
    open ``/dev/auditpipe``, apply the preselection for the two class expressions
    (audit_control(5) syntax, parsed here), and hand the open clone over;
``trail PATH``
    open a trail for reading, only a regular file under a directory named by a ``dir:``
    line of ``audit_control`` (``/var/audit`` by default), never through a link;
``auditon VERB [ARG...]``
    one of knox's ``auditon`` commands, with a pid, event, class or policy argument
    checked against its grammar.

The open descriptor goes to the unprivileged knox through ``SCM_RIGHTS`` when standard
output is a Unix socket (what ``--sudo`` sets up); otherwise its bytes are streamed to
standard output (``sudo … helper pipe pc | knox print``).  Decoding, writing and the
questions all run unprivileged.  Every refusal is one line and exit status 2 (1 when the
kernel or the file system refused).
"""

from __future__ import annotations

import os
import re
import socket
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from knox_analytics.errors import KnoxError, UsageError
from knox_analytics.live.privilege import HANDOFF

AUDIT_CONTROL = Path("/etc/security/audit_control")
DEFAULT_AUDIT_DIRS = ("/var/audit",)
#: A class expression: names, optional +/-/^ prefixes, commas (bsm/classes.py parses it).
_CLASSES = re.compile(r"^[\^+\-]{0,2}[a-z0-9_]{1,16}(,[\^+\-]{0,2}[a-z0-9_]{1,16}){0,63}$")
_PID = re.compile(r"^[1-9][0-9]{0,9}$")
_EVENT = re.compile(r"^([0-9]{1,5}|AUE_[A-Z0-9_]{1,40})$")
_POLICY = re.compile(r"^[a-z]{1,10}(,[a-z]{1,10}){0,15}$")
#: knox auditon verbs and the grammar of each argument.
AUDITON_VERBS: dict[str, tuple[re.Pattern[str], ...]] = {
    "getpolicy": (), "getqctrl": (), "getstat": (), "getcond": (), "getkmask": (),
    "getfsize": (), "setpolicy": (_POLICY,), "unsetpolicy": (_POLICY,),
    "getmask": (_PID,), "setmask": (_PID, _CLASSES), "unsetmask": (_PID, _CLASSES),
    "getclass": (_EVENT,), "setclass": (_EVENT, _CLASSES), "unsetclass": (_EVENT, _CLASSES),
}


def audit_dirs(control: Path = AUDIT_CONTROL) -> list[Path]:
    """The trail directories ``dir:`` lines of audit_control name (resolved)."""
    dirs: list[str] = []
    try:
        for line in control.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "dir" and value.strip():
                dirs.append(value.strip())
    except OSError:
        pass
    return [Path(os.path.realpath(d)) for d in (dirs or DEFAULT_AUDIT_DIRS)]


def check_trail(path: str, dirs: Sequence[Path]) -> Path:
    """``path`` resolved, when it is a regular file inside one of ``dirs``."""
    real = Path(os.path.realpath(path))
    if not any(real.is_relative_to(d) and real != d for d in dirs):
        raise UsageError(f"{path}: not under the audit directory ({', '.join(map(str, dirs))}, "
                         "the dir: lines of audit_control); the helper reads trails only there")
    return real


def open_trail(path: str, dirs: Sequence[Path]) -> int:
    """A read-only descriptor of the trail ``path`` (:func:`check_trail`); a FIFO or
    device there is refused without blocking on it."""
    real = check_trail(path, dirs)
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"{path}: not a regular file")
    return fd


def check_arguments(verb: str, args: Sequence[str]) -> None:
    """Refuse anything but a known auditon verb with arguments of its grammar."""
    grammar = AUDITON_VERBS.get(verb)
    if grammar is None:
        raise UsageError(f"auditon {verb}: not a verb the helper runs "
                         f"({', '.join(sorted(AUDITON_VERBS))})")
    if len(args) != len(grammar) or not all(g.match(a) for g, a in zip(grammar, args,
                                                                       strict=True)):
        raise UsageError(f"auditon {verb} {' '.join(args)}: bad arguments")


def check_classes(*exprs: str) -> None:
    for expr in exprs:
        if not _CLASSES.match(expr):
            raise UsageError(f"{expr!r}: not an audit class expression")


def hand_over(fd: int, kind: bytes, size: int, out: int = 1) -> None:
    """Send ``fd`` over ``out`` when it is a Unix socket, else copy its bytes there."""
    if stat.S_ISSOCK(os.fstat(out).st_mode):
        with socket.socket(fileno=os.dup(out)) as sock:
            socket.send_fds(sock, [HANDOFF.pack(kind, size)], [fd])
        return
    while data := os.read(fd, max(size, 1 << 16)):
        os.write(out, data)


def _pipe(classes: str, naflags: str, make_pipe: Callable[[str], Any] | None = None,
          out: int = 1) -> None:
    from knox_analytics.bsm.classes import parse_classes
    from knox_analytics.live.device import AUDITPIPE_PATH, AuditPipe

    check_classes(classes, naflags)
    pipe = (make_pipe or AuditPipe)(AUDITPIPE_PATH)
    try:
        size = pipe.configure(parse_classes(classes), parse_classes(naflags))
        hand_over(pipe.fd, b"pipe", size, out)
    finally:
        pipe.close()


def _auditon(verb: str, args: Sequence[str]) -> None:
    check_arguments(verb, args)
    import typer.main

    from knox_analytics.cli.live import auditon_app

    # never --sudo here: this process is already root, and the command runs in it
    typer.main.get_command(auditon_app)([verb, *args], prog_name="knox auditon",
                                        standalone_mode=False)


def main(argv: Sequence[str] | None = None,
         dirs: Callable[[], list[Path]] = audit_dirs,
         make_pipe: Callable[[str], Any] | None = None) -> int:
    """Run one verb (see the module docstring): 0; 2 with one line on a refusal, 1 when
    the kernel or the file system said no."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) == 3 and args[0] == "pipe":
            _pipe(args[1], args[2], make_pipe)
        elif len(args) == 2 and args[0] == "trail":
            fd = open_trail(args[1], dirs())
            try:
                hand_over(fd, b"file", 1 << 20)
            finally:
                os.close(fd)
        elif len(args) >= 2 and args[0] == "auditon":
            _auditon(args[1], args[2:])
        else:
            raise UsageError("usage: helper pipe CLASSES NAFLAGS | trail PATH | "
                             "auditon VERB [ARG...]")
    except UsageError as exc:
        print(f"knox helper: {exc}", file=sys.stderr)
        return 2
    except (KnoxError, OSError) as exc:
        print(f"knox helper: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
