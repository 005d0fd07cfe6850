"""Sizes and durations as typed on the command line, in units that cannot be misread.

``--rotate`` takes sizes and durations in one list, so a unit must say which it is:
``64M`` could be 64 mebibytes or 64 minutes (it used to mean minutes).  Sizes end in a
byte unit (``B``, ``kB``/``KB``, ``KiB``, ``MB``, ``MiB``, ``GB``, ``GiB``, ``TB``,
``TiB``; any letter case), durations in a time unit (``s``, ``sec``, ``min``, ``h``,
``d``).  Bare numbers and the one-letter ``k``/``m``/``M``/``g``/``G`` are refused with a
message listing the units.
"""

from __future__ import annotations

import re

from knox_analytics.errors import UsageError

SIZE_UNITS: dict[str, int] = {
    "b": 1, "kb": 1000, "kib": 1 << 10, "mb": 1000**2, "mib": 1 << 20,
    "gb": 1000**3, "gib": 1 << 30, "tb": 1000**4, "tib": 1 << 40,
}
TIME_UNITS: dict[str, float] = {"s": 1, "sec": 1, "min": 60, "h": 3600, "d": 86400}
_NUM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_SIZES_HELP = "B, kB, KiB, MB, MiB, GB, GiB, TB, TiB (e.g. 64MiB, 500MB)"
_TIMES_HELP = "s, sec, min, h, d (e.g. 90s, 30min, 1h)"


def _split(text: str) -> tuple[float, str] | None:
    m = _NUM.match(text)
    return (float(m.group(1)), m.group(2).lower()) if m else None


def _ambiguous(text: str, unit: str) -> str:
    if unit in ("m",):
        return f"{text!r} is ambiguous: write {text[:-1]}min (minutes) or {text[:-1]}MiB / " \
               f"{text[:-1]}MB (bytes)"
    if unit in ("k", "g", "t"):
        return f"{text!r} is ambiguous: write {text}iB (binary) or {text}B (decimal)"
    if unit == "":
        return f"{text!r} has no unit"
    return f"{text!r}: unknown unit {unit!r}"


def parse_size(text: str) -> int:
    """``'64MiB'`` -> 67108864; ``'500MB'`` -> 500000000.

    >>> parse_size("64MiB"), parse_size("1.5kB")
    (67108864, 1500)
    """
    parts = _split(text)
    if parts is None or parts[1] not in SIZE_UNITS:
        why = _ambiguous(text.strip(), parts[1]) if parts else f"bad size {text!r}"
        raise UsageError(f"{why}; sizes take {_SIZES_HELP}")
    return int(parts[0] * SIZE_UNITS[parts[1]])


def parse_duration(text: str) -> float:
    """``'1h'`` -> 3600.0; ``'30min'`` -> 1800.0; ``'0.5s'`` -> 0.5."""
    parts = _split(text)
    if parts is None or parts[1] not in TIME_UNITS:
        why = _ambiguous(text.strip(), parts[1]) if parts else f"bad duration {text!r}"
        raise UsageError(f"{why}; durations take {_TIMES_HELP}")
    return parts[0] * TIME_UNITS[parts[1]]


def parse_rotate(specs: list[str]) -> tuple[int | None, float | None]:
    """``--rotate`` values (sizes and/or durations) -> (bytes, seconds); None = not given.

    >>> parse_rotate(["64MiB", "1h"])
    (67108864, 3600.0)
    """
    size: int | None = None
    seconds: float | None = None
    for spec in specs:
        for item in spec.split(","):
            parts = _split(item)
            if parts and parts[1] in TIME_UNITS:
                seconds = parse_duration(item)
            elif parts and parts[1] in SIZE_UNITS:
                size = parse_size(item)
            else:
                why = _ambiguous(item.strip(), parts[1]) if parts else f"bad value {item!r}"
                raise UsageError(f"--rotate: {why}; sizes take {_SIZES_HELP}; durations "
                                 f"take {_TIMES_HELP}")
    return size, seconds
