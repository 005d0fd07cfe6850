"""docs/detect.md's field table is the mapping of knox_analytics/detect/fields.py."""

from __future__ import annotations

import re

from knoxtest import ROOT

from knox_analytics.detect.fields import CATEGORIES

PAGE = (ROOT / "docs" / "detect.md").read_text(encoding="utf-8")


def test_field_table_matches_the_mapping() -> None:
    rows = set(re.findall(r"^\| `(\w+)` \| (\w+) \| `(\w+)\.(\w+)` \|", PAGE, re.M))
    mapped = {(name, f, c.view, col) for name, c in CATEGORIES.items()
              for f, col in c.fields.items()}
    assert rows == mapped


def test_missing_fields_are_named() -> None:
    for c in CATEGORIES.values():
        for field in c.missing:
            assert field in PAGE
