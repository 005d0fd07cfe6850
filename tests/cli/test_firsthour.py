"""An expert's first hour (issue 23): pipes, who did it, one exit-code rule, the shell.

In process (fast); the Ctrl-C tests, which need a real process and a real signal, are in
test_interrupt.py.  Fixture: ``tests/data/trails/synthetic-workload.bsm`` and its truth.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from knoxtest import SAMPLES, WORKDAY, WORKLOAD

from knox_analytics import interrupt
from knox_analytics.cli import main
from knox_analytics.cli.output import print_table, who_column


# -- item 2: piped tables ---------------------------------------------------------------
def test_piped_table_has_no_trailing_padding(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """One very long value must not pad every other line to its width: each line ends
    at its last character, and each column is as wide as its widest value shown."""
    monkeypatch.delenv("COLUMNS", raising=False)
    long = "x" * 3000
    table = pa.table({"pid": [1, 22, 333], "command_line": ["ls", long, "id -u"],
                      "user": ["alice", "bob", "root"]})
    print_table(table, title="commands")
    lines = capsys.readouterr().out.splitlines()
    assert all(line == line.rstrip() for line in lines)
    head = lines.index(next(x for x in lines if x.startswith("pid")))
    header, rows = lines[head], lines[head + 2:]
    # pid is 3 wide (its widest value and its header), command_line 3000, user 5
    assert header.index("command_line") == 3 + 3
    assert header.index("user") == 3 + 3 + 3000 + 3
    assert rows[0] == "1     ls" + " " * (3000 - 2) + "   alice"
    assert len(rows[1]) == 3 + 3 + 3000 + 3 + 3
    assert lines[head + 1] == "─" * (3 + 3 + 3000 + 3 + 5)


# -- item 7: one exit-code rule ---------------------------------------------------------
TRAIL = str(WORKLOAD)
PASSWD = str(SAMPLES / "passwd")


def knox(argv: list[str], monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``knox ARGV`` through the real entry point (exit codes, one-line errors), in
    process; Ctrl-C's watcher is not installed into the test runner."""
    monkeypatch.setattr(sys, "argv", ["knox", *argv])
    monkeypatch.setattr(interrupt, "install", lambda: False)
    with pytest.raises(SystemExit) as stop:
        main.run()
    out, err = capsys.readouterr()
    code = stop.value.code if isinstance(stop.value.code, int) else 0
    return code, out, err


def usage_line(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err and "Usage:" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize("argv", [
    ["commands", TRAIL], ["files", TRAIL], ["errors", TRAIL], ["network", TRAIL],
    ["logins", TRAIL], ["events", TRAIL], ["events", "--list"], ["print", TRAIL],
    ["plot", "errors", TRAIL, "-o", "{tmp}/e.png"],
])
def test_an_event_name_not_in_the_tables_is_usage(
        argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    line = usage_line(*knox([*argv, "--event", "execvee"], monkeypatch, capsys)[::2])
    assert "--event execvee: no such audit event; did you mean AUE_EXECVE" in line
    assert not (tmp_path / "e.png").exists()


@pytest.mark.parametrize("argv", [
    ["commands", TRAIL], ["files", TRAIL], ["errors", TRAIL], ["network", TRAIL],
    ["logins", TRAIL], ["events", TRAIL], ["print", TRAIL],
    ["plot", "timeline", TRAIL, "-o", "{tmp}/t.png"],
    ["plot", "tree", TRAIL, "-o", "{tmp}/t.png"],
    ["plot", "files", TRAIL, "-o", "{tmp}/t.png"],
    ["plot", "network", TRAIL, "-o", "{tmp}/t.png"],
    ["plot", "logins", TRAIL, "-o", "{tmp}/t.png"],
])
def test_a_user_name_without_users_is_usage_and_names_the_option(
        argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    line = usage_line(*knox([*argv, "--user", "alice"], monkeypatch, capsys)[::2])
    assert "--user alice:" in line and "--users FILE" in line
    assert not (tmp_path / "t.png").exists()  # item 6: no "no processes" picture


def test_a_user_name_the_users_file_lacks_is_usage_with_a_did_you_mean(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = knox(["commands", TRAIL, "--users", PASSWD, "--user", "alcie"],
                        monkeypatch, capsys)
    assert "did you mean alice?" in usage_line(code, err)
    code, out, err = knox(["commands", TRAIL, "--users", PASSWD, "--user", "alice",
                           "-f", "csv"], monkeypatch, capsys)
    assert code == 0 and len(out.splitlines()) > 1, err


def test_a_misspelt_class_is_usage(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = knox(["commands", TRAIL, "--class", "zz"], monkeypatch, capsys)
    assert "unknown audit class 'zz'" in usage_line(code, err)


@pytest.mark.parametrize("argv", [
    ["summary", "{in}"], ["commands", "{in}"], ["files", "{in}"], ["errors", "{in}"],
    ["network", "{in}"], ["logins", "{in}"], ["events", "{in}"], ["tree", "{in}", "--pid", "1"],
    ["query", "SELECT 1", "{in}"], ["print", "{in}"], ["convert", "{in}", "-o", "{tmp}/ds"],
    ["plot", "timeline", "{in}", "-o", "{tmp}/t.png"],
])
def test_an_unreadable_input_is_exit_1_with_the_sudo_hint(
        argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Tests run as root, which reads everything: os.access says no for the trail."""
    locked = tmp_path / "locked.bsm"
    locked.write_bytes(WORKLOAD.read_bytes())
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, *a, **k: False
                        if os.fspath(p) == str(locked) else real(p, m, *a, **k))
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{in}", str(locked)) for a in argv]
    code, _, err = knox(argv, monkeypatch, capsys)
    assert code == 1, err
    assert "Usage:" not in err and len(err.strip().splitlines()) == 1, err
    assert f"{locked}: permission denied" in err and "run with sudo, or copy" in err


@pytest.mark.parametrize("command", [["summary"], ["commands"], ["print"],
                                     ["plot", "errors", "-o", "{tmp}/e.png"]])
def test_a_directory_holding_no_trail_is_exit_1_naming_it(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Item 17: ``knox summary /etc`` said "no records".  A directory in which no trail is
    found (non-trails and empty files only, or nothing) is one line naming it, exit 1, as
    a named file that is not a trail is: on every command alike."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "hosts").write_text("127.0.0.1 localhost\n" * 20)
    (etc / "subgid").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in command]
    for directory, why in ((etc, "(1 file is not a BSM audit trail, 1 file is empty)"),
                           (tmp_path / "empty", "(it holds no files)")):
        code, out, err = knox([*argv, str(directory)], monkeypatch, capsys)
        assert (code, out) == (1, ""), err
        assert err == f"knox: {directory}: no audit trails found {why}\n"
    assert not (tmp_path / "e.png").exists()


def etc_like(tmp_path: Path) -> Path:
    """A directory holding no trail, as /etc: a text file and an empty one."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "hosts").write_text("127.0.0.1 localhost\n" * 20)
    (etc / "subgid").write_bytes(b"")
    return etc


NO_TRAILS = "no audit trails found (1 file is not a BSM audit trail, 1 file is empty)"


def test_convert_of_a_directory_holding_no_trail_is_exit_1_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``knox convert /etc -o DS`` said "3 file(s) converted, 0 records", exit 0, and
    created DS: the same one line as every command now, and no dataset."""
    etc, out = etc_like(tmp_path), tmp_path / "ds"
    code, stdout, err = knox(["convert", str(etc), "-o", str(out), "-q"], monkeypatch, capsys)
    assert (code, stdout, err) == (1, "", f"knox: {etc}: {NO_TRAILS}\n")
    assert not out.exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_convert_of_a_directory_holding_no_trail_leaves_a_dataset_unchanged(
        jobs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Into an existing dataset: exit 1 and no new version (the manifest and every file
    as they were)."""
    etc, out = etc_like(tmp_path), tmp_path / "ds"
    code, _, err = knox(["convert", TRAIL, "-o", str(out), "-q"], monkeypatch, capsys)
    assert code == 0, err

    def state() -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
                if p.is_file() and p.name != "_knox.lock"}

    before = state()
    code, _, err = knox(["convert", str(etc), "-o", str(out), "-q", "-j", jobs],
                        monkeypatch, capsys)
    assert (code, err) == (1, f"knox: {etc}: {NO_TRAILS}\n")
    assert state() == before


def test_convert_of_a_directory_with_a_trail_beside_a_readme_skips_the_readme(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "README").write_text("trails copied from the Mac\n")
    (tmp_path / "audit" / "20260301.trail").write_bytes(WORKLOAD.read_bytes())
    code, _, err = knox(["convert", str(tmp_path / "audit"), "-o", str(tmp_path / "ds"),
                         "-q"], monkeypatch, capsys)
    assert code == 0, err
    assert err.startswith("1 file(s) converted, 3,006 records"), err
    assert err.endswith(f"knox: skipped (not a BSM trail): {tmp_path / 'audit' / 'README'}\n")


@pytest.mark.parametrize("flags", [[], ["--command", "ls"]])
def test_reduce_of_a_directory_holding_no_trail_is_exit_1_writing_nothing(
        flags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """``knox reduce /etc`` wrote an empty trail and exited 0."""
    etc = etc_like(tmp_path)
    code, out, err = knox(["reduce", *flags, str(etc)], monkeypatch, capsysbinary)  # type: ignore[arg-type]
    assert (code, out, err) == (1, b"", f"knox: {etc}: {NO_TRAILS}\n".encode())
    (etc / "20260301.trail").write_bytes(WORKLOAD.read_bytes())  # now it holds one
    code, out, err = knox(["reduce", *flags, str(etc)], monkeypatch, capsysbinary)  # type: ignore[arg-type]
    assert code == 0 and out.startswith(b"\x14"), err
    assert err == f"knox: skipped (not a BSM trail): {etc / 'hosts'}\n".encode()


@pytest.mark.parametrize("command", [["summary"], ["convert", "-q", "-o", "{tmp}/ds"]])
def test_a_directory_holding_only_an_empty_current_is_an_empty_answer(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Right after auditd rotates, /var/audit may hold nothing but an empty ``current``
    and an empty ``START.not_terminated``: that is an empty trail (exit 0), not the wrong
    directory."""
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "audit_control").write_text("dir:/var/audit\n")
    (audit / "20261207101500.not_terminated").write_bytes(b"")
    (audit / "current").write_bytes(b"")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in command]
    code, _out, err = knox([*argv, str(audit)], monkeypatch, capsys)
    assert code == 0 and "no audit trails found" not in err, err


def test_a_directory_with_a_trail_beside_other_files_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README").write_text("trails copied from the Mac\n")
    (tmp_path / "current").write_bytes(b"")  # a trail just rotated: empty, still a trail
    (tmp_path / "20260301.trail").write_bytes(WORKLOAD.read_bytes())
    code, out, err = knox(["summary", str(tmp_path)], monkeypatch, capsys)
    assert code == 0 and out.startswith("records   3,006"), err
    assert err == f"knox: skipped (not a BSM trail): {tmp_path / 'README'}\n"


@pytest.mark.parametrize("argv", [
    ["tree", TRAIL, "--pid", "99999"],
    ["plot", "files", TRAIL, "--pid", "99999", "-o", "{tmp}/f.png"],
    ["plot", "tree", TRAIL, "--pid", "99999", "-o", "{tmp}/f.png"],
    ["plot", "timeline", TRAIL, "--pid", "99999", "-o", "{tmp}/f.png"],
])
def test_no_such_pid_is_an_answer_exit_0_with_the_reason(
        argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = knox(argv, monkeypatch, capsys)
    assert code == 0, err
    assert "99999" in err and "no process" in err.replace("no such process", "no process")
    assert not (tmp_path / "f.png").exists()


# -- item 3: who did it -----------------------------------------------------------------
def _truth_execs_as(auid: int, euid: int) -> int:
    n = 0
    for line in WORKDAY.with_suffix(".truth.jsonl").read_text().splitlines():
        record = json.loads(line)
        subject = record.get("subject") or {}
        if record.get("event_name") in ("AUE_EXECVE", "AUE_POSIX_SPAWN") and \
                subject.get("auid") == auid and subject.get("euid") == euid:
            n += 1
    return n


def test_commands_name_the_login_and_the_effective_user(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """alice's commands under sudo ran as root: CSV has user alice and euser root, as
    many as the truth sidecar's execs with auid 501 and euid 0; the table says
    alice→root on those rows (and no euser column)."""
    want = _truth_execs_as(501, 0)
    assert want > 0
    code, out, err = knox(["commands", str(WORKDAY), "--users", PASSWD, "-f", "csv"],
                          monkeypatch, capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0, err
    assert sum(r["user"] == "alice" and r["euser"] == "root" for r in rows) == want
    assert all(r["euser"] for r in rows)
    code, out, err = knox(["commands", str(WORKDAY), "--users", PASSWD], monkeypatch, capsys)
    assert out.count("alice→root") == want
    assert "euser" not in out.splitlines()[1]


@pytest.mark.parametrize("question", ["files", "errors", "network", "logins", "events",
                                      "commands"])
def test_every_question_has_user_and_euser(question: str, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = knox([question, str(WORKDAY), "--users", PASSWD, "-f", "json",
                           "-n", "50"], monkeypatch, capsys)
    rows = json.loads(out)
    assert code == 0 and rows, err
    assert all("user" in r and "euser" in r for r in rows)
    assert all(r["euser"] is not None for r in rows)


def test_who_column_joins_only_differing_users() -> None:
    table = pa.table({"user": ["alice", "root", None, "bob"],
                      "euser": ["root", "root", "root", "bob"]})
    assert who_column(table).column_names == ["user"]
    assert who_column(table).column("user").to_pylist() == [
        "alice→root", "root", "?→root", "bob"]


# -- item 6: a picture of nothing is not drawn; the reason is said ----------------------
@pytest.mark.parametrize(("argv", "why"), [
    (["plot", "timeline", "--since", "2030-01-01"], "--since 2030-01-01: the data ends"),
    (["plot", "timeline", "--session", "424242"], "no processes with --session 424242"),
    (["plot", "tree", "--command", "no-such-cmd"], "no processes matched the filters"),
    (["plot", "files", "--since", "2030-01-01"], "--since 2030-01-01: the data ends"),
    (["plot", "files", "--show", "directories", "--path", "/nowhere/*"],
     "no files matched the filters"),
    (["plot", "errors", "--command", "no-such-cmd"], "no errors matched the filters"),
    (["plot", "errors", "--show", "time", "--since", "2030-01-01"],
     "--since 2030-01-01: the data ends"),
    (["plot", "network", "--since", "2030-01-01"], "--since 2030-01-01: the data ends"),
    (["plot", "logins", "--since", "2030-01-01"], "--since 2030-01-01: the data ends"),
])
def test_a_picture_of_nothing_says_why_and_writes_no_file(
        argv: list[str], why: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.png"
    code, _, err = knox([*argv, TRAIL, "-o", str(out)], monkeypatch, capsys)
    assert code == 0, err
    assert why in err
    # a filter that matches nothing is named with what the input holds
    assert "the data ends" in err or "records in the input" in err.replace(
        "records of the input", "records in the input")
    assert "(no picture written)" in err and not out.exists()


# -- item 13: knox shell, with the duckdb CLI's habits ----------------------------------
def shell_session(script: str, cwd: Path) -> tuple[str, str]:
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "knox_analytics", "shell", TRAIL],
                            input=script.encode(), capture_output=True, cwd=cwd, env=env,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode(), result.stderr.decode()


def test_shell_tables_statements_modes_output_timer(tmp_path: Path) -> None:
    out, err = shell_session(
        ".tables\n"
        "SELECT 1 AS first_one; SELECT 2 AS second_one;\n"
        ".mode csv\nSELECT 7 AS seven;\n"
        ".mode json\nSELECT 8 AS eight;\n"
        ".output res.csv\n.mode csv\nSELECT 3 AS c; SELECT 4 AS d;\n.output\n"
        ".output res.csv\n"
        ".timer on\nSELECT 9 AS nine;\n"
        "SELECT * FROM comands;\nSELECT * FROM zzqq_nothing;\n", tmp_path)
    tables = next(line for line in out.splitlines() if "commands" in line)
    assert "file_access" in tables and "process_carry" not in tables
    assert "record_process" not in tables and "instance_lookup" not in tables
    assert "first_one" in out and "second_one" in out  # both results, not the last
    assert "seven\n7\n" in out
    assert json.loads(out[out.index("["):out.index("]") + 1]) == [{"eight": 8}]
    assert (tmp_path / "res.csv").read_text() == "c\n3\nd\n4\n"
    assert "3" not in out.split("eight")[1].split("nine")[0].replace("knox>", "")
    assert "res.csv: exists (.output res.csv --force replaces it)" in err
    assert "Run Time (s): real " in err and " user " in err
    assert 'no view or table named comands; did you mean "commands"?' in err
    assert "zzqq_nothing; .tables lists the views" in err and "pg_" not in err


def test_shell_tables_all_and_completion() -> None:
    from knox_analytics.catalog import Catalog
    from knox_analytics.cli.shell import Shell

    with Catalog([WORKLOAD]) as cat:
        shell = Shell(cat)
        assert "process_carry" in shell.tables(everything=True)
        assert "process_carry" not in shell.tables()
        pytest.importorskip("readline")
        shell._complete()  # views, their columns, keywords, dot commands

        def all_of(text: str) -> list[str]:
            found, i = [], 0
            while (word := shell.completions(text, i)) is not None:
                found, i = [*found, word], i + 1
            return found

        assert all_of("file_a") == ["file_access"]
        assert "command_line" in all_of("command_l") and all_of(".ti") == [".timer"]
        assert all_of("zzqq") == []


# -- item 14: an invalid TZ is named as TZ, before any work ------------------------------
@pytest.mark.parametrize("command", ["commands", "print", "query", "events"])
def test_a_bad_tz_variable_is_usage_before_the_question_runs(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The input does not exist: were the zone checked after the question, that would be
    the error (exit 1); the zone is checked first and the message names TZ, not a --tz
    the user did not type."""
    monkeypatch.setenv("TZ", "Bad/Zone")
    argv = [command, *(["SELECT 1"] if command == "query" else []),
            str(tmp_path / "missing.bsm"), "--tz", "local"]
    line = usage_line(*knox(argv, monkeypatch, capsys)[::2])
    assert "TZ environment variable 'Bad/Zone' is not a zone name" in line
    monkeypatch.delenv("TZ")
    line = usage_line(*knox([*argv[:-1], "Mars/Base"], monkeypatch, capsys)[::2])
    assert "--tz 'Mars/Base'" in line


# -- item 16: knox print does not wait silently on a terminal ----------------------------
class _Terminal:
    def isatty(self) -> bool:
        return True


def test_print_without_input_on_a_terminal_says_what_it_needs(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal())
    line = usage_line(*knox(["print", "-l"], monkeypatch, capsys)[::2])
    assert "reads a trail from stdin, which is a terminal" in line and "TRAIL" in line


# -- item 17: -f CSV ------------------------------------------------------------------------
def test_format_names_are_case_insensitive_and_checked_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = knox(["commands", TRAIL, "-f", "CSV", "-n", "2"], monkeypatch, capsys)
    assert code == 0, err
    assert out.splitlines()[0].startswith("time,pid,ppid,user,euser")
    line = usage_line(*knox(["commands", str(tmp_path / "missing.bsm"), "-f", "xls"],
                            monkeypatch, capsys)[::2])
    assert "--format 'xls': expected one of table, csv" in line


# -- also build: --columns on every question ------------------------------------------------
@pytest.mark.parametrize(("question", "columns"), [
    ("commands", "pid,euser,command_path"), ("files", "path,user,euser,command_path"),
    ("errors", "errno_text,pid"), ("network", "remote_addr,euser"),
    ("logins", "user,euser,tid_addr"), ("events", "event_name,euser,offset"),
])
def test_columns_chooses_the_columns(question: str, columns: str,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = knox([question, str(WORKDAY), "--columns", columns, "-f", "csv",
                           "-n", "5"], monkeypatch, capsys)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == columns.split(",") and len(rows) == 6


def test_an_unknown_column_is_usage_with_the_nearest(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_line(*knox(["commands", TRAIL, "--columns", "pid,comand_line"],
                            monkeypatch, capsys)[::2])
    assert "--columns comand_line: no such column of commands; did you mean command_line" \
        in line
    line = usage_line(*knox(["errors", TRAIL, "--by", "errno", "--columns", "pid"],
                            monkeypatch, capsys)[::2])
    assert "not with --by" in line


# -- item 17: knox events --list DS lists the events DS holds -------------------------------
def test_events_list_of_an_input_counts_its_events(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    truth = [json.loads(line).get("event_name") for line in
             WORKDAY.with_suffix(".truth.jsonl").read_text().splitlines()]
    code, out, err = knox(["events", "--list", str(WORKDAY), "--class", "lo", "-f", "json"],
                          monkeypatch, capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert rows and all(r["records"] == truth.count(r["name"]) > 0 for r in rows)
    code, out, _ = knox(["events", "--list", "--class", "lo", "-f", "json"], monkeypatch,
                        capsys)
    every = json.loads(out)
    assert len(every) > len(rows) and "records" not in every[0]


# -- item 11: a tree without fork/exit records says its parents are unknown ----------------
def test_tree_without_fork_records_says_parent_links_are_unknown(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    execs_only = str(Path(TRAIL).with_name("freebsd-2006-execve-long-args.bsm"))
    code, out, err = knox(["tree", execs_only, "--command", "grep"], monkeypatch, capsys)
    assert code == 0 and "grep" in out, err
    assert "no fork/exit records (class pc not audited): parent links unknown" in err
    code, out, err = knox(["tree", TRAIL, "--pid", "1202"], monkeypatch, capsys)
    assert code == 0 and out.strip() and "fork/exit" not in err, err
