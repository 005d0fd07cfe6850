"""The audit_event(5) and audit_class(5) text files: where they are and how a line reads.

Pure Python (no numpy, no pyarrow), so the live tools that only need a class mask or an
event number (``knox auditpipe``, ``knox auditon``) run on a host with the smallest install.
:mod:`knox_analytics.bsm.tables` builds its vectorized lookups on top of this module and
:mod:`knox_analytics.bsm.classes` its class table and class expressions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from knox_analytics.errors import InputError, UsageError

#: Where macOS and FreeBSD keep the event and class tables (users add events there).
HOST_DIR = Path("/etc/security")
EVENT_FILE, CLASS_FILE = "audit_event", "audit_class"
N_EVENTS = 1 << 16  # event numbers are u16 in every header token


class EventEntry(NamedTuple):
    """One audit_event(5) line."""

    number: int
    name: str
    description: str
    classes: tuple[str, ...]  # the class codes as written (may name undefined classes)


def content_lines(text: str) -> Iterable[tuple[int, str]]:
    """(line number, line) of the lines that are not blank or ``#`` comments."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield lineno, line


def strtoul(text: str) -> int:
    """An integer as libbsm's strtoul(s, NULL, 0) reads it: 0x.. hex, 0.. octal, decimal."""
    text = text.strip()
    if text[:2].lower() == "0x":
        return int(text[2:], 16)
    return int(text, 8) if len(text) > 1 and text.startswith("0") else int(text, 10)


def parse_class_lines(text: str, source: str) -> list[tuple[str, int, str]]:
    """audit_class(5) text -> (code, mask, description) rows, in file order.

    A malformed line raises :class:`UsageError` naming the file and line.
    """
    rows = []
    for lineno, line in content_lines(text):
        parts = line.split(":")
        try:
            if len(parts) != 3 or not parts[1].strip():
                raise ValueError
            mask = strtoul(parts[0])
            if not 0 <= mask <= 0xFFFFFFFF:
                raise ValueError
        except ValueError:
            raise UsageError(
                f"{source}: line {lineno}: expected 'mask:code:description' with a 32-bit "
                f"mask, found {line!r}"
            ) from None
        rows.append((parts[1].strip(), mask, parts[2]))
    return rows


def parse_event_file(text: str, source: str) -> list[EventEntry]:
    """Parse audit_event(5) text; a malformed line raises UsageError naming file and line.

    Descriptions are kept verbatim (OpenBSM's ``6180:AUE_prof_cmd: profile command:ad``
    keeps its leading space, as praudit prints it); numbers, names and classes are stripped.
    """
    entries = []
    for lineno, line in content_lines(text):
        parts = line.rstrip("\r").split(":")
        try:
            if len(parts) != 4 or not parts[1].strip():
                raise ValueError
            number = int(parts[0].strip(), 10)
            if not 0 <= number < N_EVENTS:
                raise ValueError
        except ValueError:
            raise UsageError(
                f"{source}: line {lineno}: expected 'number:name:description:classes' with "
                f"a number 0..65535, found {line!r}"
            ) from None
        classes = tuple(c.strip() for c in parts[3].split(",") if c.strip())
        entries.append(EventEntry(number, parts[1].strip(), parts[2], classes))
    return entries


def package_file(name: str) -> str:
    """Text of a file shipped in ``knox_analytics/data``."""
    return (resources.files("knox_analytics") / "data" / name).read_text(encoding="utf-8")


def read_table_text(path: Path | None, name: str) -> tuple[str, str]:
    """(text, source label) of a host/directory file, or of the packaged copy when None."""
    if path is None:
        return package_file(name), f"<builtin {name}>"
    try:
        return path.read_bytes().decode("utf-8", errors="replace"), str(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def resolve(source: str | os.PathLike[str], host_dir: Path = HOST_DIR
            ) -> tuple[Path | None, Path | None]:
    """(audit_event, audit_class) paths for ``source``; None means the packaged copy.

    ``"auto"``: the host's files where present; ``"builtin"``: the packaged copies;
    ``"host"``: the host's only; a directory: its files (a missing one: packaged).
    """
    if source == "builtin":
        return None, None
    if source in ("auto", "host"):
        paths = [host_dir / EVENT_FILE, host_dir / CLASS_FILE]
        if source == "host" and not all(p.is_file() for p in paths):
            raise InputError(f"{host_dir}: no {EVENT_FILE} and {CLASS_FILE} on this host")
        return tuple(p if p.is_file() else None for p in paths)  # type: ignore[return-value]
    directory = Path(source)
    if not directory.is_dir():
        raise InputError(
            f"{directory}: expected 'auto', 'builtin', 'host' or a directory holding "
            f"{EVENT_FILE} and/or {CLASS_FILE}"
        )
    paths = [directory / EVENT_FILE, directory / CLASS_FILE]
    if not any(p.is_file() for p in paths):
        raise InputError(f"{directory}: holds neither {EVENT_FILE} nor {CLASS_FILE}")
    return tuple(p if p.is_file() else None for p in paths)  # type: ignore[return-value]


def event_number(name: str, source: str | os.PathLike[str] = "auto",
                 host_dir: Path = HOST_DIR) -> int | None:
    """Number of an ``AUE_*`` event name, the smallest if several (as ``EventTable.number``;
    a number defined twice keeps its first line, as libbsm's getauevnum()).

    >>> event_number("AUE_EXECVE", "builtin")
    23
    """
    path, _ = resolve(source, host_dir)
    text, label = read_table_text(path, EVENT_FILE)
    first: dict[int, str] = {}
    for entry in parse_event_file(text, label):
        first.setdefault(entry.number, entry.name)
    return min((num for num, n in first.items() if n == name), default=None)
