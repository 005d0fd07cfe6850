"""Live ``knox logins`` and ``knox network`` (issue 23, also build): the audit pipe,
``--source`` or ``--follow``, answered as live ``knox commands`` is — by the offline
question over each batch with the carried process state (``live/commands.py``), with the
same filters, ``--tz`` and output forms."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from knoxtest import TRAILS
from live_helpers import follow_lines
from typer.testing import CliRunner

from knox_analytics.catalog import Catalog
from knox_analytics.cli.live_commands import live_line
from knox_analytics.cli.main import app
from knox_analytics.errors import UsageError
from knox_analytics.live.commands import QuestionOverStream, live_question_tables, shown
from knox_analytics.questions import Filters, ask

pytestmark = pytest.mark.slow  # end-to-end, as tests/live/test_live_commands.py

WORKLOAD = TRAILS / "synthetic-workload.bsm"
QUESTIONS = ("logins", "network")


def offline(question: str, f: Filters) -> pa.Table:
    with Catalog([WORKLOAD], users="local") as cat:
        return ask(cat, question, f)


def live(question: str, f: Filters, read_size: int) -> pa.Table:
    tables = [shown(t, question) for t in live_question_tables(
        question, str(WORKLOAD), filters=f, users="local", read_size=read_size)]
    return pa.concat_tables(tables) if tables else offline(question, f).slice(0, 0)


def order(table: pa.Table) -> pa.Table:
    return table.sort_by([(c, "ascending") for c in table.column_names
                          if c not in ("success",)])


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("f", [Filters(), Filters(failed=True), Filters(user="502"),
                               Filters(since="2026-03-01T09:10")],
                         ids=lambda f: repr({k: v for k, v in vars(f).items() if v}))
def test_live_equals_offline_on_the_same_records(question: str, f: Filters) -> None:
    want = offline(question, f)
    got = live(question, f, read_size=20_000)  # many batches: commands named earlier
    assert want.num_rows > 0
    assert order(got).equals(order(want))


def test_network_command_filter_and_names_from_earlier_batches() -> None:
    f = Filters(command="curl")
    want = offline("network", f)
    assert want.num_rows > 0
    assert order(live("network", f, read_size=20_000)).equals(order(want))


@pytest.mark.parametrize("question", QUESTIONS)
def test_ndjson_and_tz_are_one_form_live_and_offline(question: str) -> None:
    runner = CliRunner()
    args = ["--users", "local", "--tz", "Europe/Paris", "--format", "ndjson"]
    off = runner.invoke(app, [question, str(WORKLOAD), *args])
    on = runner.invoke(app, [question, "--source", str(WORKLOAD), *args])
    assert off.exit_code == 0 and on.exit_code == 0, on.output
    assert on.stdout.splitlines() == off.stdout.splitlines()
    assert json.loads(on.stdout.splitlines()[0])["time"].endswith("+01:00")


@pytest.mark.parametrize("question", QUESTIONS)
def test_lines_are_one_a_row_in_the_zone_asked(question: str) -> None:
    runner = CliRunner()
    want = offline(question, Filters()).slice(0, 3).to_pylist()
    utc = runner.invoke(app, [question, "--source", str(WORKLOAD), "-n", "3"])
    paris = runner.invoke(app, [question, "--source", str(WORKLOAD), "-n", "3",
                                "--tz", "Europe/Paris"])
    assert utc.exit_code == 0 and paris.exit_code == 0, paris.output
    assert utc.stdout.splitlines() == [live_line(r, question=question) for r in want]
    first = paris.stdout.splitlines()[0].split(" ", 2)
    assert first[1].startswith("10:") and first[1].endswith("+01:00")


def test_line_forms() -> None:
    login = {"time": None, "user": "alice", "euser": "root", "operation": "su",
             "tid_addr": "10.0.0.7", "text": "bad\npassword", "success": False,
             "errno_name": "EAUTH"}
    assert live_line(login, question="logins") == \
        "? alice→root su 10.0.0.7 bad\\npassword [failed: EAUTH]"
    net = {"time": None, "pid": 7, "user": "bob", "euser": "bob", "command": "curl",
           "operation": "connect", "local_addr": None, "local_port": None,
           "remote_addr": "::1", "remote_port": 443, "success": True}
    assert live_line(net, question="network") == "? 7 bob curl connect - -> [::1]:443"


def test_only_the_live_questions_are_answered_live() -> None:
    with pytest.raises(UsageError, match="live questions: commands, logins, network"):
        QuestionOverStream(question="files")


@pytest.mark.parametrize("question", QUESTIONS)
def test_source_with_inputs_or_columns_live_is_usage(question: str) -> None:
    runner = CliRunner()
    r = runner.invoke(app, [question, str(WORKLOAD), "--follow", str(WORKLOAD)])
    assert isinstance(r.exception, UsageError) and "--source and --follow" in str(r.exception)
    r = runner.invoke(app, [question, "--source", str(WORKLOAD), "--columns", "time"])
    assert isinstance(r.exception, UsageError) and "--columns" in str(r.exception)


def test_follow_prints_logins_as_the_trail_grows(tmp_path: Path) -> None:
    data = WORKLOAD.read_bytes()
    want = offline("logins", Filters()).column("text").to_pylist()
    lines = follow_lines(["logins", "--format", "ndjson", "--users", "local"],
                         tmp_path / "current", data, 20_000, len(want))
    assert [json.loads(x)["text"] for x in lines] == want
