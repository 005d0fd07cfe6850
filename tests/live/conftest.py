"""Fixtures of the live tests."""

from __future__ import annotations

import pytest

from knox_analytics.live import capture as capture_module


@pytest.fixture(autouse=True)
def _in_process_capture_without_upkeep(request: pytest.FixtureRequest,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture keeps the derived process state up to date (derived/upkeep.py): that is
    tested in test_live_upkeep.py, and by every test that runs ``knox capture`` as a
    process (the CLI and kill -9 tests: the real thing).  The other in-process capture
    tests are about segments, commits and restarts: they skip it (about 0.5 s each)."""
    if request.module.__name__ != "test_live_upkeep":
        monkeypatch.setattr(capture_module, "DerivedUpkeep", lambda *args, **kwargs: None)
