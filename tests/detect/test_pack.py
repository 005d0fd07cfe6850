"""The shipped pack: every knox rule fires on its simulated story and stays silent on the
near miss; the pack stays silent on sample_trails/ and tests/data (at the default level);
the SigmaHQ macOS rules compile (>= 68 of 75)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sigma")

from detect_scenarios import NEAR_MISS, POSITIVE, START_MS, write_trail

from knox_analytics.catalog import Catalog
from knox_analytics.detect import detect, load_ruleset
from knox_analytics.detect.rules import pack_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pack():
    return load_ruleset(cache=False)


def _fired(tmp_path: Path, stories: dict, ruleset) -> dict[str, set[str]]:
    """Each story in its own trail (a day apart, so no two share a process instance),
    all read by one catalog: title -> the titles fired with evidence in its trail."""
    names = {}
    for n, title in enumerate(sorted(stories)):
        trail = write_trail(tmp_path / f"s{n}.bsm", stories[title],
                            START_MS + n * 86_400_000)
        names[str(trail)] = title
    with Catalog(sorted(names)) as cat:
        alerts = detect(cat, ruleset, min_level="low").to_pylist()
    out: dict[str, set[str]] = {t: set() for t in stories}
    for a in alerts:
        for ev in a["evidence"]:
            out[names[ev["source"]]].add(a["title"])
    return out


@pytest.fixture(scope="module")
def positives(tmp_path_factory, pack):
    return _fired(tmp_path_factory.mktemp("pos"), POSITIVE, pack)


@pytest.fixture(scope="module")
def near_misses(tmp_path_factory, pack):
    return _fired(tmp_path_factory.mktemp("near"), NEAR_MISS, pack)


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
