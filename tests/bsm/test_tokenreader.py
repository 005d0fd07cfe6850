"""The scalar token reader (knox_analytics/bsm/tokenreader.py): one layout walk, two
policies.  The same bytes read strictly (the reference decoder) and the praudit way (the
renderer's raw tokens).  Tokens are written here with encode_token or by hand (bytes
that no writer would produce); the trails' tokens are covered through both users.
"""

from __future__ import annotations

import pytest

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.encode import encode_token
from knox_analytics.bsm.tokenreader import (
    MAX_GROUPS,
    Undecodable,
    iter_lenient,
    read_lenient,
    read_strict,
)


def _both(data: bytes) -> tuple[dict, dict]:
    _tok, strict, end, _ok = read_strict(data, 0, len(data))
    lenient = read_lenient(data, 0, len(data))
    assert end == len(lenient.data) == len(data) and not lenient.invalid
    return strict, lenient.values


def test_every_layout_reads_alike_in_both_policies() -> None:
    subject = dict(auid=T.UNSET_AUID, euid=0, egid=0, ruid=0, rgid=0, pid=88, sid=1,
                   tid_port=0, tid_addr="2001:db8::17")
    strict, lenient = _both(encode_token("subject32_ex", **subject))
    assert strict == subject and lenient == subject
    strict, lenient = _both(encode_token("exec_args", argv=["ls", "-l", "résumé"]))
    assert strict == {"argv": ["ls", "-l", "résumé"]}
    assert lenient == {"argv": [b"ls", b"-l", "résumé".encode()]}  # bytes, as praudit
    strict, lenient = _both(encode_token("path", path="/tmp/x"))
    assert strict == {"path": "/tmp/x"} and lenient == {"path": b"/tmp/x\0"}
    sock = dict(domain=2, type=1, local_addr="10.0.0.1", local_port=22,
                remote_addr="10.0.0.2", remote_port=50000)
    strict, lenient = _both(encode_token("socket_ex", **sock))
    assert strict == lenient == sock


def test_ipv4_mapped_address_follows_each_policy() -> None:
    data = encode_token("in_addr_ex", addr="::ffff:1.2.3.4")
    strict, lenient = _both(data)
    assert lenient == {"addr": "::ffff:1.2.3.4"}  # inet_ntop, as praudit prints it
    assert strict["addr"] in ("::ffff:1.2.3.4", "::ffff:102:304")  # ipaddress's str


def test_invalid_utf8_is_escaped_and_not_canonical_when_strict() -> None:
    data = bytes([T.AUT_TEXT]) + (4).to_bytes(2, "big") + b"a\xffb\0"
    _tok, values, _end, canonical = read_strict(data, 0, len(data))
    assert values == {"text": "a\\xffb"} and not canonical
    assert read_lenient(data, 0, len(data)).values == {"text": b"a\xffb\0"}


@pytest.mark.parametrize(("data", "reason"), [  # bytes no writer produces
    (bytes([0xEE, 1, 2]), "unknown token id 0xee"),
    (encode_token("path", path="/x")[:-1], "path token runs past the trailer"),
    (bytes([T.AUT_IN_ADDR_EX]) + (7).to_bytes(4, "big") + bytes(7),
     "in_addr_ex token has address type 7 (expected 4 or 16)"),
    (bytes([T.AUT_DATA, 0, 9, 1, 0]), "data token has unit 9 (expected 0..3)"),
    (bytes([T.AUT_SOCKUNIX, 0, 1]) + b"abc", "sock_unix path has no NUL within 3 bytes"),
])
def test_strict_raises_the_damage_reason(data: bytes, reason: str) -> None:
    with pytest.raises(Undecodable) as exc:
        read_strict(data, 0, len(data))
    assert str(exc.value) == reason


def test_lenient_reads_what_strict_refuses_as_praudit_does() -> None:
    bad_type = bytes([T.AUT_IN_ADDR_EX]) + (7).to_bytes(4, "big")
    assert read_lenient(bad_type, 0, len(bad_type)).values == {"addr": "invalid"}
    bad_unit = bytes([T.AUT_DATA, 0, 9, 1])
    assert read_lenient(bad_unit, 0, len(bad_unit)).values["raw"] == b""
    unix = bytes([T.AUT_SOCKUNIX, 0, 1]) + b"abc"
    assert read_lenient(unix, 0, len(unix)).values == {"domain": 1, "path": b"abc"}


def test_lenient_short_or_unknown_token_runs_to_the_limit() -> None:
    data = encode_token("path", path="/x")[:-1]
    tok = read_lenient(data, 0, len(data))
    assert tok.invalid and tok.data == data and tok.values == {"hex": data[1:]}
    unknown = bytes([0xEE, 1, 2, 3])
    assert read_lenient(unknown, 0, 4).invalid


def test_lenient_clamps_newgroups_like_praudit() -> None:
    data = encode_token("newgroups", groups=list(range(20)))
    assert read_lenient(data, 0, len(data)).values["groups"] == list(range(MAX_GROUPS))
    _tok, values, _end, _ok = read_strict(data, 0, len(data))
    assert values["groups"] == list(range(20))


def test_strict_refuses_header_and_trailer_inside_a_record() -> None:
    trailer = encode_token("trailer", magic=T.TRAILER_MAGIC, length=25)
    with pytest.raises(Undecodable, match=r"trailer token \(0x13\) inside a record"):
        read_strict(trailer, 0, len(trailer))
    assert read_strict(trailer, 0, len(trailer), inside=False)[1]["length"] == 25


def test_iter_lenient_walks_a_run_of_tokens() -> None:
    run = encode_token("seq", seq=7) + encode_token("text", text="hi") + bytes([0xEE, 1])
    toks = list(iter_lenient(run))
    assert [t.id for t in toks] == [T.AUT_SEQ, T.AUT_TEXT, 0xEE]
    assert [t.invalid for t in toks] == [False, False, True]
    assert b"".join(t.data for t in toks) == run
