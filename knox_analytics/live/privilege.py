"""Can we read it?  Say exactly why not, and ask the privileged helper only when told to.

A file the user can read is never a reason to escalate (knox's open TODO): the check is
``os.access`` on the very path, before any sudo is considered.  ``--sudo`` runs
:mod:`knox_analytics.live.helper` through sudo, which opens the audit pipe or a trail and
hands the descriptor back (:func:`helper_open`), or runs one ``auditon`` verb
(:func:`exec_helper`); knox itself stays unprivileged.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from knox_analytics.errors import InputError

#: When set in the environment, never escalate (a guard for wrappers that re-run knox).
REEXEC_MARK = "KNOX_SUDO_REEXEC"


def _hidden(path: str) -> bool:
    """True when ``path`` cannot even be looked at (a directory on the way is not
    searchable: a trail under root:audit 0750 /var/audit), as opposed to absent."""
    try:
        os.stat(path)
    except PermissionError:
        return True
    except OSError:
        return False
    return False


def unreadable_reason(path: str) -> str | None:
    """None when ``path`` is readable by this process, else a sentence saying why not."""
    if path == "-":
        return None
    if _hidden(path):
        return (f"{path}: not readable by uid {os.geteuid()} (a directory on the way is "
                "not searchable)")
    if not os.path.exists(path):
        return f"{path}: no such file or device"
    if os.access(path, os.R_OK):
        return None
    who = f"uid {os.geteuid()}"
    try:
        st = os.stat(path)
        return (f"{path}: not readable by {who} (owner uid {st.st_uid}, mode "
                f"{st.st_mode & 0o7777:04o})")
    except OSError as exc:
        return f"{path}: not readable by {who} ({exc.strerror})"


def check_readable(path: str) -> None:
    """Raise :class:`InputError` naming the path and the reason when it is not readable."""
    reason = unreadable_reason(path)
    if reason is not None:
        hint = "" if os.geteuid() == 0 else "; rerun with --sudo"
        raise InputError(reason + hint)


def needs_sudo(paths: Sequence[str]) -> bool:
    """True when some path exists but is unreadable and we are not root (nor re-executed)."""
    if os.geteuid() == 0 or os.environ.get(REEXEC_MARK):
        return False
    return any((os.path.exists(p) or _hidden(p)) and unreadable_reason(p) is not None
               for p in paths if p != "-")


#: Flags that ask for escalation: the re-executed command must not carry them.
SUDO_FLAGS = ("--sudo",)


def sudo_argv(argv: Sequence[str] | None = None) -> list[str]:
    """The command line that re-runs this knox invocation through sudo (only
    ``--follow --sudo`` does: it needs full sudo rights, since every argument is kept; a
    sudoers rule names :data:`HELPER` instead, never this).

    Python runs in isolated mode (``-I``: neither the working directory nor PYTHONPATH nor
    the user's site-packages on ``sys.path``, no PYTHON* variables), so a ``typer.py`` in the
    directory the user happens to be in never runs as root.
    Nothing is passed through the environment (sudo resets it, and ``sudo VAR=1`` needs
    SETENV in sudoers): the re-executed knox runs as root and so never escalates again.
    """
    args = [a for a in (sys.argv[1:] if argv is None else argv) if a not in SUDO_FLAGS]
    sudo = shutil.which("sudo")
    if sudo is None:
        raise InputError("--sudo: no sudo on PATH; run knox as root instead")
    return [sudo, sys.executable, "-I", "-m", "knox_analytics", *args]


#: The privileged helper's module (``python -I -m`` it: what a sudoers rule names).
HELPER = "knox_analytics.live.helper"
#: The message the helper sends with a descriptor: its kind, and the read size of an
#: audit pipe.
HANDOFF = struct.Struct("!4sI")


def helper_argv(*args: str) -> list[str]:
    """The command line running the privileged helper with ``args`` through sudo."""
    sudo = shutil.which("sudo")
    if sudo is None:
        raise InputError("--sudo: no sudo on PATH; run knox as root instead")
    return [sudo, sys.executable, "-I", "-m", HELPER, *args]


def helper_open(*args: str, run: Callable[..., Any] = subprocess.run) -> tuple[int, str, int]:
    """Run the helper (``pipe CLASSES NAFLAGS`` or ``trail PATH``) and receive the
    descriptor it opened: ``(fd, kind, read size)``."""
    ours, theirs = socket.socketpair()
    with ours:
        with theirs:
            done = run(helper_argv(*args), stdout=theirs, stdin=subprocess.DEVNULL)
        ours.settimeout(5.0)
        try:
            message, fds, _flags, _addr = socket.recv_fds(ours, HANDOFF.size, 1)
        except OSError:
            message, fds = b"", []
    if not fds or len(message) != HANDOFF.size:
        raise InputError(f"--sudo: the privileged helper opened nothing (exit status "
                         f"{getattr(done, 'returncode', '?')}; its message is above)")
    kind, size = HANDOFF.unpack(message)
    return fds[0], kind.decode(), size


def helper_output(*args: str, run: Callable[..., Any] = subprocess.run) -> str:
    """What the helper prints for ``args`` (an ``auditon`` verb), stripped; "" when it
    fails (it said why on stderr)."""
    done = run(helper_argv(*args), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
               text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def exec_helper(*args: str) -> None:  # pragma: no cover - replaces the process
    """Replace this process by the helper running ``args`` through sudo."""
    cmd = helper_argv(*args)
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


def reexec_with_sudo(argv: Sequence[str] | None = None) -> None:  # pragma: no cover
    """Replace this process by the same knox command under sudo (never returns)."""
    cmd = sudo_argv(argv)
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
