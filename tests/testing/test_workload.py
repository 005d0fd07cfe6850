"""Tests of the workload generator (knox_analytics/testing/, command knox_analytics.workload).

Fixtures: ``sample_trails/generated-workday.bsm`` and its ``.truth.jsonl`` were written by
this generator (``python -m knox_analytics.workload --seed 1 --records 3000 -o
sample_trails/generated-workday.bsm --truth sample_trails/generated-workday.truth.jsonl``);
``test_sample_is_current`` regenerates them in memory and checks they are byte-identical.
Everything else is generated in the test itself.  The decoders under test are the oracles:
the sidecar must agree with what they read from the bytes, field by field.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from knoxtest import ROOT

from knox_analytics import workload as shim
from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.bsm.reference import decode_reference
from knox_analytics.errors import UsageError
from knox_analytics.testing.workload import generate, main, parse_size

SAMPLE = ROOT / "sample_trails" / "generated-workday.bsm"
SAMPLE_TRUTH = ROOT / "sample_trails" / "generated-workday.truth.jsonl"
SAMPLE_SEED, SAMPLE_RECORDS = 1, 3000


def _generate(**kwargs: Any) -> tuple[bytes, list[dict[str, Any]]]:
    out, truth = io.BytesIO(), io.StringIO()
    generate(out, truth, **kwargs)
    return out.getvalue(), [json.loads(line) for line in truth.getvalue().splitlines()]


@pytest.fixture(scope="module")
def sample() -> bytes:
    return SAMPLE.read_bytes()


@pytest.fixture(scope="module")
def truth() -> list[dict[str, Any]]:
    with SAMPLE_TRUTH.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def records(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in truth if r["header"] != "file"]


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_same_bytes() -> None:
    a, ta = _generate(seed=7, records=1500)
    b, tb = _generate(seed=7, records=1500)
    assert a == b and ta == tb
    c, _ = _generate(seed=8, records=1500)
    assert c != a


def test_sample_is_current(sample: bytes) -> None:
    data, rows = _generate(seed=SAMPLE_SEED, records=SAMPLE_RECORDS)
    assert data == sample, "regenerate sample_trails/generated-workday.* (see module doc)"
    assert SAMPLE_TRUTH.read_text(encoding="utf-8") == "".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)


def test_record_target_is_exact() -> None:
    for n in (2, 3, 40, 777):
        out = io.BytesIO()
        stats = generate(out, None, seed=3, records=n)
        assert stats.records == n and stats.file_tokens == 2
        assert stats.bytes == len(out.getvalue())


def test_byte_target_is_reached_and_not_overshot_by_much() -> None:
    out = io.BytesIO()
    stats = generate(out, None, seed=3, target_bytes=200_000)
    # the target stops the simulation; auditd's shutdown record and the file token follow
    assert 200_000 <= stats.bytes < 200_000 + 4096


def test_bad_targets_raise_usage_error() -> None:
    with pytest.raises(UsageError):
        generate(io.BytesIO(), None, records=1)
    with pytest.raises(UsageError):
        generate(io.BytesIO(), None, target_bytes=0)


# --- the sidecar matches the bytes -------------------------------------------------------


def _decoders() -> list[Any]:
    return [pytest.param(decode_reference, id="reference"),
            pytest.param(decode_bytes, id="vectorized")]


def _socket_row(s: dict[str, Any]) -> dict[str, Any]:
    """The decoded sockets struct a sidecar socket entry stands for (only set fields)."""
    if s["kind"] == "socket_ex":
        return {"domain": s["domain_bsm"], "type": s["type_bsm"], "local_addr": s["laddr"],
                "local_port": s["lport"], "remote_addr": s["raddr"], "remote_port": s["rport"]}
    if s["kind"] == "sock_unix":
        return {"domain": s["family"], "path": s["path"]}
    return {"domain": s["family"], "remote_addr": s["addr"], "remote_port": s["port"]}


def _expected_row(t: dict[str, Any]) -> dict[str, Any]:
    """The decoded columns one sidecar line predicts."""
    exp: dict[str, Any] = {"offset": t["offset"], "length": t["length"],
                           "time_ms": t["sec"] * 1000 + t["msec"],
                           "token_ids": [T.TOKENS_BY_NAME[n].id for n in t["tokens"]]}
    if t["header"] == "file":
        return {**exp, "file_name": t["file_name"]}
    subj = t["subject"]
    ret = t["return"]
    exp.update(
        event=t["event"], event_name=t["event_name"], host=t.get("host"),
        subject={k: subj[k] for k in ("auid", "euid", "egid", "ruid", "rgid", "pid", "sid",
                                      "tid_port", "tid_addr")},
        return_errno=ret["errno"], return_value=ret["value"],
        errno_name=ret["errno_name"] or None, paths=t["paths"], argv=t.get("argv"),
        envp=t.get("env"), texts=t.get("texts", []),
        attrs=[{"mode": int(a["mode"], 8), "uid": a["uid"], "gid": a["gid"], "fsid": a["fsid"],
                "nodeid": a["nodeid"], "dev": a["dev"]} for a in t.get("attrs", [])],
        args=[{"num": a["n"], "value": a["value"], "name": a["name"]}
              for a in t.get("args", [])],
        sockets=[_socket_row(s) for s in t.get("sockets", [])],
        exit=(t["exit"]["status"], t["exit"]["value"]) if "exit" in t else None,
    )
    return exp


def _actual_row(row: dict[str, Any]) -> dict[str, Any]:
    got: dict[str, Any] = {"offset": row["offset"], "length": row["length"],
                           "time_ms": int(row["time"].timestamp() * 1000),
                           "token_ids": row["token_ids"]}
    if row["header_token"] == T.AUT_OTHER_FILE32:
        return {**got, "file_name": row["file_name"]}
    got.update(
        event=row["event"], event_name=row["event_name"], host=row["host"],
        subject={k: row[k] for k in ("auid", "euid", "egid", "ruid", "rgid", "pid", "sid",
                                     "tid_port", "tid_addr")},
        return_errno=row["return_errno"], return_value=row["return_value"],
        errno_name=row["errno_name"], argv=row["argv"], envp=row["envp"],
        # list columns: null and [] both mean "no such token"
        paths=row["paths"] or [], texts=row["texts"] or [], attrs=row["attrs"] or [],
        args=row["args"] or [],
        sockets=[{k: v for k, v in s.items() if v is not None} for s in row["sockets"] or []],
        exit=(row["exit_status"], row["exit_return"]) if row["exit_status"] is not None
        else None,
    )
    return got


@pytest.mark.parametrize("decode", _decoders())
def test_sidecar_matches_decoded_bytes(decode: Any, sample: bytes,
                                       truth: list[dict[str, Any]]) -> None:
    result = decode(sample, "generated-workday.bsm")
    assert result.damage == []
    rows = result.table.to_pylist()
    assert len(rows) == len(truth)
    for t, row in zip(truth, rows, strict=True):
        assert _actual_row(row) == _expected_row(t), f"row {t['i']}"


def test_sidecar_offsets_chain_and_cover_the_trail(sample: bytes,
                                                   truth: list[dict[str, Any]]) -> None:
    pos = 0
    for i, t in enumerate(truth):
        assert t["i"] == i and t["offset"] == pos
        pos += t["length"]
    assert pos == len(sample)


# --- the trail has every feature the views and decoders need --------------------------------


def test_file_tokens_open_and_close_the_trail(truth: list[dict[str, Any]]) -> None:
    assert truth[0]["header"] == truth[-1]["header"] == "file"
    assert [t for t in truth[1:-1] if t["header"] == "file"] == []
    assert truth[1]["event_name"] == "AUE_audit_startup"
    assert truth[-2]["event_name"] == "AUE_audit_shutdown"


def test_users_and_token_variants(records: list[dict[str, Any]]) -> None:
    assert {r["subject"]["auid"] for r in records} == {0, 501, 502, 0xFFFFFFFF}
    assert {r["user"] for r in records} >= {"root", "alice", "bob", "_mdnsresponder"}
    tokens = {name for r in records for name in r["tokens"]}
    assert tokens >= {"header32", "header32_ex", "header64", "subject32", "subject32_ex",
                      "subject64", "subject64_ex", "return32", "return64", "attr32", "attr64",
                      "arg32", "arg64", "path", "exec_args", "exec_env", "exit", "text",
                      "socket_ex", "sock_inet32", "sock_inet128", "sock_unix"}
    assert any(":" in r["subject"]["tid_addr"] for r in records)  # IPv6 terminals
    assert {r["host"] for r in records if "host" in r} == {"192.168.1.23", "2001:db8::17"}


def test_event_coverage(records: list[dict[str, Any]]) -> None:
    names = {r["event_name"] for r in records}
    assert names >= {
        "AUE_login", "AUE_logout", "AUE_openssh", "AUE_su", "AUE_sudo", "AUE_auth_user",
        "AUE_FORK", "AUE_VFORK", "AUE_EXECVE", "AUE_POSIX_SPAWN", "AUE_EXIT", "AUE_SETUID",
        "AUE_OPEN_R", "AUE_OPEN_WC", "AUE_OPEN_WTC", "AUE_OPEN_RWC", "AUE_OPENAT_R",
        "AUE_OPENAT_WTC", "AUE_UNLINK", "AUE_RENAME", "AUE_CHMOD", "AUE_MKDIR",
        "AUE_SOCKET", "AUE_CONNECT", "AUE_BIND", "AUE_LISTEN", "AUE_ACCEPT"}


def test_errnos(records: list[dict[str, Any]]) -> None:
    by_event = defaultdict(set)
    for r in records:
        by_event[r["event_name"]].add(r["return"]["errno_name"])
    failures = set().union(*by_event.values())
    assert failures >= {"ENOENT", "EACCES", "EPERM", "EEXIST", "EAUTH", "ECONNREFUSED",
                        "ETIMEDOUT", "EADDRINUSE"}
    for event in ("AUE_sudo", "AUE_su", "AUE_login", "AUE_openssh", "AUE_CONNECT"):
        assert "" in by_event[event] and len(by_event[event]) > 1, event  # both outcomes
    for r in records:
        ret = r["return"]
        assert (ret["status"] == "failure") == (ret["errno"] != 0)
        if ret["errno"]:
            assert ret["value"] == -1


def test_open_event_follows_the_flags(records: list[dict[str, Any]]) -> None:
    opens = [r for r in records if r["event_name"].startswith("AUE_OPEN")]
    assert len(opens) > 100
    for r in opens:
        flags = next(a["value"] for a in r["args"] if a["name"] == "flags")
        mode = ("R", "W", "RW", "RW")[flags & 3]
        trunc = "T" if flags & 0x400 else ""
        creat = "C" if flags & 0x200 else ""
        at = "AT" if "dir fd" in {a["name"] for a in r["args"]} else ""
        assert r["event_name"] == f"AUE_OPEN{at}_{mode}{trunc}{creat}", r["i"]


def test_awkward_argv(records: list[dict[str, Any]]) -> None:
    argvs = [r["argv"] for r in records if "argv" in r]
    args = [a for argv in argvs for a in argv]
    assert max(len(a) for a in argvs) > T.AUDIT_MAX_ARGS
    assert [] in argvs  # an exec with an empty argv
    assert "" in args
    for needle in (" ", '"', ",", "\n", "\t", "\\"):
        assert any(needle in a for a in args), repr(needle)
    assert any(not a.isascii() for a in args)
    assert any("env" in r for r in records)


def test_rename_has_two_paths(records: list[dict[str, Any]]) -> None:
    renames = [r for r in records if r["event_name"] == "AUE_RENAME"]
    assert renames and all(len(r["paths"]) == 2 for r in renames)
    assert {r["return"]["errno_name"] for r in renames} >= {"", "EACCES"}


def test_fork_child_pid_is_in_the_return_value(records: list[dict[str, Any]]) -> None:
    first_seen: dict[int, dict[str, Any]] = {}
    for r in records:
        first_seen.setdefault(r["process_instance"], r)
    forks = [r for r in records if r["event_name"] in ("AUE_FORK", "AUE_VFORK")]
    assert forks
    for r in forks:
        assert r["return"]["value"] == r["child_pid"] == r["args"][0]["value"]
        child = first_seen.get(r["child_instance"])
        if child is not None:  # the child's first record names the forking process
            assert child["ppid"] == r["pid"] and child["pid"] == r["child_pid"]


def test_process_instances_and_pid_reuse(records: list[dict[str, Any]]) -> None:
    pid_of, ppid_of, exited = {}, {}, set()
    instances_by_pid: dict[int, list[int]] = defaultdict(list)
    for r in records:
        inst = r["process_instance"]
        assert inst not in exited, f"record {r['i']} after its process exited"
        assert pid_of.setdefault(inst, r["pid"]) == r["pid"] == r["subject"]["pid"]
        assert ppid_of.setdefault(inst, r["ppid"]) == r["ppid"]
        if inst not in instances_by_pid[r["pid"]]:
            instances_by_pid[r["pid"]].append(inst)
        if r["event_name"] == "AUE_EXIT":
            assert "exit" in r
            exited.add(inst)
    reused = {pid: insts for pid, insts in instances_by_pid.items() if len(insts) > 1}
    assert len(reused) >= 3
    # a reused pid belongs to a *later, different* process: the earlier one has exited
    for insts in reused.values():
        assert all(i in exited for i in insts[:-1])


def test_exec_records_name_the_command(records: list[dict[str, Any]]) -> None:
    execs = [r for r in records if r["event_name"] in ("AUE_EXECVE", "AUE_POSIX_SPAWN")]
    for r in execs:
        base = (r["argv"][0] if r["argv"] else r["paths"][0]).rsplit("/", 1)[-1]
        assert r["command"] == base


# --- the shim keeps the documented command ----------------------------------------------------


def test_workload_command_runs_from_its_documented_name(tmp_path: Path) -> None:
    """``python -m knox_analytics.workload`` (README, benchmarks) still writes the trail."""
    out = tmp_path / "day.bsm"
    proc = subprocess.run([sys.executable, "-m", "knox_analytics.workload", "--seed", "2",
                           "--records", "60", "-o", str(out)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == _generate(seed=2, records=60)[0]
    assert shim.generate is generate and shim.main is main


# --- the command line -------------------------------------------------------------------------


def test_main_writes_trail_and_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "day.bsm", tmp_path / "day.truth.jsonl"
    assert main(["--seed", "2", "--records", "60", "-o", str(out), "--truth", str(truth)]) == 0
    data, rows = _generate(seed=2, records=60)
    assert out.read_bytes() == data
    assert [json.loads(line) for line in truth.read_text(encoding="utf-8").splitlines()] == rows
    assert main(["--seed", "2", "--size", "20kB", "-o", str(out)]) == 0
    assert 20_000 <= out.stat().st_size < 24_000


def test_parse_size() -> None:
    assert parse_size("300MB") == 300_000_000
    assert parse_size("64MiB") == 64 << 20
    assert parse_size("1500") == 1500
    assert parse_size("1.5k") == 1500
    with pytest.raises(UsageError):
        parse_size("lots")
