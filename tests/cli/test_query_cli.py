"""knox query / shell and the question commands, end to end through Typer.

Fixture: ``tests/data/trails/synthetic-workload.bsm`` (see tests/data/trails/README.md);
expected numbers come from its truth sidecar (e.g. 644 exec records, 5 failed by bob).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from knoxtest import TRAILS
from typer.testing import CliRunner

from knox_analytics.cli import query, questions

DATA = TRAILS
TRAIL = str(DATA / "synthetic-workload.bsm")


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    query.register(app)
    questions.register(app)
    return app


@pytest.fixture(scope="module")
def passwd(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("users") / "passwd"
    path.write_text("alice:*:501:20::/Users/alice:/bin/zsh\nbob:*:502:20::/Users/bob:/bin/zsh\n")
    return str(path)


def run(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def test_query_formats(app: typer.Typer, tmp_path: Path) -> None:
    sql = "SELECT event_name, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 2"
    want = [{"event_name": "AUE_OPEN_R", "n": 633}, {"event_name": "AUE_EXIT", "n": 621}]
    assert json.loads(run(app, "query", sql, TRAIL, "--format", "json")) == want
    lines = run(app, "query", sql, TRAIL, "-f", "ndjson").splitlines()
    assert [json.loads(x) for x in lines] == want
    rows = list(csv.DictReader(io.StringIO(run(app, "query", sql, TRAIL, "-f", "csv"))))
    assert rows == [{k: str(v) for k, v in w.items()} for w in want]
    out = tmp_path / "x.parquet"
    run(app, "query", sql, TRAIL, "-f", "parquet", "-o", str(out))
    assert pq.read_table(out).to_pylist() == want
    table = run(app, "query", sql, TRAIL)
    assert "AUE_OPEN_R" in table and "633" in table


def test_output_is_not_overwritten(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    out.write_text("mine")
    result = CliRunner().invoke(app, ["query", "SELECT 1", "-f", "csv", "-o", str(out)])
    assert result.exit_code != 0 and out.read_text() == "mine"
    run(app, "query", "SELECT 1 AS one", "-f", "csv", "-o", str(out), "--force")
    assert out.read_text().splitlines() == ["one", "1"]


def test_commands_with_filters(app: typer.Typer, passwd: str) -> None:
    out = run(app, "commands", TRAIL, "--users", passwd, "--user", "bob", "--failed",
              "-f", "json")
    got = json.loads(out)
    assert [(r["user"], r["success"], r["command_line"]) for r in got] == \
        [("bob", False, "nonexistent --version")] * len(got)
    assert len(got) == 3
    everything = json.loads(run(app, "commands", TRAIL, "-f", "json"))
    assert len(everything) == 644
    assert set(everything[0]) == {"time", "pid", "ppid", "user", "euser", "success",
                                  "errno_name", "command_line"}


def test_files_errors_network_logins(app: typer.Typer) -> None:
    files = json.loads(run(app, "files", TRAIL, "--path", "/etc/*", "-f", "json"))
    assert files and all(f["path"].startswith("/etc/") for f in files)
    by = list(csv.DictReader(io.StringIO(run(app, "errors", TRAIL, "--by", "errno",
                                             "-f", "csv"))))
    assert {(r["errno_name"], r["failures"]) for r in by} == {
        ("ENOENT", "111"), ("EACCES", "101"), ("ECONNREFUSED", "65"), ("EPERM", "6"),
        ("EAUTH", "2")}
    net = json.loads(run(app, "network", TRAIL, "--failed", "-f", "json"))
    assert len(net) == 65 and {n["errno_name"] for n in net} == {"ECONNREFUSED"}
    logins = json.loads(run(app, "logins", TRAIL, "--event", "sudo", "-f", "json"))
    assert len(logins) == 5


def test_class_and_event_filters(app: typer.Typer) -> None:
    opens = json.loads(run(app, "events", TRAIL, "--class", "-fr", "-f", "json"))
    assert opens and all(e["success"] is False for e in opens)
    listed = json.loads(run(app, "events", "--list", "--event", "execve,43190", "-f",
                            "json"))
    assert [e["name"] for e in listed] == ["AUE_EXECVE", "AUE_POSIX_SPAWN"]
    classes = list(csv.DictReader(io.StringIO(run(app, "classes", "-f", "csv"))))
    assert {"class": "pc", "mask": "0x00000080", "description": "process"} in classes


def test_tree(app: typer.Typer) -> None:
    out = run(app, "tree", "1205", "-i", TRAIL)
    lines = out.splitlines()
    assert lines[0].startswith("1202 zsh") and "1205 tar" in lines[1]
    rows = json.loads(run(app, "tree", "--command", "tar", "-i", TRAIL, "-f", "json"))
    assert {r["command"] for r in rows if r["depth"] == 0} == {"tar"}


def test_usage_errors_are_one_line(app: typer.Typer) -> None:
    from knox_analytics.errors import KnoxError

    for args in (["network", TRAIL, "--class", "zz"], ["query", "SELEC 1"],
                 ["errors", TRAIL, "--by", "nope"], ["commands", TRAIL, "--since", "soon"]):
        result = CliRunner().invoke(app, args)
        assert isinstance(result.exception, KnoxError), args


def test_every_command_help_ends_with_an_example(app: typer.Typer) -> None:
    for name in ("query", "shell", "commands", "files", "errors", "tree", "network",
                 "logins", "events", "classes"):
        out = run(app, name, "--help")
        assert "Example: knox " + name in " ".join(out.split()), name


def test_shell_runs_statements(app: typer.Typer) -> None:
    """A statement over two lines runs once it ends with ';', and prints its table: one
    column n, one row holding the truth sidecar's 644 execs, nothing else."""
    result = CliRunner().invoke(app, ["shell", TRAIL],
                                input="SELECT count(*) AS n\nFROM commands;\n.quit\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"})
    # the prompts ("knox> ", "  ... ") share the header's line: the header is its last word
    assert lines[rule - 1].split()[-1] == "n" and lines[rule + 1].strip() == "644", lines
    assert lines[rule + 2:] == ["knox> "], lines  # nothing else, then the next prompt
    assert "1 row" in result.stderr
