"""knox detect from the command line: the pack by default, --rules, --coverage,
--fail-on (exit 4), formats."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sigma")

from detect_scenarios import fixture
from typer.testing import CliRunner

from knox_analytics.cli.main import app

runner = CliRunner()
TITLE = "Keychain or Local Password Hash Access"


@pytest.fixture(scope="module")
def trail():
    return fixture(TITLE)  # tests/data/detect/keychain_credential_dumping.bsm


def test_ndjson_alert_has_the_why(trail):
    res = runner.invoke(app, ["detect", str(trail), "-f", "ndjson"])
    assert res.exit_code == 0, res.output
    alerts = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    # the SigmaHQ keychain rule fires too
    assert {a["title"] for a in alerts} == {TITLE, "Credentials from Password Stores - Keychain"}
    [alert] = [a for a in alerts if a["title"] == TITLE]
    assert alert["rule_file"] == "pack:knox/keychain_credential_dumping.yml"
    assert alert["title"] == TITLE and alert["level"] == "high"
    assert alert["author"] == "knox-analytics"
    assert alert["command_line"] == "security dump-keychain -d login.keychain"
    assert alert["parent_chain"].startswith("zsh(")
    assert alert["user"] == "501"
    [ev] = alert["evidence"]
    assert ev["source"].endswith("keychain_credential_dumping.bsm") and ev["offset"] > 0


def test_fail_on(trail):
    assert runner.invoke(app, ["detect", str(trail), "--fail-on", "high"]).exit_code == 4
    assert runner.invoke(app, ["detect", str(trail), "--fail-on", "critical"]).exit_code == 0
    bad = runner.invoke(app, ["detect", str(trail), "--fail-on", "bad"])
    assert bad.exit_code not in (0, 4)
    assert "--fail-on 'bad': expected one of informational" in str(bad.exception)


def test_csv_evidence_is_one_cell(trail):
    res = runner.invoke(app, ["detect", str(trail), "-f", "csv"])
    assert res.exit_code == 0
    assert "keychain_credential_dumping.bsm@" in res.stdout


def test_coverage_says_why(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("title: cwd\nlogsource:\n  product: macos\n  category: process_creation\n"
                   "detection:\n  s:\n    CurrentDirectory: /tmp\n  condition: s\n")
    res = runner.invoke(app, ["detect", "--coverage", "--rules", str(bad)])
    assert res.exit_code == 0
    assert "not compiled: field CurrentDirectory: BSM exec records carry no working" \
        in res.stdout
    assert "0 of 1 rule compiled" in res.stdout
    res = runner.invoke(app, ["detect", "--coverage"])
    assert "102 of 102 rules compiled" in res.stdout


def test_missing_rules_path_is_one_line(tmp_path):
    res = runner.invoke(app, ["detect", "x.bsm", "--rules", str(tmp_path / "none")])
    assert res.exit_code != 0
    assert "Traceback" not in res.output


def test_live_source_prints_alerts_and_fails_on(trail):
    res = runner.invoke(app, ["detect", "--source", str(trail), "-f", "ndjson",
                              "--fail-on", "high"])
    assert res.exit_code == 4, res.output
    alerts = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    [alert] = [a for a in alerts if a["title"] == TITLE]
    # evidence at the stream's offsets: the same record the offline run names
    offline = runner.invoke(app, ["detect", str(trail), "-f", "ndjson"])
    [want] = [json.loads(x) for x in offline.stdout.splitlines()
              if x.startswith("{") and json.loads(x)["title"] == TITLE]
    # live records are in no dataset yet: named by place, not by record id
    assert [(e["source"], e["offset"]) for e in alert["evidence"]] == \
        [(e["source"], e["offset"]) for e in want["evidence"]]
    lines = runner.invoke(app, ["detect", "--source", str(trail)])
    assert lines.exit_code == 0
    assert f"high {TITLE}: pid " in lines.stdout


def test_live_flags_need_no_inputs(trail):
    res = runner.invoke(app, ["detect", str(trail), "--source", str(trail)])
    assert res.exit_code not in (0, 4)
    assert "--source and --follow are for live detection" in str(res.exception)
    res = runner.invoke(app, ["detect", "--source", str(trail), "-f", "csv"])
    assert "live detect prints to stdout" in str(res.exception)


def test_live_detect_honours_tz(trail):
    """Issue 25 item 6: live alerts are in --tz, as offline ones."""
    args = ["-f", "ndjson", "--tz", "Europe/Paris"]
    live = runner.invoke(app, ["detect", "--source", str(trail), *args])
    offline = runner.invoke(app, ["detect", str(trail), *args])
    times = [{json.loads(x)["time"] for x in r.stdout.splitlines() if x.startswith("{")}
             for r in (live, offline)]
    assert times[0] and times[0] == times[1]
    assert all(t.endswith("+01:00") for t in times[0])


def test_evidence_record_ids_are_hex_that_print_takes(trail, tmp_path):
    """An alert's evidence names its records by id as ``knox print --records`` takes
    them: 32 hex digits (they were printed as escaped raw bytes, ``#\\x12\\xCE…``)."""
    ds = tmp_path / "ds"
    assert runner.invoke(app, ["convert", str(trail), "-o", str(ds)]).exit_code == 0
    res = runner.invoke(app, ["detect", str(ds), "-f", "ndjson"])
    assert res.exit_code == 0, res.output
    [alert] = [a for a in map(json.loads, res.stdout.splitlines()) if a["title"] == TITLE]
    [ev] = alert["evidence"]
    assert len(ev["record_id"]) == 32 and int(ev["record_id"], 16) >= 0
    shown = runner.invoke(app, ["print", "--records", ev["record_id"], str(ds)])
    assert shown.exit_code == 0, shown.output
    assert "dump-keychain" in shown.stdout and len(shown.stdout.splitlines()) >= 1
    table = runner.invoke(app, ["detect", str(ds), "-f", "csv"])
    assert f"#{ev['record_id']}" in table.stdout


def test_evidence_is_the_record_itself_when_two_inputs_share_a_name(trail, tmp_path):
    """``current`` before and after a rotation: two inputs with one name and records at
    the same offsets. An alert's evidence is its own record (a join back on source and
    offset gave the other trail's record too)."""
    other = fixture("Local Account or Admin Group Change")  # a record at the same offset
    ds, current = tmp_path / "ds", tmp_path / "current"
    for content in (trail.read_bytes(), other.read_bytes()):
        current.write_bytes(content)
        res = runner.invoke(app, ["convert", str(current), "-o", str(ds)])
        assert res.exit_code == 0 and "1 file(s) converted" in res.output, res.output
    res = runner.invoke(app, ["detect", str(ds), "-f", "ndjson"])
    assert res.exit_code == 0, res.output
    [alert] = [a for a in map(json.loads, res.stdout.splitlines()) if a["title"] == TITLE]
    [ev] = alert["evidence"]
    assert ev["source"] == str(current)
    shown = runner.invoke(app, ["print", "--records", ev["record_id"], str(ds)])
    assert "dump-keychain" in shown.stdout, shown.output


def test_the_keychain_rule_fires_once_per_machine(trail, tmp_path):
    """One trail converted for two labelled Macs is two machines: each raises the alert
    once, with its own parent chain (pids were joined across hosts: 6 alerts)."""
    ds = tmp_path / "ds"
    for label in ("mac-a", "mac-b"):
        res = runner.invoke(app, ["convert", str(trail), "-o", str(ds), "--host", label])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["detect", str(ds), "-f", "ndjson"])
    assert res.exit_code == 0, res.output
    alerts = [a for a in map(json.loads, res.stdout.splitlines()) if a["title"] == TITLE]
    assert sorted(a["host"] for a in alerts) == ["mac-a", "mac-b"]
    assert alerts[0]["parent_chain"] == alerts[1]["parent_chain"]
    assert alerts[0]["parent_chain"].startswith("zsh(")
