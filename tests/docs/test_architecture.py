"""docs/architecture.md names only modules and folders that exist (it is the map the next
engineer reads first, so a rename must update it).  No fixture."""

from __future__ import annotations

import re

from knoxtest import ROOT

PAGE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
PACKAGE = ROOT / "knox_analytics"


def _named_paths() -> set[str]:
    """Every `code` span that looks like a module or folder path."""
    prose = re.sub(r"```.*?```", "", PAGE, flags=re.DOTALL)
    spans = re.findall(r"`([^`\n]+)`", prose)
    return {s for s in spans if re.fullmatch(r"[\w/.*-]+(\.py|\.sql|/)", s)}


def test_every_named_path_exists() -> None:
    named = _named_paths()
    assert len(named) > 20
    missing = []
    for path in named:
        candidates = [ROOT / path, PACKAGE / path, PACKAGE / "bsm" / path]
        if not any(c.exists() or list(c.parent.glob(c.name)) for c in candidates):
            missing.append(path)
    assert missing == []


def test_every_bsm_module_is_on_the_map() -> None:
    modules = {p.name for p in (PACKAGE / "bsm").glob("*.py")} - {"__init__.py"}
    mentioned = {m for m in modules if m.removesuffix(".py") in PAGE}
    assert mentioned == modules
