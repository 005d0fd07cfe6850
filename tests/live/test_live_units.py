"""Units of --rotate, --flush and --timeout: only ones that cannot be misread (issue 13
item 7: ``--rotate 64M`` used to mean 64 minutes).  No fixture files."""

from __future__ import annotations

import subprocess

import pytest
from live_helpers import KNOX_LIVE_ARGV

from knox_analytics.errors import UsageError
from knox_analytics.live.units import parse_duration, parse_rotate, parse_size


@pytest.mark.parametrize(("text", "value"), [
    ("64MiB", 64 << 20), ("64MB", 64_000_000), ("64mb", 64_000_000), ("1GiB", 1 << 30),
    ("1.5kB", 1500), ("2KiB", 2048), ("100B", 100), ("1TB", 10**12),
])
def test_sizes(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize(("text", "value"), [
    ("1h", 3600), ("30min", 1800), ("90s", 90), ("0.5s", 0.5), ("2sec", 2), ("1d", 86400),
])
def test_durations(text: str, value: float) -> None:
    assert parse_duration(text) == value


def test_rotate_mixes_sizes_and_durations() -> None:
    assert parse_rotate(["64MiB", "1h"]) == (64 << 20, 3600.0)
    assert parse_rotate(["30min,1GB"]) == (1_000_000_000, 1800.0)
    assert parse_rotate([]) == (None, None)


@pytest.mark.parametrize(("spec", "why"), [
    ("64M", r"'64M' is ambiguous: write 64min \(minutes\) or 64MiB / 64MB \(bytes\)"),
    ("10m", r"'10m' is ambiguous: write 10min"),
    ("500k", r"'500k' is ambiguous: write 500kiB \(binary\) or 500kB"),
    ("64", r"'64' has no unit"),
    ("3 parsecs", r"'3 parsecs': unknown unit 'parsecs'"),
])
def test_rotate_refuses_what_could_be_misread(spec: str, why: str) -> None:
    with pytest.raises(UsageError, match=f"--rotate: {why}.*sizes take B, kB, KiB, MB, MiB"
                                         ".*durations take s, sec, min, h, d"):
        parse_rotate([spec])


def test_duration_refuses_m_and_size_refuses_minutes() -> None:
    with pytest.raises(UsageError, match=r"'5m' is ambiguous.*durations take"):
        parse_duration("5m")
    with pytest.raises(UsageError, match=r"unknown unit 'min'; sizes take"):
        parse_size("30min")


def test_cli_rejects_an_ambiguous_timeout() -> None:
    r = subprocess.run([*KNOX_LIVE_ARGV, "pwait", "make", "--source", "/dev/null",
                        "--timeout", "5m"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "'5m' is ambiguous: write 5min (minutes) or 5MiB / 5MB (bytes)" in r.stderr
