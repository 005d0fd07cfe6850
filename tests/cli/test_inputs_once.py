"""Each command looks at its inputs once (issue 25, item 2): the paths are discovered and
the files found in directories sniffed once, and ``knox print --command`` decodes every
trail once (it used to decode them once to select and once to render).

Fixture: copies of ``tests/data/trails/synthetic-workload.bsm`` (provenance in
tests/data/trails/README.md) in a directory with a README beside them, and a dataset
converted from it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from knoxtest import WORKLOAD
from typer.testing import CliRunner

from knox_analytics import inputs
from knox_analytics.bsm import reader
from knox_analytics.cli.main import app
from knox_analytics.convert import convert


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    d = tmp_path / "audit"
    d.mkdir()
    (d / "20260301090000.20260301091715").write_bytes(WORKLOAD.read_bytes())
    (d / "20260302090000.not_terminated").write_bytes(WORKLOAD.read_bytes())
    (d / "README.md").write_text("# trails of my Mac\n")
    return d


def _count(monkeypatch: pytest.MonkeyPatch, module: object, name: str,
           calls: Counter) -> None:
    """Count the calls of ``module.name`` by (name, the path it was given)."""
    original: Callable = getattr(module, name)

    def counted(path: object, *args: object, **kw: object) -> object:
        calls[name, os.path.realpath(os.fspath(path))] += 1
        return original(path, *args, **kw)

    monkeypatch.setattr(module, name, counted)


def _probes(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Every look at a path to tell what it is: a stat of a named path, a dataset's
    parts listed, a found file's start decoded."""
    calls: Counter = Counter()
    for name in ("_check_readable", "has_records", "is_trail"):
        _count(monkeypatch, inputs, name, calls)
    return calls


@pytest.mark.parametrize("cache", ["0", ""], ids=["trails-in-memory", "raw-trail-cache"])
def test_a_question_looks_at_each_input_once(tmp_path: Path, audit_dir: Path, cache: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    convert([str(WORKLOAD)], tmp_path / "ds")
    calls = _probes(monkeypatch)
    env = {"KNOX_CACHE_DIR": str(tmp_path / "cache"), "KNOX_RAW_CACHE_LIMIT": cache}
    result = CliRunner().invoke(app, ["summary", "-f", "json", str(tmp_path / "ds"),
                                      str(audit_dir)], env=env)
    assert result.exit_code == 0, result.output
    # the cache converts the two copies as knox convert does: their records once
    assert json.loads(result.stdout)["records"] == (3 if cache == "0" else 2) * 3006
    assert "skipped (not a BSM trail)" in result.stderr
    sniffed = {path for (name, path) in calls if name == "is_trail"}
    assert sniffed == {str(p.resolve()) for p in audit_dir.iterdir()}
    assert calls[("_check_readable", str((tmp_path / "ds").resolve()))] == 1
    assert calls[("has_records", str((tmp_path / "ds").resolve()))] == 1
    assert max(calls.values()) == 1, calls


def test_a_summary_of_a_dataset_looks_at_it_once(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    convert([str(WORKLOAD)], tmp_path / "ds")
    calls = _probes(monkeypatch)
    result = CliRunner().invoke(app, ["summary", "-f", "json", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records"] == 3006
    root = str((tmp_path / "ds").resolve())
    assert calls == Counter({("_check_readable", root): 1, ("has_records", root): 1})


def test_convert_discovers_its_inputs_once(tmp_path: Path, audit_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _probes(monkeypatch)
    result = CliRunner().invoke(app, ["convert", "-q", str(audit_dir), "-o",
                                      str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output
    # and the start of the directory's first file sniffed: it holds trails, not /etc
    # (decided before writing: inputs.check_trails_found_early)
    first = str((audit_dir / "20260301090000.20260301091715").resolve())
    assert calls == Counter({("_check_readable", str(audit_dir.resolve())): 1,
                             ("is_trail", first): 1})


def _opens(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Every trail opened to be read (decoded, or its start sniffed)."""
    calls: Counter = Counter()
    _count(monkeypatch, reader, "open_trail", calls)
    return calls


@pytest.mark.parametrize("filters", [["--command", "vim"],
                                     ["--command", "vim", "--event", "AUE_EXECVE"],
                                     ["--event", "AUE_EXECVE"]])
def test_print_with_filters_decodes_each_trail_once(
        tmp_path: Path, audit_dir: Path, filters: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    whole = runner.invoke(app, ["print", "-l", *filters, str(WORKLOAD)])
    assert whole.exit_code == 0, whole.output
    assert whole.stdout.count("\n") > 0
    opens = _opens(monkeypatch)
    result = runner.invoke(app, ["print", "-l", *filters, str(audit_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout == whole.stdout * 2  # the same records, each trail's
    assert "skipped (not a BSM trail)" in result.stderr
    assert opens == Counter({("open_trail", str(p.resolve())): 1
                             for p in audit_dir.iterdir()}), opens


def test_print_command_over_a_dataset_and_a_trail(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    convert([str(WORKLOAD)], tmp_path / "ds")
    runner = CliRunner()
    alone = runner.invoke(app, ["print", "-l", "--command", "vim", str(WORKLOAD)])
    opens = _opens(monkeypatch)
    both = runner.invoke(app, ["print", "-l", "--command", "vim", str(tmp_path / "ds"),
                               str(WORKLOAD)])
    assert both.exit_code == 0, both.output
    assert both.stdout == alone.stdout * 2
    assert opens == Counter({("open_trail", str(WORKLOAD.resolve())): 1})


def test_reduce_command_decodes_each_trail_once(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from knox_analytics.questions import Filters
    from knox_analytics.reduce import reduce_records

    opens = _opens(monkeypatch)
    with open(tmp_path / "out.bsm", "wb") as out:
        written = reduce_records([str(WORKLOAD)], Filters(command="vim"), out)
    assert written > 0
    assert opens == Counter({("open_trail", str(WORKLOAD.resolve())): 1})
