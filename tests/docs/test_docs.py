"""Docs cannot drift: every command is in the README with an example in its --help, and
every ``knox …`` example of the README and of each command's help runs on the bundled
trails (paths substituted) without a traceback or a non-zero exit.

Fixtures: ``sample_trails/`` (provenance in its README.md) stands for ``/var/audit``
(its README, passwd and truth files are skipped as non-trails, as a real copy's would
be); ``sample_trails/generated-workday.bsm`` for a trail; a dataset converted from it for
``audit-parquet``.  Examples that need ``/dev/auditpipe`` or Spark are parsed (their
options must exist) but not run.
"""

from __future__ import annotations

import gzip
import re
import shlex
import shutil
from pathlib import Path

import pytest
import typer
from knoxtest import ROOT, SAMPLES, WORKDAY
from typer.testing import CliRunner

from knox_analytics.cli import main
from knox_analytics.cli.main import COMMANDS, app, load_commands
from knox_analytics.errors import KnoxError

README = (ROOT / "README.md").read_text()
CLICK = load_commands()  # every command module, registered for real

#: Examples parsed but not run, and why.
NOT_RUN = {
    "auditpipe": "reads /dev/auditpipe", "capture": "reads /dev/auditpipe",
    "paudit": "reads /dev/auditpipe", "pwait": "reads /dev/auditpipe",
    "auditon": "calls auditon(2)",
}


def _all_commands() -> dict[str, object]:
    """name -> click command, sub-commands of groups as 'plot timeline'."""
    out: dict[str, object] = {}
    for name, cmd in CLICK.items():
        out[name] = cmd
        for sub, subcmd in getattr(cmd, "commands", {}).items():
            out[f"{name} {sub}"] = subcmd
    return out


# -- the command list ---------------------------------------------------------------------
def test_the_lazy_list_is_every_registered_command() -> None:
    assert list(CLICK) == list(COMMANDS) or set(CLICK) == set(COMMANDS)
    assert {"convert", "print", "summary", "query", "commands", "plot", "auditon"} <= set(CLICK)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_knox_help_line_is_the_commands_own(name: str) -> None:
    """`knox --help` lists COMMANDS' summaries: each is the first line of the help."""
    cmd = CLICK[name]
    own = " ".join((cmd.help or "").split("\n\n")[0].split())
    assert own.startswith(COMMANDS[name][1].rstrip(".")), (own, COMMANDS[name][1])


def test_knox_help_does_not_import_the_heavy_libraries() -> None:
    import subprocess
    import sys

    code = ("import sys; from knox_analytics.cli.main import run; sys.argv=['knox','--help'];"
            "\ntry: run()\nexcept SystemExit: pass\n"
            "print(sorted(m for m in ('numpy','pyarrow','duckdb','pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "summary" in out.stdout and "Usage: knox" in out.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_is_in_the_readme(name: str) -> None:
    assert f"knox {name}" in README, f"README.md never shows `knox {name}`"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_help_ends_with_an_example(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Example: knox" in result.output, f"`knox {name} --help` shows no example"


def test_help_paragraphs_are_not_hard_wrapped() -> None:
    """A help paragraph is one line in the source, so the terminal wraps it, not us."""
    for name, cmd in _all_commands().items():
        for para in (cmd.help or "").split("\n\n"):
            assert "\n" not in para.strip(), (name, para)


# -- every example runs -------------------------------------------------------------------
def readme_examples() -> list[str]:
    """`knox …` lines of the README's sh blocks (the knox part of a pipe)."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            for part in line.split(";"):
                for piece in part.split("|"):
                    if piece.strip().startswith("knox "):
                        out.append(piece.strip())
    return out


def help_examples() -> list[str]:
    out = []
    for cmd in _all_commands().values():
        out += [m.split(" | ")[0].strip() for m in re.findall(r"Example: (knox [^\n]+)",
                                                               cmd.help or "")]
    return out


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from knox_analytics.convert import convert

    tmp = tmp_path_factory.mktemp("examples")
    convert([str(WORKDAY)], tmp / "dataset")
    (tmp / "trail.bsm.gz").write_bytes(gzip.compress(WORKDAY.read_bytes()))
    shutil.copy(WORKDAY, tmp / "trail.bsm")
    return {"tmp": str(tmp), "dataset": str(tmp / "dataset")}


def substitute(example: str, place: dict[str, str]) -> list[str]:
    args = shlex.split(example)[1:]
    subs = {"audit-parquet": place["dataset"], "audit-parquet/": place["dataset"],
            "/var/audit": str(SAMPLES), "~/audit-copy": str(SAMPLES),
            "/var/audit/current": str(WORKDAY), "sample_trails/passwd": str(SAMPLES / "passwd"),
            "trail.bsm": str(WORKDAY), "trail.bsm.gz": f"{place['tmp']}/trail.bsm.gz",
            "my-rules/": str(ROOT / "knox_analytics" / "rules" / "bsmtrace")}
    out = []
    for a in args:
        if a in subs:
            a = subs[a]
        elif re.fullmatch(r"[\w-]+\.(png|svg|pdf|csv|parquet|json)", a):
            a = f"{place['tmp']}/{a}"
        out.append(a)
    return out


def _skip_reason(args: list[str]) -> str | None:
    if args[0] in NOT_RUN:
        return NOT_RUN[args[0]]
    if "--engine" in args:
        return "Spark (tests/spark runs it)"
    if args[0] in ("commands", "logins", "network") and (
            not any(Path(a).exists() for a in args[1:]) or "--follow" in args):
        return "live questions read /dev/auditpipe"
    return None


EXAMPLES = sorted(set(readme_examples()) | set(help_examples()))


def test_there_are_examples() -> None:
    assert len(readme_examples()) > 25 and len(help_examples()) >= len(COMMANDS)


@pytest.mark.slow  # every README and --help example, end to end: `make test`
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs(example: str, place: dict[str, str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(place["tmp"])
    args = substitute(example, place)
    if "--force" not in args and any(a.startswith(place["tmp"] + "/") and
                                     a.endswith((".png", ".svg", ".pdf")) for a in args):
        args.append("--force")  # the same picture may be drawn by README and --help
    reason = _skip_reason(args)
    if reason:  # parse only: every option it names must exist
        cmd = typer.main.get_command(app)
        ctx = cmd.make_context("knox", list(args), resilient_parsing=True)
        sub = cmd.get_command(ctx, args[0]) or pytest.fail(f"no command {args[0]}")
        assert sub is not None
        return
    stdin = (Path(place["tmp"]) / "trail.bsm.gz").read_bytes() if "-" in args else None
    if args[0] == "shell":
        stdin = b"SELECT count(*) FROM commands;\n.quit\n"
    if args[0] == "convert" and "-o" in args:  # a fresh dataset each time
        args[args.index("-o") + 1] = f"{place['tmp']}/converted"
    result = CliRunner().invoke(app, args, input=stdin)
    if isinstance(result.exception, KnoxError):
        pytest.fail(f"knox {shlex.join(args)}: {result.exception}")
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        (example, repr(result.exception))
    assert result.exit_code in (0, 3), (example, result.output[-800:])


# -- every option the README names exists -------------------------------------------------
#: Flags the README shows that belong to other programs (xmllint; the workload generator
#: `python -m knox_analytics.workload`).
FOREIGN = {"--noout", "--seed", "--size", "--truth", "--no-deps"}  # xmllint, generator, pip
_BENCHMARK_LINE = re.compile(r"benchmarks/(\w+)\.py([^\n#]*)")


def test_every_option_the_readme_names_exists() -> None:
    known = {opt for cmd in _all_commands().values()
             for p in getattr(cmd, "params", []) for opt in p.opts + p.secondary_opts}
    known |= {"--help", "--version"}  # knox's own (every command has --help)
    benchmark_opts = set()
    for script, rest in _BENCHMARK_LINE.findall(README):  # a benchmark's own options
        source = (ROOT / "benchmarks" / f"{script}.py").read_text()
        for opt in re.findall(r"--[a-z][a-z-]*", rest):
            assert f'"{opt}"' in source, f"benchmarks/{script}.py has no {opt}"
            benchmark_opts.add(opt)
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", README)) - FOREIGN - benchmark_opts
    assert named - known == set(), "README names options no command has"


def test_main_builds_its_app_lazily() -> None:
    assert isinstance(main.build_app(), typer.Typer)
