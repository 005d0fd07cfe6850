"""Names the renderers print: events, errno texts, users and groups.

Event names/descriptions and the praudit errno texts come from
:func:`knox_analytics.bsm.tables.load_tables` (the vendored OpenBSM ``audit_event`` and the
BSM errno table); they are turned once into dense lookup arrays (65536 events, 256 errnos)
so that a whole column is named with one ``take``.

User and group names come from the running host (``pwd``/``grp``) or, for offline
analysis, from a ``passwd``/``group`` file pair copied from the machine that wrote the
trail.  praudit prints an id it cannot name as a signed decimal (``%d``).

Example::

    >>> users = IdNames.from_files(passwd_text="root:*:0:0::/root:/bin/sh\\n")
    >>> users.user(0), users.user(501)
    ('root', None)
"""

from __future__ import annotations

import functools
import grp
import pwd
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from knox_analytics.bsm.tables import load_tables
from knox_analytics.userdb import parse_id_file, read_text

N_ERRNOS = 1 << 8


@dataclass(frozen=True)
class EventErrnoText:
    """Dense lookups: event number -> name/description, BSM errno -> praudit text/name."""

    event_name: pa.Array  # string, null when the event is unknown
    event_desc: pa.Array  # string, null when the event is unknown
    event_classes: pa.Array  # string, null when unknown
    errno_text: pa.Array  # "success" / "failure : <strerror>" / "failure: Unknown error: N"
    errno_name: pa.Array  # e.g. "ENOENT"; null for 0 and unknown numbers


def _strings(values: Any) -> pa.Array:
    return pa.array([v if v else None for v in values], pa.string())


@functools.cache
def event_errno_text(source: str = "auto") -> EventErrnoText:
    """The lookups, built once per process from :func:`load_tables` (``source`` as there)."""
    tables = load_tables(source)
    ev, er = tables.events, tables.errnos
    return EventErrnoText(
        event_name=_strings(ev.names),
        event_desc=_strings(ev.descriptions),
        event_classes=_strings(ev.class_strings),
        errno_text=pa.array([er.praudit_status(n) for n in range(N_ERRNOS)], pa.string()),
        errno_name=pa.array([None] + [er.name(n) for n in range(1, N_ERRNOS)], pa.string()),
    )


# --- users and groups -------------------------------------------------------------------


@dataclass
class IdNames:
    """uid/gid -> name, from the host or from passwd/group files.  None: print the number."""

    users: dict[int, str] | None = None  # None: ask the host (getpwuid)
    groups: dict[int, str] | None = None  # None: ask the host (getgrgid)
    _cache: dict[tuple[str, int], str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_files(cls, passwd: Path | None = None, group: Path | None = None, *,
                   passwd_text: str | None = None, group_text: str | None = None
                   ) -> IdNames:
        """Names from a passwd and/or group file; a missing file leaves the host lookup."""
        if passwd is not None:
            passwd_text = read_text(passwd)
        if group is not None:
            group_text = read_text(group)
        return cls(
            users=None if passwd_text is None else parse_id_file(passwd_text, str(passwd)),
            groups=None if group_text is None else parse_id_file(group_text, str(group)),
        )

    def user(self, uid: int) -> str | None:
        """Name of ``uid`` or None."""
        return self._lookup("u", uid, self.users, lambda i: pwd.getpwuid(i).pw_name)

    def group(self, gid: int) -> str | None:
        """Name of ``gid`` or None."""
        return self._lookup("g", gid, self.groups, lambda i: grp.getgrgid(i).gr_name)

    def _lookup(self, kind: str, num: int, table: dict[int, str] | None,
                host: Callable[[int], str]) -> str | None:
        if table is not None:
            return table.get(num)
        key = (kind, num)
        if key not in self._cache:
            try:
                self._cache[key] = host(num)
            except (KeyError, OverflowError):
                self._cache[key] = None
        return self._cache[key]
