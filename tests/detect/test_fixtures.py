"""The committed detection trails (tests/data/detect): every knox rule file has its story
and its near miss, and each file is byte for byte what the simulator writes for it today
(tools/write_detect_fixtures.py), so the fixtures cannot drift from the stories."""

from __future__ import annotations

import pytest
from detect_scenarios import FIXTURES, KNOX_RULES, fixture_plan, write_fixtures


@pytest.fixture(scope="module")
def rewritten(tmp_path_factory):
    return {p.name: p.read_bytes() for p in write_fixtures(tmp_path_factory.mktemp("fx"))}


def test_every_knox_rule_has_a_story_and_a_near_miss():
    rules = sorted(p.stem for p in KNOX_RULES.glob("*.yml"))
    assert rules
    for stem in rules:
        assert (FIXTURES / f"{stem}.bsm").is_file(), f"no story trail for {stem}.yml"
        assert (FIXTURES / f"{stem}.near-miss.bsm").is_file(), f"no near miss for {stem}.yml"


def test_committed_trails_are_the_stories_written_today(rewritten):
    assert sorted(p.name for p in FIXTURES.glob("*.bsm")) == sorted(rewritten)
    stale = [name for name, data in rewritten.items()
             if (FIXTURES / name).read_bytes() != data]
    assert not stale, (f"{stale} differ from what the stories write now: "
                       "run tools/write_detect_fixtures.py and commit the trails")


def test_each_trail_starts_on_a_day_of_its_own():
    starts = [start for _, start in fixture_plan().values()]
    assert len(set(starts)) == len(starts)
