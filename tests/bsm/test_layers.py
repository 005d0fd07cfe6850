"""The import graph of the package: one-way layers, no circle, an independent oracle.

Read from the source with :mod:`ast` (imports inside functions included), so a lazy
import that closes a circle is caught too.  No fixture.
"""

from __future__ import annotations

import ast
from pathlib import Path

from knoxtest import ROOT

PACKAGE = ROOT / "knox_analytics"
#: The vectorized decoder's modules: they may share data (tokens.py, columns.py) with the
#: reference decoder, never its code.
VECTORIZED = ("framing", "wavefront", "walker", "extract", "assemble", "arrowcols",
              "bytesview")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "") in modules:
                deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                         else node.module for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                deps |= {f"{node.module}.{a.name}" for a in node.names} & set(modules)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names} & set(modules)
        graph[name] = deps - {name}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_no_import_circle() -> None:
    graph = _graph()
    circles = sorted(name for name in graph if name in _reachable(graph, name))
    assert circles == []


def test_oracle_and_vectorized_decoder_share_only_data() -> None:
    graph = _graph()
    oracle = _reachable(graph, "knox_analytics.bsm.reference")
    assert "knox_analytics.bsm.decode" not in oracle
    assert not {f"knox_analytics.bsm.{m}" for m in VECTORIZED} & oracle
    for module in VECTORIZED:
        deps = _reachable(graph, f"knox_analytics.bsm.{module}")
        assert "knox_analytics.bsm.reference" not in deps, module
        assert "knox_analytics.bsm.tokenreader" not in deps, module


def test_runtime_package_does_not_import_the_simulator() -> None:
    graph = _graph()
    for name in graph:
        if not name.startswith(("knox_analytics.testing", "knox_analytics.workload")):
            assert not any(d.startswith("knox_analytics.testing")
                           for d in _reachable(graph, name)), name
