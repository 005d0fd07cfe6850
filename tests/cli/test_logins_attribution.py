"""`knox logins` names who tried: a failed su with the audit user unset is the real uid's.

Fixture: a two-record trail built here with ``bsm/encode`` (tokens as OpenBSM's su writes
them: subject with auid unset, euid 0 as su is setuid root, ruid the caller; text; return).
"""

from __future__ import annotations

from pathlib import Path

from knox_analytics.bsm.encode import encode_record, encode_token
from knox_analytics.catalog import Catalog

UNSET = 4294967295
SU = 6159  # AUE_su, class lo


def _su(auid: int, ruid: int, errno: int, t: int) -> bytes:
    body = [encode_token("subject32", auid=auid, euid=0, egid=0, ruid=ruid, rgid=20, pid=40,
                         sid=40, tid_port=0, tid_addr="0.0.0.0"),
            encode_token("text", text="bad su root on /dev/ttys001"),
            encode_token("return32", errno=errno, value=-1 if errno else 0)]
    return encode_record(body, event=SU, time_ms=t)


def test_failed_su_without_audit_user_is_the_real_users(tmp_path: Path) -> None:
    trail = tmp_path / "su.bsm"
    trail.write_bytes(_su(UNSET, 501, 1, 1_000) + _su(502, 502, 0, 2_000))
    with Catalog([trail], users={501: "alice", 502: "bob"}) as cat:
        rows = cat.query('SELECT "user", operation, success FROM logins ORDER BY time')
    assert rows.to_pylist() == [
        {"user": "alice", "operation": "su", "success": False},  # not root
        {"user": "bob", "operation": "su", "success": True},
    ]
