"""Every command is documented: in the README, and with an example in its --help."""

from __future__ import annotations

import pytest
import typer
from knoxtest import ROOT
from typer.testing import CliRunner

from knox_analytics.cli.main import app

README = (ROOT / "README.md").read_text()


def _commands() -> list[str]:
    """Top-level commands and command groups (knox plot ..., knox auditon ...)."""
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    groups = [g.name for g in app.registered_groups if g.name]
    return sorted(commands + groups)


def test_there_are_commands() -> None:
    assert {"convert", "print", "query", "commands", "plot", "auditon"} <= set(_commands())


@pytest.mark.parametrize("name", _commands())
def test_command_is_in_the_readme(name: str) -> None:
    assert f"knox {name}" in README, f"README.md never shows `knox {name}`"


@pytest.mark.parametrize("name", _commands())
def test_command_help_ends_with_an_example(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`knox {name} --help` shows no example"


def test_readme_has_no_unfilled_sections() -> None:
    assert "<!--" not in README
    assert isinstance(app, typer.Typer)
