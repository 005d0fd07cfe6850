"""uid/gid -> name from passwd(5) / group(5) files of the machine that wrote a trail.

Offline analysis is the common case (a trail copied off a Mac), so names come from that
machine's files, not this one's.  Shared by the renderer (``--passwd/--group``) and the
catalog (``--users``).
"""

from __future__ import annotations

from pathlib import Path

from knox_analytics.errors import InputError


def parse_id_file(text: str, source: str) -> dict[int, str]:
    """``name:x:id:...`` lines (passwd or group format) -> {id: name}; first entry wins,
    like getpwuid(3).  '#' comments and blank lines are skipped; -2 means 4294967294."""
    out: dict[int, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 3 or not parts[2].strip().lstrip("-").isdigit():
            raise InputError(f"{source}: line {lineno}: expected name:password:id:..., "
                             f"found {line[:60]!r}")
        out.setdefault(int(parts[2]) & 0xFFFFFFFF, parts[0])
    return out


def read_text(path: Path) -> str:
    """A passwd/group file's text; an unreadable file is an InputError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_id_file(path: Path) -> dict[int, str]:
    """:func:`parse_id_file` of a file."""
    return parse_id_file(read_text(path), str(path))
