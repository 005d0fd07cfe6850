"""Read tokens from raw bytes the way praudit does: the small per-token path.

The typed columns cover almost every token; the rest are kept verbatim in ``raw_tokens``
(a second subject, a string that is not valid UTF-8, an unknown id, a file token inside a
record, ...).  This module turns such bytes back into field values, with praudit's
semantics rather than the decoder's: strings stay ``bytes`` (praudit prints them byte for
byte), a file token may appear inside a record (``au_fetch_tok`` accepts it), and an
unknown id swallows everything up to the trailer (``fetch_invalid_tok``).

Field names follow :mod:`knox_analytics.bsm.tokens` layouts, so that rendering can treat
values from raw bytes and values from typed columns alike.

Example::

    >>> tok = next(iter_tokens(bytes.fromhex("2f0000002a")))
    >>> tok.id, tok.values["seq"]
    (47, 42)
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from knox_analytics.bsm import tokens as T

MAX_GROUPS = 16  # AUDIT_MAX_GROUPS: fetch_newgroups_tok clamps the count


@dataclass(frozen=True)
class RawToken:
    """One token read from raw bytes: its id, field values, and its bytes."""

    id: int
    values: dict[str, Any]
    data: bytes
    #: True for an unknown id, or a token cut short: printed as ``unknown,0x<hex>``.
    invalid: bool = False


class _Short(Exception):
    """The token runs past the end of the bytes (praudit: fetch returns -1)."""


class _Reader:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _Short
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        return raw

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")


def _ip(raw: bytes) -> str:
    # inet_ntop, as praudit: "::ffff:1.2.3.4", where Python's ipaddress may say "::ffff:102:304"
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def _addr(r: _Reader) -> str:
    atype = r.uint(4)
    if atype == T.AU_IPV4:
        return _ip(r.take(4))
    if atype == T.AU_IPV6:
        return _ip(r.take(16))
    return "invalid"  # print_ip_ex_address's default


def _strings(r: _Reader) -> list[bytes]:
    out = []
    for _i in range(r.uint(4)):
        nul = r.data.find(b"\0", r.pos)
        if nul < 0:
            raise _Short
        out.append(r.take(nul - r.pos + 1)[:-1])
    return out


def _u32list(r: _Reader) -> list[int]:
    count = min(r.uint(2), MAX_GROUPS)
    return [r.uint(4) for _i in range(count)]


def _data(r: _Reader, values: dict[str, Any]) -> bytes:
    return r.take(T.DATA_UNIT_SIZES.get(values["unit"], 0) * values["count"])


def _cstr(r: _Reader) -> bytes:
    window = r.data[r.pos:r.pos + T.SOCKUNIX_PATH_MAX]
    nul = window.find(b"\0")
    raw = r.take(nul + 1 if nul >= 0 else len(window))
    return raw.split(b"\0", 1)[0]


def _sockaddrs(r: _Reader) -> dict[str, Any]:
    atype = r.uint(2)
    size = 4 if atype == T.AU_IPV4 else 16
    local_port = r.uint(2)
    local_addr = _ip(r.take(size))
    remote_port = r.uint(2)
    return {"local_port": local_port, "local_addr": local_addr,
            "remote_port": remote_port, "remote_addr": _ip(r.take(size))}


_READERS: dict[str, Callable[[_Reader, dict[str, Any]], Any]] = {
    "u8": lambda r, _: r.uint(1),
    "u16": lambda r, _: r.uint(2),
    "u32": lambda r, _: r.uint(4),
    "u64": lambda r, _: r.uint(8),
    "ip4": lambda r, _: _ip(r.take(4)),
    "ip6": lambda r, _: _ip(r.take(16)),
    "addr": lambda r, _: _addr(r),
    "str16": lambda r, _: r.take(r.uint(2)),  # NULs kept: print_string skips them
    "bytes16": lambda r, _: r.take(r.uint(2)),
    "strings": lambda r, _: _strings(r),
    "u32list": lambda r, _: _u32list(r),
    "data": _data,
    "cstr": lambda r, _: _cstr(r),
    "uuid": lambda r, _: str(uuid.UUID(bytes=r.take(16))),
    "sockaddrs": lambda r, _: _sockaddrs(r),
}


def read_one(data: bytes, pos: int, limit: int) -> RawToken:
    """Read the token at ``data[pos:limit]``; unknown or short tokens run to ``limit``."""
    tid = data[pos]
    tok = T.TOKENS_BY_ID.get(tid)
    if tok is not None:
        reader = _Reader(data[:limit], pos + 1)
        values: dict[str, Any] = {}
        try:
            for kind, name in tok.layout:
                value = _READERS[kind](reader, values)
                if kind == "sockaddrs":
                    values.update(value)
                else:
                    values[name] = value
            return RawToken(tid, values, data[pos:reader.pos])
        except _Short:
            pass
    # fetch_invalid_tok: everything after the id up to the trailer, printed in hex
    return RawToken(tid, {"hex": data[pos + 1:limit]}, data[pos:limit], invalid=True)


def iter_tokens(data: bytes) -> Iterator[RawToken]:
    """Every token in ``data`` (a run of tokens without the trailer), in order."""
    pos = 0
    while pos < len(data):
        tok = read_one(data, pos, len(data))
        yield tok
        pos += len(tok.data)
