"""The time zone times are shown in: one :class:`Zone` value, made once from ``--tz`` and
passed down to whatever formats a time (tables and files, praudit text, live lines, plots).

Knox stores and compares times in UTC; a zone only changes how a time is written.  Nothing
here sets the process's ``TZ`` or reads libc's ``localtime``: ``local`` is resolved once
(``TZ``, else ``/etc/localtime``) into a zone like any other.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC as _UTC
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from knox_analytics.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

_STEP = 900  # zones change offset on 15-minute UTC boundaries


@dataclass(frozen=True)
class Zone:
    """A time zone: ``name`` for Arrow and the table header (``UTC``, ``Europe/Paris`` or a
    fixed ``+05:30``), ``tzinfo`` for Python datetimes."""

    name: str
    tzinfo: tzinfo = field(compare=False, repr=False)

    @property
    def is_utc(self) -> bool:
        """Whether times are written as UTC (``Z``, no offset arithmetic)."""
        return self.name == "UTC"

    def offsets(self, seconds: np.ndarray) -> np.ndarray:
        """UTC offset (seconds) at each instant (epoch seconds), for a whole column: one
        lookup per 15-minute run of instants, not one per value."""
        import numpy as np  # not at import: the CLI's help and parsing stay light

        sec = np.asarray(seconds, dtype=np.int64)
        if len(sec) == 0 or self.is_utc:
            return np.zeros(len(sec), dtype=np.int64)
        buckets = sec // _STEP
        change = buckets[1:] != buckets[:-1]
        if not np.any(buckets[1:][change] < buckets[:-1][change]):  # in time order: runs
            starts = np.flatnonzero(np.r_[True, change])
            offs = np.array([self._offset(int(b) * _STEP) for b in buckets[starts]],
                            dtype=np.int64)
            return np.repeat(offs, np.diff(np.r_[starts, len(buckets)]))
        uniq, inverse = np.unique(buckets, return_inverse=True)
        offs = np.array([self._offset(int(b) * _STEP) for b in uniq], dtype=np.int64)
        return offs[inverse.reshape(-1)]

    def _offset(self, t: int) -> int:
        try:
            off = datetime.fromtimestamp(t, _UTC).astimezone(self.tzinfo).utcoffset()
        except (OverflowError, OSError, ValueError):
            return 0
        return int(off.total_seconds()) if off is not None else 0

    def wall(self, when: datetime) -> datetime:
        """``when`` (aware; a naive one is UTC) as this zone's wall-clock time."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=_UTC)
        return when.astimezone(self.tzinfo)


UTC = Zone("UTC", _UTC)


def zone(value: Zone | str) -> Zone:
    """``--tz``: ``UTC``, ``local`` (``TZ``, else this machine's zone) or a zone name such
    as ``Europe/Paris``; a :class:`Zone` is returned as it is."""
    if isinstance(value, Zone):
        return value
    if value.upper() == "UTC":
        return UTC
    if value == "local":
        return local()
    return _named(value) or _refuse(value)


def local(*, strict: bool = True) -> Zone:
    """This machine's zone as ``localtime(3)`` sees it: ``TZ``, else ``/etc/localtime``.
    ``strict=False`` (praudit's default rendering, where the user asked for nothing) falls
    back to the current offset instead of refusing a ``TZ`` that is not a zone name."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        if tz.upper() == "UTC":
            return UTC
        found = _named(tz)
        if found is not None:
            return found
        if strict:  # the user typed --tz local, not this name
            raise UsageError(f"--tz local: the TZ environment variable {tz!r} is not a "
                             "zone name; fix or unset TZ, or give --tz NAME")
        return _fixed(time.localtime().tm_gmtoff)
    return _system()


def _named(name: str) -> Zone | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return Zone(name, ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _refuse(name: str) -> Zone:
    raise UsageError(f"--tz {name!r}: expected UTC, local or a zone name such as "
                     "Europe/Paris")


def _system() -> Zone:
    """``/etc/localtime``: named by its link into the zone database when it is one."""
    from zoneinfo import ZoneInfo

    try:
        link = os.readlink("/etc/localtime")
    except OSError:
        link = ""
    name = link.split("zoneinfo/", 1)[-1] if "zoneinfo/" in link else ""
    found = _named(name) if name else None
    if found is not None:
        return found
    try:  # a copied file: its rules, under the current offset's name (Arrow needs a name)
        with open("/etc/localtime", "rb") as fh:
            rules: tzinfo = ZoneInfo.from_file(fh, key="localtime")
    except (OSError, ValueError):
        return _fixed(int((datetime.now().astimezone().utcoffset() or timedelta())
                          .total_seconds()))
    offset = datetime.now(rules).utcoffset() or timedelta()
    return Zone(_offset_name(int(offset.total_seconds())), rules)


def _fixed(seconds: int) -> Zone:
    return Zone(_offset_name(seconds), timezone(timedelta(seconds=seconds)))


def _offset_name(seconds: int) -> str:
    minutes = seconds // 60
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
