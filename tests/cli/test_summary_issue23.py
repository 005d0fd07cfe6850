"""``knox summary`` (issue 23 item 8): --tz, the shared filters, --groups, where the damage
is (JSON fields, not strings), what ``?`` and bare uids in the users line mean, each
host's time range, lists wrapped between items (never mid-word) and a progress bar while
raw trails are read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from knoxtest import SAMPLES, TRAILS, WORKLOAD
from typer.testing import CliRunner

from knox_analytics import Catalog
from knox_analytics.cli.main import build_app
from knox_analytics.convert import convert
from knox_analytics.errors import UsageError
from knox_analytics.questions import Filters, ask
from knox_analytics.rawcache import raw_dataset
from knox_analytics.summary import TOP, render, summarize

ENV = {"KNOX_RAW_CACHE_LIMIT": "0", "COLUMNS": "200"}  # trails read in memory


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(build_app(), ["summary", *args], env={**ENV, **(env or {})})
    return res.exit_code, res.stdout, res.stderr


def as_json(*args: str) -> dict:
    code, out, err = run(*args, "-f", "json")
    assert code in (0, 3), err
    return json.loads(out)


def test_tz_writes_every_time_in_the_zone() -> None:
    code, out, err = run(str(WORKLOAD), "--tz", "Asia/Tokyo")
    assert code == 0, err
    assert "from 2026-03-01T18:00:00.034+09:00 to 2026-03-01T18:17:15.540+09:00 (Asia/Tokyo)" \
        in out
    doc = as_json(str(WORKLOAD), "--tz", "Asia/Tokyo")
    assert doc["first"] == "2026-03-01T18:00:00.034+09:00" and doc["zone"] == "Asia/Tokyo"
    assert doc["hosts"][0]["first"] == doc["first"]


@pytest.mark.parametrize("dataset", [False, True], ids=["trail", "dataset"])
def test_the_shared_filters_narrow_what_is_summarised(dataset: bool, tmp_path: Path) -> None:
    given = WORKLOAD
    if dataset:  # the statistics cannot filter: the records are read
        given = tmp_path / "ds"
        convert([WORKLOAD], given, derive=False)
    f = Filters(user="501", since="2026-03-01T09:10")
    with Catalog([given]) as cat:
        want = ask(cat, "events", f, all_columns=True).num_rows
        commands = ask(cat, "commands", f).num_rows
    doc = as_json(str(given), "--user", "501", "--since", "2026-03-01T09:10")
    assert 0 < doc["records"] == want < 3006
    assert sum(c["execs"] for c in doc["commands"]) <= commands
    assert doc["users"] == [{"user": "501", "records": want}]
    assert doc["first"] >= "2026-03-01T09:10"
    failed = as_json(str(given), "--failed")
    assert failed["records"] == failed["failures"] == 285


def test_a_filter_that_can_match_nothing_is_usage() -> None:
    res = CliRunner().invoke(build_app(), ["summary", str(WORKLOAD), "--event", "AUE_NOPE"],
                             env=ENV)
    assert isinstance(res.exception, UsageError)  # knox's entry point: exit 2, one line
    assert "AUE_NOPE" in str(res.exception)


def test_groups_names_the_effective_groups(tmp_path: Path) -> None:
    group = tmp_path / "group"
    group.write_text("staff:*:20:alice,bob\n")
    doc = as_json(str(WORKLOAD), "--groups", str(group))
    assert {g["group"] for g in doc["groups"]} == {"staff", "wheel"}
    assert sum(g["records"] for g in doc["groups"]) <= doc["records"]
    code, out, _err = run(str(WORKLOAD), "--groups", str(group))
    assert code == 0 and "groups    staff " in out
    assert "groups" not in as_json(str(WORKLOAD))  # not asked: not read


def damaged_trail(tmp_path: Path, cuts: int) -> Path:
    data = bytearray(WORKLOAD.read_bytes())
    for i in range(cuts):  # junk runs far apart: one skipped range each
        at = 3000 + i * 15000
        data[at:at] = b"\xee" * 40
    trail = tmp_path / "damaged.bsm"
    trail.write_bytes(bytes(data))
    return trail


def test_damage_says_where_in_text_and_as_fields_in_json(tmp_path: Path) -> None:
    trail = damaged_trail(tmp_path, TOP + 2)
    with Catalog([trail]) as cat:
        damage = list(cat.damage)
    assert len(damage) > TOP
    code, out, _err = run(str(trail))
    assert code == 3
    assert f"damaged   {len(damage)} skipped byte range(s)" in out
    assert str(damage[0]) in out and f"{trail}: byte " in out
    assert f"... and {len(damage) - TOP} more (--format json lists every range)" in out
    doc = as_json(str(trail))
    assert doc["damaged"] == [{"source": d.source, "offset": d.offset, "length": d.length,
                               "reason": d.reason, "kind": d.kind} for d in damage]


def test_the_users_line_says_what_question_marks_and_numbers_are() -> None:
    code, out, _err = run(str(TRAILS))
    assert code == 0
    users = out.split("users", 1)[1].splitlines()
    assert "? " in users[0] and "305419896" in users[0]
    assert "?: records with no subject token" in users[1]
    assert "numbers: uids with no name; give --users FILE" in users[1]
    _, named, _ = run(str(WORKLOAD), "--users", str(SAMPLES / "passwd"))
    assert "uids with no name" not in named and "no subject" not in named


def test_each_host_has_its_time_range(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    convert([WORKLOAD], ds, host="mac1", derive=False)
    convert([SAMPLES / "generated-workday.bsm"], ds, host="mac2", derive=False)
    by_stats = {h["host"]: (h["first"], h["last"]) for h in as_json(str(ds))["hosts"]}
    with Catalog([ds]) as cat:
        want = dict(cat.sql("SELECT host, [strftime(min(time), '%Y-%m-%dT%H:%M:%S.%gZ'), "
                            "strftime(max(time), '%Y-%m-%dT%H:%M:%S.%gZ')] FROM events "
                            "GROUP BY 1").fetchall())
    assert by_stats == {h: tuple(v) for h, v in want.items()}
    _code, out, _err = run(str(ds))
    for host, (first, last) in by_stats.items():
        assert f"{host} " in out and f"from {first} to {last}" in out


def test_lists_wrap_between_items_never_mid_word() -> None:
    with Catalog([TRAILS]) as cat:
        s = summarize(cat)
    whole = render(s)
    for width in (60, 80):
        text = render(s, width)
        assert max(len(line) for line in text.splitlines()) <= width
        assert text.split() == whole.split()  # the same words, none cut
        labels = [line[:10].strip() for line in text.splitlines()]
        assert labels[0] == "records" and "events" in labels
    code, out, _err = run(str(TRAILS), env={"COLUMNS": "60"})
    assert code == 0 and out.split() == whole.split()
    assert max(len(x) for x in out.splitlines()) <= 60


def test_reading_raw_trails_reports_its_progress(tmp_path: Path) -> None:
    seen: list[int] = []
    raw_dataset([WORKLOAD], root=tmp_path / "cache", on_bytes=seen.append)
    assert sum(seen) == WORKLOAD.stat().st_size


def test_an_errno_the_tables_do_not_name_is_never_blank(tmp_path: Path) -> None:
    """Issue 23 item 17: macOS's auth events fail with BSM errno 255, which no table names
    (praudit: ``failure: Unknown error: 255``); its name and text rendered blank."""
    trail = TRAILS / "macos-10.9-apple.bsm"
    assert "failure: Unknown error: 255" in (TRAILS / "macos-10.9-apple.praudit-n.txt"
                                             ).read_text()
    with Catalog([trail]) as cat:
        errors = ask(cat, "errors").to_pylist()
        assert errors and {e["errno_name"] for e in errors} == {"errno 255"}
        by = cat.sql("SELECT errno, errno_name, errno_text FROM errors_by_errno").fetchall()
        assert by == [(255, "errno 255", "Unknown error: 255")]
        ok = cat.sql("SELECT count(*) FROM events WHERE success AND (errno_name IS NOT NULL "
                     "OR errno_text IS NOT NULL)").fetchall()
        assert ok == [(0,)]  # success stays without a name
    convert([trail], tmp_path / "ds")
    for given in (trail, tmp_path / "ds"):  # raw (SQL) and dataset (part statistics)
        code, out, err = run(str(given))
        assert code == 0, err
        assert "failures  2: AUE_auth_user errno 255 2" in out
    code, out, err = run(str(trail), "-f", "json")
    assert json.loads(out)["failing"][0]["errno"] == "errno 255"
