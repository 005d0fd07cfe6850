"""Docstrings and comments point at things that exist: every ``:mod:`` target in the
package and the tests names a real module, and every ``tests/....py`` path named there is
a real file (a rename must update them, as for docs/architecture.md).  No fixture."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from knoxtest import ROOT

SOURCES = sorted([*(ROOT / "knox_analytics").rglob("*.py"), *(ROOT / "tests").rglob("*.py")])
_MOD = re.compile(r":mod:`~?([\w.]+)`")
_TEST_PATH = re.compile(r"\btests/[\w/]+\.py\b")


def _module_exists(name: str, where: Path) -> bool:
    """``knox_analytics.x.y``, ``.sibling`` (relative to ``where``'s package) or a bare
    name: a sibling module, else the standard library."""
    if name.startswith("knox_analytics"):
        path = ROOT / name.replace(".", "/")
    else:
        path = where.parent / name.lstrip(".").replace(".", "/")
    if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
        return True
    return not name.startswith((".", "knox_analytics")) and \
        importlib.util.find_spec(name.split(".")[0]) is not None


def test_every_mod_reference_names_a_module() -> None:
    missing = [f"{p.relative_to(ROOT)}: {m}" for p in SOURCES
               for m in _MOD.findall(p.read_text(encoding="utf-8"))
               if not _module_exists(m, p)]
    assert missing == []


def test_every_named_test_file_exists() -> None:
    missing = [f"{p.relative_to(ROOT)}: {t}" for p in SOURCES
               for t in _TEST_PATH.findall(p.read_text(encoding="utf-8"))
               if not (ROOT / t).exists()]
    assert missing == []
