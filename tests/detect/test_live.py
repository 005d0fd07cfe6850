"""Live detection: the same alerts as offline when the stream arrives record by record;
correlation windows carried across batches; evidence at the stream's offsets."""

from __future__ import annotations

import pytest

pytest.importorskip("sigma")

from detect_scenarios import fixture

from knox_analytics.catalog import Catalog
from knox_analytics.detect import detect, load_ruleset
from knox_analytics.detect.live import live_alert_tables

CASES = ["Brute Force Then Successful Login", "Launch Plist Written Then Loaded in One "
         "Process Tree", "Keychain or Local Password Hash Access"]


def _key(a: dict) -> tuple:
    return (a["title"], a["time"], a["pid"],
            tuple((e["source"], e["offset"]) for e in a["evidence"]))


def _compare(title: str, read_size: int) -> None:
    pack = load_ruleset()
    trail = fixture(title)
    with Catalog([trail]) as cat:
        offline = sorted(_key(a) for a in detect(cat, pack, min_level="low").to_pylist())
    live = sorted(_key(a) for t in live_alert_tables(pack, str(trail), read_size=read_size)
                  for a in t.to_pylist())
    assert title in {k[0] for k in live}
    assert live == offline


def test_brute_force_across_batches():
    # a few records per batch: the failures and the success arrive in different batches
    _compare("Brute Force Then Successful Login", 300)


@pytest.mark.slow
@pytest.mark.parametrize("title", CASES)
def test_record_by_record_equals_offline(title):
    _compare(title, 1)
