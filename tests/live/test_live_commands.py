"""Live ``knox commands`` is the offline question: the same rows for the same records
(whatever the batches), the same filters (``--command`` a glob), one NDJSON format, and
exec arguments that cannot forge output lines.

Fixture: tests/data/trails/synthetic-workload.bsm (see tests/data/trails/README.md); exec
records with hostile arguments are written with the project's encoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from knoxtest import TRAILS
from live_helpers import AUE_EXECVE, follow_lines, subject
from typer.testing import CliRunner

from knox_analytics.bsm.encode import encode_record, encode_token
from knox_analytics.catalog import Catalog
from knox_analytics.cli.live_commands import escape_controls, live_line
from knox_analytics.cli.main import app
from knox_analytics.live.commands import live_command_tables, shown
from knox_analytics.questions import Filters, ask

# end-to-end: in `make test`, not in the fast `make check` loop
pytestmark = pytest.mark.slow

WORKLOAD = TRAILS / "synthetic-workload.bsm"
ORDER = [("time", "ascending"), ("pid", "ascending"), ("command_line", "ascending")]


def offline(f: Filters, trail: Path = WORKLOAD) -> pa.Table:
    with Catalog([trail], users="local") as cat:
        return ask(cat, "commands", f)


def live(f: Filters, read_size: int, trail: Path = WORKLOAD) -> pa.Table:
    tables = [shown(t) for t in live_command_tables(str(trail), filters=f, users="local",
                                                    read_size=read_size)]
    return pa.concat_tables(tables) if tables else offline(f, trail).slice(0, 0)


SLOW = pytest.mark.slow  # the fast loop keeps two; `make test` runs every one


@pytest.mark.parametrize("f", [Filters(), Filters(command="ma*"),
                               pytest.param(Filters(user="502"), marks=SLOW),
                               pytest.param(Filters(failed=True), marks=SLOW),
                               pytest.param(Filters(command="/usr/bin/*"), marks=SLOW),
                               pytest.param(Filters(since="2026-03-01T09:10",
                                                    path="/usr/bin/*"), marks=SLOW)],
                         ids=lambda f: repr({k: v for k, v in vars(f).items() if v}))
def test_live_equals_offline_on_the_same_records(f: Filters) -> None:
    want = offline(f)
    got = live(f, read_size=48 << 10)  # ~9 batches: parents come from earlier batches
    assert want.num_rows > 0
    assert got.sort_by(ORDER).equals(want.sort_by(ORDER))


def test_command_glob_matches_the_same_rows_live_and_offline() -> None:
    f = Filters(command="ma*")
    assert offline(f).num_rows == live(f, read_size=1 << 20).num_rows == 21


@pytest.mark.slow
def test_parents_named_in_an_earlier_batch_are_kept() -> None:
    """Batches of about a hundred records: every ppid still comes out as offline."""
    f = Filters(command="make")
    want, got = offline(f), live(f, read_size=20_000)
    assert got.column("ppid").to_pylist() == want.column("ppid").to_pylist()
    assert any(p is not None for p in got.column("ppid").to_pylist())


def test_each_batch_is_decoded_once_and_the_carry_is_rows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # R5: every batch used to be written out with the carried records in front of it and
    # decoded again (0.29 s a batch at 1 k pids, 1.45 s at 90 k): the pipe overflowed
    from knox_analytics.live import commands

    f = Filters(command="make")
    want = offline(f)
    with Catalog([WORKLOAD]) as cat:
        pids = cat.query("SELECT count(DISTINCT pid) AS n FROM records").column("n")[0]

    passed = Catalog._decode

    def decoded_again(self: Catalog, trails: list[Path], decoded: pa.Table | None
                      ) -> pa.Table:
        # the rows given (from_tables) pass through; decoding bytes again is the defect
        if trails or decoded is None:
            raise AssertionError("a batch was decoded a second time")
        return passed(self, trails, decoded)

    monkeypatch.setattr(Catalog, "_decode", decoded_again)
    sizes: list[int] = []
    real = commands.QuestionOverStream.answer

    def answer(self: commands.QuestionOverStream, batch: object) -> pa.Table:
        table = real(self, batch)  # type: ignore[arg-type]
        sizes.append(self.carried_rows)
        return table

    monkeypatch.setattr(commands.QuestionOverStream, "answer", answer)
    got = live(f, read_size=20_000)
    assert got.sort_by(ORDER).equals(want.sort_by(ORDER))
    assert len(sizes) > 20 and 0 < max(sizes) <= 2 * pids.as_py()  # two rows a pid at most


def test_a_stream_that_starts_over_does_not_collide_with_the_carry() -> None:
    # a followed trail rotates: offsets start again at 0 while rows are carried
    from knox_analytics.bsm.reader import StreamDecoder
    from knox_analytics.live.commands import CommandsOverStream

    data = WORKLOAD.read_bytes()
    asker = CommandsOverStream(Filters(command="make"), users="local")
    first = [asker.answer(b) for b in StreamDecoder("a").feed(data)]
    again = [asker.answer(b) for b in StreamDecoder("b").feed(data)]
    rows = lambda ts: sum(t.num_rows for t in ts)  # noqa: E731
    assert rows(first) == rows(again) == offline(Filters(command="make")).num_rows


def test_ndjson_is_one_format_live_and_offline() -> None:
    runner = CliRunner()
    args = ["--command", "ma*", "--format", "ndjson", "--users", "local"]
    off = runner.invoke(app, ["commands", str(WORKLOAD), *args])
    on = runner.invoke(app, ["commands", "--source", str(WORKLOAD), *args])
    assert off.exit_code == 0 and on.exit_code == 0, on.output
    assert on.stdout.splitlines() == off.stdout.splitlines()
    first = json.loads(on.stdout.splitlines()[0])
    assert list(first) == ["time", "pid", "ppid", "user", "euser", "success",
                           "errno_name", "command_line"]
    assert first["time"].endswith("Z") or "T" in first["time"]


def hostile_trail(tmp_path: Path) -> Path:
    argv = ["/bin/echo", "two\nlines", "\x1b[2Jcleared", "tab\there"]
    body = [encode_token("path", path="/bin/echo"), encode_token("exec_args", argv=argv),
            subject(4242), encode_token("return32", errno=0, value=0)]
    path = tmp_path / "hostile.bsm"
    path.write_bytes(encode_record(body, event=AUE_EXECVE, time_ms=1_772_355_600_000))
    return path


def test_exec_arguments_cannot_forge_output_lines(tmp_path: Path) -> None:
    trail = hostile_trail(tmp_path)
    r = CliRunner().invoke(app, ["commands", "--source", str(trail)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and "\x1b" not in r.stdout
    assert "two\\nlines" in lines[0] and "\\x1b[2Jcleared" in lines[0]
    assert "tab\\there" in lines[0]


def test_escape_controls_and_the_line() -> None:
    assert escape_controls("a\nb\x00c\x9bd é") == "a\\nb\\x00c\\x9bd é"
    row = {"time": None, "pid": 1, "ppid": None, "user": "root", "success": False,
           "errno_name": "ENOENT", "command_line": "ls\n-l"}
    assert live_line(row) == "? 1 - root ls\\n-l [failed: ENOENT]"
    assert live_line({**row, "user": "alice", "euser": "root", "success": True}) == \
        "? 1 - alice→root ls\\n-l"
    assert live_line({**row, "euser": "root", "success": True}) == "? 1 - root ls\\n-l"


def test_limit_stops_after_n_execs() -> None:
    r = CliRunner().invoke(app, ["commands", "--source", str(WORKLOAD), "-n", "5",
                                 "--users", "local"])
    assert r.exit_code == 0, r.output
    want = offline(Filters()).column("command_line").to_pylist()[:5]
    assert [line.split(" ", 5)[5] for line in r.stdout.splitlines()] == want


def test_source_or_follow_with_inputs_is_a_usage_error() -> None:
    r = CliRunner().invoke(app, ["commands", str(WORKLOAD), "--source", str(WORKLOAD)])
    assert r.exit_code != 0


def test_follow_prints_as_the_trail_grows(tmp_path: Path) -> None:
    data = WORKLOAD.read_bytes()
    lines = follow_lines(["commands", "--command", "ma*", "--format", "ndjson", "--users",
                          "local"], tmp_path / "current", data, 100_000, 21)
    want = offline(Filters(command="ma*"))
    assert [json.loads(x)["command_line"] for x in lines] == \
        want.column("command_line").to_pylist()


@pytest.mark.parametrize("where", ["--source", "--follow"])
def test_sudo_for_live_commands_on_an_unreadable_input(
        monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    # --source: the privileged helper opens it (knox stays unprivileged); --follow,
    # which reopens the trail by name at each rotation: the command re-runs through sudo
    from knox_analytics.live import privilege

    class Reran(Exception):
        pass

    asked: list[tuple[str, ...]] = []

    def reexec() -> None:
        raise Reran

    def helper_open(*args: str) -> tuple[int, str, int]:
        asked.append(args)
        raise Reran

    monkeypatch.setattr(privilege, "needs_sudo", lambda paths: paths == [str(WORKLOAD)])
    monkeypatch.setattr(privilege, "reexec_with_sudo", reexec)
    monkeypatch.setattr(privilege, "helper_open", helper_open)
    r = CliRunner().invoke(app, ["commands", where, str(WORKLOAD), "--sudo"])
    assert isinstance(r.exception, Reran)
    assert asked == ([("trail", str(WORKLOAD))] if where == "--source" else [])


def test_live_commands_honour_tz() -> None:
    """Issue 25 item 6: live lines and NDJSON are in --tz, as the offline answer is."""
    runner = CliRunner()
    args = ["--command", "ma*", "--users", "local", "--tz", "Europe/Paris"]
    off = runner.invoke(app, ["commands", str(WORKLOAD), *args, "--format", "ndjson"])
    on = runner.invoke(app, ["commands", "--source", str(WORKLOAD), *args,
                             "--format", "ndjson"])
    assert off.exit_code == 0 and on.exit_code == 0, on.output
    assert on.stdout.splitlines() == off.stdout.splitlines()
    assert json.loads(on.stdout.splitlines()[0])["time"].endswith("+01:00")
    lines = runner.invoke(app, ["commands", "--source", str(WORKLOAD), *args, "-n", "1"])
    utc = runner.invoke(app, ["commands", "--source", str(WORKLOAD), *args[:-2], "-n", "1"])
    when = utc.stdout.split(" ", 2)[:2]
    assert when[0] == "2026-03-01" and when[1].startswith("09:")  # UTC lines unchanged
    paris = lines.stdout.split(" ", 2)
    assert paris[1] == f"10{when[1][2:]}+01:00"


@pytest.mark.parametrize(("args", "want"), [
    ([], "local"),  # this machine's audit pipe: its own names
    (["--source", str(WORKLOAD)], None),  # a trail from elsewhere: only names asked for
    (["--follow", str(WORKLOAD)], None),
    (["--source", str(WORKLOAD), "--users", "local"], "local"),
    (["--users", "sample_trails/passwd"], "sample_trails/passwd")])
def test_live_users_default_is_local_only_for_the_pipe(
        monkeypatch: pytest.MonkeyPatch, args: list[str], want: str | None) -> None:
    """Issue 25 item 5: --source/--follow never use this machine's names unless asked."""
    import knox_analytics.live.commands as live_commands

    seen: dict[str, object] = {}

    def tables(*_a: object, users: str | None = None, **_k: object) -> list[pa.Table]:
        seen["users"] = users
        return []

    monkeypatch.setattr(live_commands, "live_question_tables", tables)
    r = CliRunner().invoke(app, ["commands", *args])
    assert r.exit_code == 0, r.output
    assert seen["users"] == want
