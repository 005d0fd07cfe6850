"""The shipped pack: every knox rule fires on its story and stays silent on the near miss
(the committed trails of tests/data/detect); the pack stays silent on sample_trails/ and
tests/data/trails (at the default level); the SigmaHQ macOS rules compile (>= 68 of 75)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sigma")

from detect_scenarios import NEAR_MISS, POSITIVE, fixture

from knox_analytics.catalog import Catalog
from knox_analytics.detect import detect, load_ruleset
from knox_analytics.detect.rules import pack_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pack():
    return load_ruleset(cache=False)


def _fired(stories: dict, ruleset, near_miss: bool) -> dict[str, set[str]]:
    """Each story's committed trail (each on a day of its own, so no two share a process
    instance), all read by one catalog: title -> the titles fired with evidence in it."""
    names = {str(fixture(title, near_miss)): title for title in stories}
    with Catalog(sorted(names)) as cat:
        alerts = detect(cat, ruleset, min_level="low").to_pylist()
    out: dict[str, set[str]] = {t: set() for t in stories}
    for a in alerts:
        for ev in a["evidence"]:
            out[names[ev["source"]]].add(a["title"])
    return out


@pytest.fixture(scope="module")
def positives(pack):
    return _fired(POSITIVE, pack, near_miss=False)


@pytest.fixture(scope="module")
def near_misses(pack):
    return _fired(NEAR_MISS, pack, near_miss=True)


def test_every_knox_rule_has_a_story(pack):
    alerting = {r.title for r in pack.rules if r.path.startswith("pack:knox/") and r.alerts
                and r.level != "informational"}
    assert alerting - {"Many Authentication Failures"} == set(POSITIVE)
    assert set(POSITIVE) == set(NEAR_MISS)


@pytest.mark.parametrize("title", sorted(POSITIVE))
def test_rule_fires_on_its_story(positives, title):
    assert title in positives[title]


@pytest.mark.parametrize("title", sorted(NEAR_MISS))
def test_rule_silent_on_near_miss(near_misses, title):
    assert title not in near_misses[title]


def test_pack_silent_on_sample_and_test_trails(pack):
    trails = sorted((ROOT / "sample_trails").glob("*.bsm")) + sorted(
        (ROOT / "tests/data/trails").glob("*.bsm"))
    with Catalog(trails) as cat:
        alerts = detect(cat, pack, min_level="low")
    assert alerts.num_rows == 0, alerts.select(["title", "command_line"]).to_pylist()


def test_sigmahq_macos_rules_compile(pack):
    sigma = [r for r in pack.rules if r.path.startswith("pack:sigmahq/")]
    assert len(sigma) == 75
    assert sum(r.compiled for r in sigma) >= 68
    assert all(r.author for r in sigma)


def test_pack_ships_licences():
    assert (pack_dir() / "sigmahq" / "LICENSE.Detection.Rules.md").is_file()
    assert (pack_dir() / "bsmtrace" / "COPYRIGHT").is_file()
