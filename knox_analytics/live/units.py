"""Sizes and durations as typed on the command line: ``64MiB``, ``500k``, ``1h``, ``90s``."""

from __future__ import annotations

import re

from knox_analytics.errors import UsageError

_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 1000**2,
               "mb": 1000**2, "mib": 1 << 20, "g": 1000**3, "gb": 1000**3, "gib": 1 << 30}
_TIME_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_NUM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """``'64MiB'`` -> 67108864; ``'500k'`` -> 500000; a bare number is bytes."""
    m = _NUM.match(text)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _SIZE_UNITS:
        raise UsageError(f"bad size {text!r}: expected e.g. 64MiB, 500k, 1GB")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def parse_duration(text: str) -> float:
    """``'1h'`` -> 3600.0; ``'90s'`` -> 90.0; ``'0.5s'`` -> 0.5."""
    m = _NUM.match(text)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _TIME_UNITS:
        raise UsageError(f"bad duration {text!r}: expected e.g. 1h, 30m, 90s, 1d")
    return float(m.group(1)) * _TIME_UNITS[unit]


def parse_rotate(specs: list[str]) -> tuple[int | None, float | None]:
    """``--rotate`` values (sizes and/or durations) -> (bytes, seconds); None = not given."""
    size: int | None = None
    seconds: float | None = None
    for spec in specs:
        for item in spec.split(","):
            m = _NUM.match(item)
            if m and m.group(2).lower() in _TIME_UNITS:
                seconds = parse_duration(item)
            else:
                size = parse_size(item)
    return size, seconds
