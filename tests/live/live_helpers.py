"""Shared helpers of the live tests: synthetic records and a knox CLI with only the live commands.

Records are written with the project's own encoder (knox_analytics.bsm.encode), which is
checked byte for byte against tests/data/trails/synthetic-all-tokens.bsm by its own tests.
"""

from __future__ import annotations

import random
import sys

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
