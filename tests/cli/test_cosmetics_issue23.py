"""Issue 23 item 17 (cosmetics): --help names values as a person would (no typer
``<bool>``/``<str>``), nothing in a help table is cut at 80 columns, the refusal to replace
a foreign directory names ``--overwrite``, praudit's ``execve(2)`` spelling is an event,
convert writes no stray blank line on a pipe and leaves no empty ``_staging/`` behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from knoxtest import WORKDAY, WORKLOAD
from typer.testing import CliRunner

from knox_analytics import Catalog
from knox_analytics.cli.main import COMMANDS, build_app
from knox_analytics.convert import convert
from knox_analytics.errors import KnoxError
from knox_analytics.questions import Filters, ask, event_numbers, resolve_events

TYPE_NAMES = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|int range)>")


def help_text(*argv: str) -> str:
    res = CliRunner().invoke(build_app(), [*argv, "--help"],
                             env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_names_values_and_cuts_nothing_at_80_columns(command: str) -> None:
    text = help_text(command)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert not TYPE_NAMES.search(text), TYPE_NAMES.search(text)
    assert not re.search(r"… *│", text), text  # a cell cut short by an ellipsis


def test_convert_help_keeps_its_long_words_whole() -> None:
    text = help_text("convert")
    flat = re.sub(r"[\s│]", "", text)
    assert "(docs/derived-state.md)" in flat
    assert "audit_event/audit_class" in flat
    assert "--allow-foreign-owner" in flat
    assert "--no-overwrite" not in text and "--no-strict" not in text
    assert re.search(r"--jobs +-j +N ", text) and re.search(r"--output +-o +OUTPUT ", text)


def test_a_foreign_directory_is_refused_naming_the_option(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    with pytest.raises(KnoxError, match="give --overwrite"):
        convert([WORKLOAD], out)
    assert (out / "notes.txt").read_text() == "keep me\n"


def test_praudits_spelling_of_an_event_is_accepted() -> None:
    with Catalog([WORKLOAD]) as cat:
        known = event_numbers(cat)
        assert resolve_events(("execve(2)",), known) == [known["AUE_EXECVE"]]
        got = ask(cat, "commands", Filters(events=("execve(2)",))).num_rows
        assert got == ask(cat, "commands", Filters(events=("AUE_EXECVE",))).num_rows > 0
    res = CliRunner().invoke(build_app(), ["files", str(WORKLOAD), "-e", "open(2)",
                                           "-f", "csv"], env={"KNOX_RAW_CACHE_LIMIT": "0"})
    assert res.exception is None or res.exit_code == 0, res.output


def test_convert_on_a_pipe_writes_no_blank_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(build_app(), ["convert", str(WORKLOAD), "-o",
                                           str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith("1 file(s) converted"), repr(res.stderr)
    assert "\n\n" not in res.stderr


def test_a_parallel_convert_leaves_no_staging(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    done = convert([WORKDAY], root, jobs=2, derive=False)
    assert done.records > 0
    assert not (root / "_staging").exists(), sorted(
        p.relative_to(root) for p in (root / "_staging").rglob("*"))


def test_one_of_a_thing_is_said_in_the_singular() -> None:
    """"1 failed records" (the errors plot's title) and its kin: one is singular."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from knox_analytics import words
    from knox_analytics.plot import draw
    from knox_analytics.tree import Forest

    one = pa.table({"command": ["ls"], "errno_name": ["ENOENT"],
                    "time": pa.array([datetime(2026, 3, 1, tzinfo=UTC)])})
    titles = [ax.get_title() for fig in (draw.errors_heatmap_figure(one),
                                         draw.failures_over_time_figure(one))
              for ax in fig.axes]
    assert sum(t.endswith("— 1 failed record") for t in titles) == 2, titles
    note = Forest(pa.table({"pid": [1]}), found=1, deeper=1, depth=2).note()
    assert note == ("1 process deeper than --depth 2 and its descendants not shown")
    assert words.count(1, "process", "processes") == "1 process"
    assert words.count(1234, "failed record") == "1,234 failed records"
