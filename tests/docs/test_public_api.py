"""The package's public face (knox_analytics/__init__.py): every name resolves to the
object its home module defines, the README's Python example uses only these names, and
``import knox_analytics`` stays cheap (no pyarrow, numpy or duckdb).  No fixture."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys

import pytest
from knoxtest import ROOT

import knox_analytics

LAZY = dict(knox_analytics._LAZY)


@pytest.mark.parametrize("name", knox_analytics.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(knox_analytics, name)
    home = LAZY.get(name, "knox_analytics.errors")
    assert value is getattr(importlib.import_module(home), name)
    assert name in dir(knox_analytics)


def test_convert_is_the_function_after_its_module_is_imported() -> None:
    code = ("import knox_analytics.convert, knox_analytics; "
            "from knox_analytics import convert; print(callable(convert), "
            "convert.__module__, type(knox_analytics.convert).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.split() == ["True", "knox_analytics.convert", "function"]


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        knox_analytics.nope  # noqa: B018


def test_readme_python_example_uses_the_public_face() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### From Python", 1)[1].split("```python", 1)[1].split("```")[0]
    names = {a.name for node in ast.walk(ast.parse(section))
             if isinstance(node, ast.ImportFrom) and node.module == "knox_analytics"
             for a in node.names}
    assert {"read_trail", "decode_bytes", "table_to_trail", "convert", "Catalog"} <= names
    assert names <= set(knox_analytics.__all__)


def test_import_is_cheap() -> None:
    code = ("import sys, knox_analytics; "
            "print(sorted(m for m in ('pyarrow', 'numpy', 'duckdb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
