"""knox_analytics.zones: one Zone value from --tz, its offsets for whole columns equal to
Python's per-instant answer (DST included), and nothing written to the process's TZ.
No fixture."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knox_analytics.errors import UsageError
from knox_analytics.zones import UTC as UTC_ZONE
from knox_analytics.zones import local, zone

PARIS = zone("Europe/Paris")
# 2026: DST starts 2026-03-29 01:00 UTC and ends 2026-10-25 01:00 UTC in Paris
SPAN = (1_767_225_600, 1_798_761_600)  # 2026-01-01 .. 2027-01-01 UTC


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(*SPAN), min_size=1, max_size=50), st.booleans())
def test_column_offsets_equal_each_instants(seconds: list[int], ordered: bool) -> None:
    values = np.array(sorted(seconds) if ordered else seconds, dtype=np.int64)
    want = [int(datetime.fromtimestamp(int(t), UTC).astimezone(PARIS.tzinfo)
                .utcoffset().total_seconds()) for t in values]
    assert PARIS.offsets(values).tolist() == want


def test_dst_and_names() -> None:
    winter, summer = 1_772_355_600, 1_782_900_000  # 2026-03-01, 2026-07-01 (UTC)
    assert PARIS.offsets(np.array([winter, summer])).tolist() == [3600, 7200]
    assert zone("utc") is UTC_ZONE and UTC_ZONE.offsets(np.array([winter])).tolist() == [0]
    assert zone(PARIS) is PARIS
    with pytest.raises(UsageError, match="--tz 'Mars/Base'"):
        zone("Mars/Base")


def test_local_reads_tz_and_sets_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    assert local() == PARIS and zone("local") == PARIS
    assert os.environ["TZ"] == "Europe/Paris"
    monkeypatch.setenv("TZ", "Bad/Zone")
    with pytest.raises(UsageError, match="TZ environment variable 'Bad/Zone'"):
        local()
    assert local(strict=False).name.startswith(("+", "-"))  # praudit's default: an offset
