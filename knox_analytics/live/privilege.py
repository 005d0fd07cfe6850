"""Can we read it?  Say exactly why not, and re-exec through sudo only when asked to.

A file the user can read is never a reason to escalate (knox's open TODO): the check is
``os.access`` on the very path, before any sudo is considered.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

from knox_analytics.errors import InputError

#: When set in the environment, never escalate (a guard for wrappers that re-run knox).
REEXEC_MARK = "KNOX_SUDO_REEXEC"


def unreadable_reason(path: str) -> str | None:
    """None when ``path`` is readable by this process, else a sentence saying why not."""
    if path == "-":
        return None
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
    return any(os.path.exists(p) and unreadable_reason(p) is not None
               for p in paths if p != "-")


#: Flags that ask for escalation: the re-executed command must not carry them.
SUDO_FLAGS = ("--sudo",)


def sudo_argv(argv: Sequence[str] | None = None) -> list[str]:
    """The command line that re-runs this knox invocation through sudo.

    Python runs in isolated mode (``-I``: neither the working directory nor PYTHONPATH nor
    the user's site-packages on ``sys.path``, no PYTHON* variables), so a ``typer.py`` in the
    directory the user happens to be in never runs as root, and a sudoers rule can name
    the command exactly: ``/path/to/python -I -m knox_analytics auditpipe *``.
    Nothing is passed through the environment (sudo resets it, and ``sudo VAR=1`` needs
    SETENV in sudoers): the re-executed knox runs as root and so never escalates again.
    """
    args = [a for a in (sys.argv[1:] if argv is None else argv) if a not in SUDO_FLAGS]
    sudo = shutil.which("sudo")
    if sudo is None:
        raise InputError("--sudo: no sudo on PATH; run knox as root instead")
    return [sudo, sys.executable, "-I", "-m", "knox_analytics", *args]


def reexec_with_sudo(argv: Sequence[str] | None = None) -> None:  # pragma: no cover
    """Replace this process by the same knox command under sudo (never returns)."""
    cmd = sudo_argv(argv)
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
