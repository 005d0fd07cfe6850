"""Records with very many tokens: decoded exactly, with work linear in their bytes.

Issue 12: the wavefront took one numpy round per token *index*, so one record of 100,000
three-byte tokens took seconds (a hostile or damaged trail could stall a converter).
Records still open after a few rounds are now walked by ``chase``; these tests hold it to
the per-record oracle and count its rounds (operation counts, not time).

Inputs are built here with the library's own encoder (``encode_token`` /
``encode_record``), a few damaged by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from knox_analytics.bsm import chase as C
from knox_analytics.bsm import walker
from knox_analytics.bsm import wavefront as W
from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.bsm.encode import encode_record, encode_token
from knox_analytics.bsm.kinds import KINDS
from knox_analytics.bsm.nuls import NulIndex
from knox_analytics.bsm.reference import decode_reference
from knox_analytics.bsm.tables import load_tables

TABLES = load_tables("builtin")


def _comparable(result: Any) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    table = result.table
    i = table.schema.get_field_index("time")
    rows = table.set_column(i, "time", table.column("time").cast("int64")).to_pylist()
    return rows, [(d.offset, d.length, d.kind, d.reason) for d in result.damage]


def _assert_as_oracle(data: bytes) -> Any:
    ours = decode_bytes(data, "long", tables=TABLES)
    assert _comparable(ours) == _comparable(decode_reference(data, "long", tables=TABLES))
    return ours


def _mixed_body(n: int) -> list[bytes]:
    """Tiny tokens of every layout kind the chase meets, cycled ``n`` times."""
    kinds = [
        encode_token("iport", port=0x2C2C),  # its bytes are its own token id
        encode_token("seq", seq=7),
        encode_token("path", path="/a"),
        encode_token("text", text=""),
        encode_token("exec_args", argv=["ls", "", "-l"]),
        encode_token("exec_args", argv=[]),
        encode_token("sock_unix", domain=1, path="/s"),
        encode_token("in_addr_ex", addr="::1"),
        encode_token("arg32", num=1, value=2, name="x" * 300),  # over 255 bytes
        encode_token("data", print_how=0, unit=0, count=3, raw=b"\x00\x13\x14"),
        encode_token("opaque", data=b"\x14\x00\x00\x00\x19"),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def _record(body: list[bytes]) -> bytes:
    return encode_record(body, event=23, time_ms=1_700_000_000_000)


def test_one_record_of_many_tiny_tokens_is_exact() -> None:
    data = _record([encode_token("iport", port=80)] * 20_000)
    row = _assert_as_oracle(data).table.to_pylist()[0]
    assert row["iports"] == [80] * 20_000
    assert len(row["token_ids"]) == 20_002


@pytest.mark.parametrize("window", [C.WINDOW, 64, 1000])
def test_mixed_long_records_match_the_oracle(monkeypatch: pytest.MonkeyPatch,
                                             window: int) -> None:
    """Small windows put token boundaries, NUL runs and long tokens across windows
    and several records into one batch."""
    monkeypatch.setattr(C, "WINDOW", window)
    short = _record([encode_token("return32", errno=0, value=0)])
    data = _record(_mixed_body(400)) + short + _record(_mixed_body(57)) + short * 3
    rows = _assert_as_oracle(data).table.to_pylist()
    assert [len(r["token_ids"]) for r in rows] == [402, 3, 59, 3, 3, 3]


@pytest.mark.parametrize("window", [C.WINDOW, 50])
@pytest.mark.parametrize("damage", ["unknown-id", "header-id", "runs-past-trailer",
                                    "strings-without-nul", "sock-unix-without-nul"])
def test_damaged_token_deep_in_a_long_record(monkeypatch: pytest.MonkeyPatch,
                                             window: int, damage: str) -> None:
    monkeypatch.setattr(C, "WINDOW", window)
    bad = {
        "unknown-id": b"\xfe\x00\x01",
        "header-id": b"\x14" + b"\x00" * 17,
        "runs-past-trailer": b"\x23\x7f\xff",  # a path of 32 KB in a small record
        "strings-without-nul": b"\x3c\xff\xff\xff\xf0ab",  # 4 billion strings
        "sock-unix-without-nul": b"\x82\x00\x01" + b"a" * 200,
    }[damage]
    body = _mixed_body(150)
    data = _record([*body, bad, *body[:20]]) + _record(body[:30])
    result = _assert_as_oracle(data)
    assert len(result.damage) == 1
    # header, 150 tokens, the undecodable one (kept raw), trailer
    assert len(result.table.to_pylist()[0]["token_ids"]) == 1 + 150 + 1 + 1


def _rounds(monkeypatch: pytest.MonkeyPatch, data: bytes) -> dict[str, int]:
    """Numpy rounds spent on ``data``: wavefront rounds, chase windows, and the offsets
    the chase computed token sizes for."""
    counts = {"rounds": 0, "windows": 0, "offsets": 0}
    real = walker.token_sizes

    def in_wavefront(*args: Any, **kw: Any) -> Any:
        counts["rounds"] += 1
        return real(*args, **kw)

    def in_chase(view: Any, ids: np.ndarray, *args: Any, **kw: Any) -> Any:
        counts["windows"] += 1
        counts["offsets"] += len(ids)
        return real(view, ids, *args, **kw)

    with monkeypatch.context() as m:
        m.setattr(W, "token_sizes", in_wavefront)
        m.setattr(C, "token_sizes", in_chase)
        decode_bytes(data, "long", tables=TABLES)
    return counts


@pytest.mark.parametrize("token", [encode_token("iport", port=80),
                                   encode_token("path", path="")])
def test_rounds_do_not_grow_with_tokens_in_a_record(monkeypatch: pytest.MonkeyPatch,
                                                    token: bytes) -> None:
    """4x the tokens in one record: the same number of wavefront rounds, and the bytes
    looked at grow 4x (linear), not 16x.  Before the fix: one round per token."""
    monkeypatch.setattr(C, "WINDOW", 1 << 16)
    small = _rounds(monkeypatch, _record([token] * 20_000))
    big = _rounds(monkeypatch, _record([token] * 80_000))
    assert big["rounds"] == small["rounds"] <= W.CHASE_AFTER
    assert big["windows"] <= 4 * small["windows"] + 1
    assert big["offsets"] <= 4.1 * small["offsets"]


def test_walker_sizes_agree_with_walk_at_every_offset() -> None:
    """token_sizes (every offset at once, NULs by index) and walk (one id at a
    time, NULs by scanning) are the same layouts read two ways: they must agree
    wherever the index vouches for a token."""
    from knox_analytics.bsm.bytesview import ByteView

    data = b"".join(_mixed_body(60)) + bytes(range(256)) * 2
    view = ByteView(data)
    n = len(data)
    here = np.arange(n)
    size, ok = walker.token_sizes(
        view, view.u8[:n], n - here, lambda i: i,
        NulIndex(view, np.array([0]), np.array([n])))
    for p in range(n):
        tid = int(view.u8[p])
        if not (walker.BODY_VARIABLE[tid] or walker.BODY_FIXED_SIZE[tid]):
            assert not ok[p]
            continue
        end, good = walker.walk(view, tid, np.array([p]), np.array([n]))
        if ok[p]:  # the index may only say "not sure", never a different answer
            assert good[0] and end[0] - p == size[p], p


def test_every_layout_kind_has_one_home() -> None:
    """Each field kind of the layouts is described once (kinds.KINDS), with the same
    fixed size the layouts' table declares."""
    from knox_analytics.bsm import tokens as T

    used = {kind for t in T.TOKEN_TYPES for kind, _name in t.layout}
    assert used <= set(KINDS)
    assert {k for k, kind in KINDS.items() if kind.size is not None} == set(T.FIXED_FIELD_SIZES)
    assert all(KINDS[k].size == size for k, size in T.FIXED_FIELD_SIZES.items())
