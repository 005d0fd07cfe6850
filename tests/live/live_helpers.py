"""Shared helpers of the live tests: synthetic records and a knox CLI with only the live commands.

Records are written with the project's own encoder (knox_analytics.bsm.encode), which is
checked byte for byte against tests/data/trails/synthetic-all-tokens.bsm by its own tests.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from knox_analytics.bsm.encode import encode_record, encode_token

#: `python -c` program that runs a knox app holding only the live commands (with the error
#: handling of cli.main.run), so these tests do not depend on the other command modules.
KNOX_LIVE = ("import sys, typer; from knox_analytics.cli import capture, live; "
             "from knox_analytics.errors import KnoxError; "
             "app = typer.Typer(); live.register(app); capture.register(app)\n"
             "try:\n    app()\n"
             "except KnoxError as exc:\n    print(f'knox: {exc}', file=sys.stderr); sys.exit(1)")
KNOX_LIVE_ARGV = [sys.executable, "-c", KNOX_LIVE]

AUE_EXECVE, AUE_FORK, AUE_EXIT, AUE_OPEN_R = 23, 2, 1, 72


def subject(pid: int, uid: int = 501) -> bytes:
    """A subject32 token for ``pid``."""
    return encode_token("subject32", auid=uid, euid=uid, egid=20, ruid=uid, rgid=20, pid=pid,
                        sid=100, tid_port=0, tid_addr="0.0.0.0")


def numbered_record(i: int, rng: random.Random) -> bytes:
    """Record number ``i``: its number in a text token, random padding; a few are huge."""
    body = [encode_token("text", text=f"rec-{i:07d}")]
    if rng.random() < 0.002:  # bigger than a pipe buffer: cut by every read
        body += [encode_token("text", text="x" * 60000) for _ in range(2)]
    else:
        body.append(encode_token("text", text="p" * rng.randint(0, 300)))
    body += [subject(1000 + i % 50), encode_token("return32", errno=0, value=0)]
    return encode_record(body, event=45000, time_ms=1_772_355_600_000 + i)


def numbered_stream(n: int, seed: int = 6) -> bytes:
    """``n`` numbered records, concatenated."""
    rng = random.Random(seed)
    return b"".join(numbered_record(i, rng) for i in range(n))


# --- process lifecycle records (event numbers: audit_event of OpenBSM / macOS) -----------
AUE_POSIX_SPAWN = 43190


def _proc_record(event: int, pid: int, body: list[bytes], t: int, ok: bool = True) -> bytes:
    ret = encode_token("return32", errno=0 if ok else 2, value=0 if ok else 0xFFFFFFFF)
    return encode_record([*body, subject(pid), ret], event=event, time_ms=1_772_355_600_000 + t)


def exec_record(pid: int, path: str, argv: list[str], t: int = 0) -> bytes:
    """execve(2) of ``path`` by ``pid``."""
    return _proc_record(AUE_EXECVE, pid, [encode_token("exec_args", argv=argv),
                                          encode_token("path", path=path)], t)


def spawn_record(pid: int, child: int | None, path: str, argv: list[str], t: int = 0) -> bytes:
    """posix_spawn(2) by ``pid``; ``child=None`` is POSIX_SPAWN_SETEXEC (no child PID arg,
    as xnu writes it: the ``child PID`` arg32 only when a child was created)."""
    body = [encode_token("exec_args", argv=argv), encode_token("path", path=path)]
    if child is not None:
        body.insert(0, encode_token("arg32", num=0, value=child, name="child PID"))
    return _proc_record(AUE_POSIX_SPAWN, pid, body, t)


def fork_record(pid: int, child: int, t: int = 0) -> bytes:
    """fork(2) by ``pid`` creating ``child``."""
    return _proc_record(AUE_FORK, pid, [encode_token("arg32", num=0, value=child,
                                                     name="child PID")], t)


def open_record(pid: int, path: str, t: int = 0) -> bytes:
    """open(2) for reading by ``pid``."""
    return _proc_record(AUE_OPEN_R, pid, [encode_token("path", path=path)], t)


def exit_record(pid: int, t: int = 0) -> bytes:
    """exit(2) of ``pid``."""
    return _proc_record(AUE_EXIT, pid, [encode_token("exit", status=0, **{"return": 0})], t)


def follow_lines(args: list[str], trail: Path, data: bytes, cut: int, n: int) -> list[str]:
    """Run ``knox ARGS --follow TRAIL`` on a trail holding ``data[:cut]``, append the
    rest once it follows, and return the first ``n`` lines it prints (a watchdog kills a
    follower that hangs, so that it cannot hang the suite)."""
    trail.write_bytes(data[:cut])
    proc = subprocess.Popen([sys.executable, "-m", "knox_analytics", *args, "--follow",
                             str(trail)], stdout=subprocess.PIPE, text=True)
    guard = threading.Timer(120, proc.kill)
    guard.start()
    try:
        time.sleep(1.0)
        with open(trail, "ab") as fh:
            fh.write(data[cut:])
        assert proc.stdout is not None
        return [proc.stdout.readline() for _ in range(n)]
    finally:
        guard.cancel()
        proc.terminate()
        proc.wait(timeout=30)
