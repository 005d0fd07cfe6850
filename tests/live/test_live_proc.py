"""paudit / pwait / live commands / follow, on real streams.

Fixtures: tests/data/trails/synthetic-workload.bsm and its truth sidecar
synthetic-workload.truth.jsonl (see tests/data/trails/README.md); small records written
with the project's encoder (knox_analytics.bsm.encode) for the 64-bit and _ex variants.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from knoxtest import TRAILS
from live_helpers import KNOX_LIVE_ARGV

from knox_analytics.bsm.encode import encode_record, encode_token
from knox_analytics.live import proc
from knox_analytics.live.commands import live_commands
from knox_analytics.live.follow import follow_file

WORKLOAD = TRAILS / "synthetic-workload.bsm"
TRUTH = [json.loads(line) for line in
         (TRAILS / "synthetic-workload.truth.jsonl").read_text().splitlines()]


def truth_paudit(names: set[str]) -> list[int]:
    """Offsets paudit must pass, computed from the truth sidecar (not from the decoder)."""
    tracked: set[int] = set()
    offsets = []
    for r in TRUTH:
        pid, event = r["subject"]["pid"], r["event_name"]
        ok = r["return"]["status"] == "success"
        child = next((a["value"] for a in r.get("args", []) if a["name"] == "child PID"), None)
        prog = os.path.basename(r["paths"][0]) if r["paths"] else None
        mine = pid in tracked
        if event in ("AUE_FORK", "AUE_POSIX_SPAWN") and ok and child is None:
            if prog in names:  # POSIX_SPAWN_SETEXEC: exec in place
                tracked.add(pid)
                mine = True
        elif event in ("AUE_FORK", "AUE_POSIX_SPAWN") and ok:
            if mine or (event == "AUE_POSIX_SPAWN" and prog in names):
                tracked.add(child)
                mine = True
            else:
                tracked.discard(child)  # announced by an untracked parent: a reused pid
        elif event == "AUE_EXECVE" and ok and prog in names:
            tracked.add(pid)
            mine = True
        elif event == "AUE_EXIT" and mine:
            tracked.discard(pid)
        if mine:
            offsets.append(r["offset"])
    return offsets


@pytest.mark.parametrize("names", [{"make"}, {"git", "ssh"}, {"periodic-wrapper"}])
def test_paudit_passes_exactly_the_tracked_records(names: set[str]) -> None:
    data = WORKLOAD.read_bytes()
    by_offset = {r["offset"]: r["length"] for r in TRUTH}
    expected = [data[o:o + by_offset[o]] for o in truth_paudit(names)]
    assert len(expected) >= 8
    assert list(proc.paudit(names, str(WORKLOAD))) == expected


def test_paudit_follows_descendants_through_64bit_and_ex_tokens() -> None:
    def subj(kind: str, pid: int) -> bytes:
        addr = {"tid_addr": "2001:db8::1"} if kind.endswith("_ex") else {"tid_addr": "10.0.0.1"}
        return encode_token(kind, auid=501, euid=501, egid=20, ruid=501, rgid=20, pid=pid,
                            sid=1, tid_port=7, **addr)

    def rec(event: int, body: list[bytes], t: int) -> bytes:
        return encode_record([*body, encode_token("return64", errno=0, value=0)],
                             event=event, time_ms=t, header="header64")

    path = encode_token("path", path="/usr/bin/make")
    spawn = rec(43190, [encode_token("arg64", num=0, value=300, name="child PID"), path,
                        subj("subject64_ex", 100)], 1)
    fork = rec(2, [encode_token("arg64", num=0, value=301, name="child PID"),
                   subj("subject64", 300)], 2)
    grandchild = rec(72, [encode_token("path", path="/tmp/x"), subj("subject32_ex", 301)], 3)
    other = rec(72, [encode_token("path", path="/tmp/y"), subj("subject64", 999)], 4)
    tracker = proc.ProcessTracker({"make"})
    stream = spawn + fork + grandchild + other
    from knox_analytics.live.decoding import decode_chunk

    table = decode_chunk(stream, "<test>").table
    out = list(proc.select_records(stream, 0, proc.rows(table), tracker))
    assert out == [spawn, fork, grandchild]
    assert tracker.tracked == {300, 301}


def test_pwait_returns_the_first_exec() -> None:
    row = proc.pwait(["make"], str(WORKLOAD))
    first = next(r for r in TRUTH if r["event_name"] in ("AUE_EXECVE", "AUE_POSIX_SPAWN")
                 and r["paths"] and r["paths"][0].endswith("/make"))
    assert row is not None and row["argv"] == first["argv"]


def test_pwait_times_out_on_a_silent_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    holder = os.open(fifo, os.O_RDWR)  # a writer that never writes
    try:
        started = time.monotonic()
        assert proc.pwait(["make"], str(fifo), timeout=0.3) is None
        assert time.monotonic() - started < 10
    finally:
        os.close(holder)


def test_pwait_cli_over_a_fifo_fed_by_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    feed = f"open({str(fifo)!r}, 'wb').write(open({str(WORKLOAD)!r}, 'rb').read())"
    writer = subprocess.Popen([sys.executable, "-c", feed])
    r = subprocess.run([*KNOX_LIVE_ARGV, "pwait", "cron", "--source", str(fifo),
                        "--timeout", "60s"], capture_output=True, text=True, timeout=90)
    writer.kill()
    writer.wait()
    first = next(t for t in TRUTH if t["paths"] and t["paths"][0].endswith("/cron"))
    assert r.returncode == 0, r.stderr
    pid = first["subject"]["pid"] if first["event_name"] == "AUE_EXECVE" else \
        next(a["value"] for a in first["args"] if a["name"] == "child PID")
    assert r.stdout.split()[0] == str(pid)


def test_live_commands_from_a_file_match_the_truth() -> None:
    got = list(live_commands(str(WORKLOAD), user="502"))
    want = [t for t in TRUTH if t["event_name"] in ("AUE_EXECVE", "AUE_POSIX_SPAWN")
            and t["subject"]["euid"] == 502]
    assert [c["argv"] for c in got] == [t.get("argv", []) for t in want]
    assert all(c["ppid"] is not None for c in got if c["command"] != "zsh")
    failed = list(live_commands(str(WORKLOAD), failed=True))
    assert failed and all(c["success"] is False for c in failed)


def _rotate_and_grow(current: Path, pieces: list[bytes]) -> None:
    """Rotate like auditd (rename the trail, point `current` at a new file), then append."""
    (current.parent / "trail.0").rename(current.parent / "20260301090000.20260301090500")
    (current.parent / "trail.1").touch()
    current.unlink()
    current.symlink_to("trail.1")
    for piece in pieces:
        with open(current.parent / "trail.1", "ab") as fh:
            fh.write(piece)
        time.sleep(0.01)


def test_follow_survives_rotation_of_current(tmp_path: Path) -> None:
    data = WORKLOAD.read_bytes()
    half = TRUTH[len(TRUTH) // 2]["offset"]
    cuts = [r["offset"] for r in TRUTH[len(TRUTH) // 2::100]] + [len(data)]
    # the second half arrives in pieces cut mid-record: the framing must rejoin them
    pieces = [p for a, b in itertools.pairwise(cuts) for p in (data[a:a + 37], data[a + 37:b])]
    (tmp_path / "trail.0").write_bytes(data[:half])
    current = tmp_path / "current"
    current.symlink_to("trail.0")
    grower = threading.Thread(target=_rotate_and_grow, args=(current, pieces))
    expected = sum(1 for t in TRUTH if t["event_name"] in ("AUE_EXECVE", "AUE_POSIX_SPAWN"))
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30

    def stop() -> bool:
        return len(got) >= expected or time.monotonic() > deadline

    for c in live_commands(str(current), follow=True, stop=stop, poll=0.01):
        if not got:  # the follower has trail.0 open: now rotate under it
            grower.start()
        got.append(c)
    grower.join()
    assert len(got) == expected
    assert [c["argv"] for c in got[-3:]] == [
        t.get("argv", []) for t in TRUTH
        if t["event_name"] in ("AUE_EXECVE", "AUE_POSIX_SPAWN")][-3:]


def test_follow_file_yields_both_files(tmp_path: Path) -> None:
    current = tmp_path / "current"
    current.write_bytes(b"abc")
    seen: list[tuple[str, int, bytes]] = []

    def stop() -> bool:
        if len(seen) == 1:
            current.rename(tmp_path / "old")
            current.write_bytes(b"defg")
        return len(seen) >= 2

    for item in follow_file(str(current), poll=0.01, stop=stop):
        seen.append(item)
    assert [(o, d) for _l, o, d in seen] == [(0, b"abc"), (0, b"defg")]
    assert seen[0][0] != seen[1][0]
