"""Issue 22: every filter means what it says — one regression test per defect, on the
questions (a Catalog), on knox print's record-by-record selection (stdin included), and
on the CLI where the defect was a CLI one."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from knoxtest import TRAILS, WORKDAY, InProcessSpark
from typer.testing import CliRunner

from knox_analytics.bsm.encode import encode_record, encode_token
from knox_analytics.catalog import Catalog
from knox_analytics.errors import UsageError
from knox_analytics.questions import Filters, ask, why_empty
from knox_analytics.render.records import iter_inputs

MACOS = TRAILS / "macos-10.9-apple.bsm"
UNSET = 0xFFFFFFFF
T0 = 1_772_355_600_000  # 2026-03-01 09:00 UTC


def selected(inputs: list[str], f: Filters, stdin: bytes | None = None, **kw: object) -> int:
    """Records knox print's selection keeps (record by record, as on a stream)."""
    from knox_analytics.select import RecordSelector

    selector = RecordSelector(f, **kw)
    tables = iter_inputs(inputs, lambda _d: None,
                         stdin=io.BytesIO(stdin) if stdin is not None else None)
    return sum(t.num_rows for t in selector.select(tables))


def _record(event: int, auid: int, euid: int, ruid: int, *, ok: bool, at: int = 0,
            paths: tuple[str, ...] = (), tokens: tuple[bytes, ...] = (),
            ret: bool = True) -> bytes:
    body = [encode_token("path", path=p) for p in paths] + list(tokens)
    body.append(encode_token("subject32", auid=auid, euid=euid, egid=0, ruid=ruid, rgid=20,
                             pid=700 + at, sid=100004, tid_port=0, tid_addr="0.0.0.0"))
    if ret:
        body.append(encode_token("return32", errno=0 if ok else 1, value=0 if ok else -1))
    return encode_record(body, event=event, time_ms=T0 + at)


@pytest.fixture(scope="module")
def su_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two failed su by uid 1001 before any login (auid unset, euid 0, ruid 1001), one
    login of 1001, a rename to *.bak, shutdown(2) and the shutdown of the system."""
    data = b"".join([
        _record(6159, UNSET, 0, 1001, ok=False, at=1),  # AUE_su
        _record(6159, UNSET, 0, 1001, ok=False, at=2),
        _record(6152, 1001, 1001, 1001, ok=True, at=3),  # AUE_login
        _record(42, 1001, 1001, 1001, ok=True, at=4, paths=("/tmp/a", "/tmp/a.bak")),
        _record(46, 0, 0, 0, ok=True, at=5),  # AUE_SHUTDOWN: shutdown(2)
        _record(6168, 0, 0, 0, ok=True, at=6),  # AUE_shutdown: system shutdown
    ])
    path = tmp_path_factory.mktemp("su") / "su.bsm"
    path.write_bytes(data)
    return path


# 1. --pid 0 was ignored (`value in (None, False, ())` is true for 0)
def test_pid_zero_selects_pid_zero() -> None:
    with Catalog([MACOS]) as cat:
        assert ask(cat, "events", Filters(pid=0)).num_rows == 10  # auditreduce -j 0
    assert selected([str(MACOS)], Filters(pid=0)) == 10


# 2. --user UID never matched the real uid
def test_user_uid_matches_the_real_user(su_trail: Path) -> None:
    with Catalog([su_trail]) as cat:
        assert ask(cat, "events", Filters(user="1001")).num_rows == 4
        assert ask(cat, "logins", Filters(user="1001")).num_rows == 3
    with Catalog([su_trail], users={1001: "jasper"}) as cat:
        by_name = ask(cat, "logins", Filters(user="jasper")).num_rows
        assert by_name == ask(cat, "logins", Filters(user="1001")).num_rows == 3


# 3. --path ignored the second path (a rename's destination)
def test_path_matches_the_second_path(su_trail: Path) -> None:
    with Catalog([su_trail]) as cat:
        assert ask(cat, "files", Filters(path="*.bak")).num_rows == 1
        assert ask(cat, "events", Filters(path="*.bak")).num_rows == 1
    with Catalog([WORKDAY]) as cat:
        assert ask(cat, "files", Filters(path="*.bak")).num_rows == 24


# 4. an event number missing from the table was refused; 44901-44904 had no names
def test_event_number_outside_the_table_and_session_events() -> None:
    with Catalog([MACOS]) as cat:
        assert ask(cat, "events", Filters(events=("44901",))).num_rows == 7
        assert ask(cat, "events", Filters(events=("AUE_SESSION_START",))).num_rows == 7
        # no class is published for them: a class filter does not select them
        assert ask(cat, "events", Filters(events=("44901",), classes="all")).num_rows == 0
    assert selected([str(MACOS)], Filters(events=("44901",))) == 7


# 5. names were compared case-insensitively: AUE_shutdown also selected AUE_SHUTDOWN
def test_exact_event_names_and_ambiguous_bare_names(su_trail: Path) -> None:
    with Catalog([su_trail]) as cat:
        assert ask(cat, "events", Filters(events=("AUE_shutdown",))).column(
            "event_name").to_pylist() == ["AUE_shutdown"]
        assert ask(cat, "events", Filters(events=("AUE_SHUTDOWN",))).column(
            "event_name").to_pylist() == ["AUE_SHUTDOWN"]
        with pytest.raises(UsageError, match="AUE_SHUTDOWN = 46, AUE_shutdown = 6168"):
            ask(cat, "events", Filters(events=("shutdown",)))
    from knox_analytics.questions import resolve_events

    assert resolve_events(("execve",), {"AUE_EXECVE": 23}) == [23]


# 6. --class lo dropped records without a return token
def test_class_keeps_records_without_a_return_token(tmp_path: Path) -> None:
    with Catalog([MACOS]) as cat:
        assert ask(cat, "events", Filters(classes="lo")).num_rows == 2  # auditreduce -c lo
    trail = tmp_path / "noreturn.bsm"
    trail.write_bytes(_record(6152, 501, 501, 501, ok=True, ret=False))
    for expr in ("lo", "+lo", "-lo"):
        assert selected([str(trail)], Filters(classes=expr)) == 1, expr


# 7. --since beyond the data said only "no match"
def test_since_after_the_data_says_where_the_data_ends() -> None:
    with Catalog([MACOS]) as cat:
        f = Filters(since="2h")
        assert ask(cat, "events", f).num_rows == 0
        assert "the data ends 2013-11-04" in why_empty(cat, "events", f)


# 8. filters were refused on stdin, and print was silent about names needing --users
def test_record_local_filters_work_on_stdin(su_trail: Path) -> None:
    data = su_trail.read_bytes()
    for f, n in ((Filters(failed=True), 2), (Filters(user="1001"), 4),
                 (Filters(events=("6159",)), 2), (Filters(path="*.bak"), 1),
                 (Filters(classes="ad"), 1), (Filters(pid=701), 1),
                 (Filters(since="2026-03-01T09:00:00.004"), 3)):
        assert selected(["-"], f, stdin=data) == selected([str(su_trail)], f) == n, f


def test_print_filters_stdin_and_names_needing_users(su_trail: Path) -> None:
    from knox_analytics.cli.main import build_app

    runner = CliRunner()
    app = build_app()
    res = runner.invoke(app, ["print", "-ln", "--failed", "-"], input=su_trail.read_bytes())
    assert res.exit_code == 0 and res.stdout.count("\n") == 2
    # a user name nothing names is usage, as on every command (issue 23's exit-code rule)
    res = runner.invoke(app, ["print", "-ln", "--user", "jasper", str(su_trail)])
    assert isinstance(res.exception, UsageError) and res.stdout == ""
    assert "--users FILE" in str(res.exception)


def test_invert_is_the_complement(su_trail: Path) -> None:
    every = selected([str(su_trail)], Filters(since="2000-01-01"))
    mine = selected([str(su_trail)], Filters(failed=True))
    assert selected([str(su_trail)], Filters(failed=True, invert=True)) == every - mine


@pytest.mark.parametrize("f", [Filters(classes="+ex"), Filters(events=("AUE_EXECVE",)),
                               Filters(euid="502", session=100004),
                               Filters(terminal="192.168.1.47", egid=20),
                               Filters(failed=True, invert=True, host="unknown")],
                         ids=lambda f: repr({k: v for k, v in vars(f).items() if v}))
def test_the_filters_mean_the_same_on_a_source_stream(f: Filters) -> None:
    """``knox commands --source`` (a stream, batch by batch) selects as the question does."""
    import pyarrow as pa

    from knox_analytics.live.commands import live_command_tables, shown

    workload = TRAILS / "synthetic-workload.bsm"
    order = [("time", "ascending"), ("pid", "ascending"), ("command_line", "ascending")]
    with Catalog([workload]) as cat:
        want = ask(cat, "commands", f)
    got = pa.concat_tables([shown(t) for t in live_command_tables(
        str(workload), filters=f, read_size=64 << 10)])
    assert 0 < want.num_rows < 644  # a real selection of the 644 execs
    assert got.sort_by(order).equals(want.sort_by(order))


# 10. convert counted the stand-alone file tokens as records (20,009), summary did not (20,007)
@pytest.mark.parametrize("jobs", [1, 2, "spark"])
def test_convert_and_summary_count_the_same_records(tmp_path: Path, jobs: int | str) -> None:
    from knox_analytics.bsm.encode import encode_file_token
    from knox_analytics.convert import convert as knox_convert
    from knox_analytics.spark.convert import convert as spark_convert
    from knox_analytics.summary import summarize

    def convert(inputs: list[Path], out: Path, jobs: int | str) -> Any:
        if jobs == "spark":  # Spark's real tasks, scheduled in this process
            return spark_convert(InProcessSpark(), inputs, out)
        return knox_convert(inputs, out, jobs=jobs)

    trail = tmp_path / "trail.bsm"
    trail.write_bytes(encode_file_token("20260301090000.not_terminated", T0) + MACOS.read_bytes()
                      + encode_file_token("20260301090000.20260301100000", T0 + 1))
    out = tmp_path / "ds"
    done = convert([trail], out, jobs=jobs)
    with Catalog([out]) as cat:
        assert done.records == summarize(cat).records == 54
    copy = tmp_path / "copy.bsm"
    copy.write_bytes(trail.read_bytes())
    assert convert([copy], out, jobs=jobs).records == 0
