"""Fixtures shared by every test directory (paths live in ``knoxtest``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session", autouse=True)
def raw_trail_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Questions on raw trails convert them into a cache (knox_analytics.rawcache): the
    tests' goes to a temporary directory, never the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOX_CACHE_DIR", str(tmp_path_factory.mktemp("knox-cache")))
        yield


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with TZ=UTC (the praudit goldens were made in UTC), restored afterwards."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(params=["vectorized", "reference"])
def decoder(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``decoder(data, source)`` -> DecodeResult, once with the vectorized decoder (the
    product) and once with the per-record oracle: a test that takes it holds for both."""
    from knox_analytics.bsm.decode import decode_bytes
    from knox_analytics.bsm.reference import decode_reference
    from knox_analytics.bsm.tables import load_tables

    tables = load_tables("builtin")
    impl = decode_bytes if request.param == "vectorized" else decode_reference

    def decode(data: bytes, source: str = "<bytes>") -> Any:
        return impl(data, source, tables=tables)

    return decode
