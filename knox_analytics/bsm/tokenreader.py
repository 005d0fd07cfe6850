"""Read one token's fields from bytes, by its layout in :mod:`tokens`: the scalar path.

One generic loop walks a token's layout; what happens at the edges is a *policy*:

* :class:`StrictReader` (the reference decoder, and the decoder's damage reasons): a
  token that runs past the trailer, an address type other than 4/16, a data unit other
  than 0..3 or a sock_unix path without a NUL is :class:`Undecodable` (the message is
  the damage reason); strings are decoded as UTF-8 (bad bytes backslash-escaped, and the
  token flagged as not reproducible from the columns); addresses are parsed.
* :class:`PrauditReader` (the renderer, for tokens kept in ``raw_tokens``): praudit's
  semantics -- strings stay ``bytes`` with their NULs (print_string skips them), addresses
  are formatted by ``inet_ntop``, a bad address type reads as ``invalid``, newgroups is
  clamped to 16, and a token cut short is printed as ``unknown`` with the bytes up to the
  trailer in hex (``fetch_invalid_tok``).

The vectorized decoder does not use this module to decode (it reads the same layouts
in :mod:`extract`), so the reference decoder built on it stays an independent oracle.

Example::

    >>> tok = read_lenient(bytes.fromhex("2f0000002a"), 0, 5)
    >>> tok.id, tok.values["seq"]
    (47, 42)
    >>> read_strict(bytes.fromhex("2f0000002a"), 0, 5)[1]
    {'seq': 42}
"""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from knox_analytics.bsm import tokens as T

#: AUDIT_MAX_GROUPS: praudit's fetch_newgroups_tok clamps the group count to it.
MAX_GROUPS = 16
#: ids that may not appear between a record's header and trailer.  (A file token may:
#: praudit prints it like any other, and OpenBSM's test vectors carry one.)
NOT_INSIDE_A_RECORD = frozenset((T.AUT_TRAILER, *T.HEADER_IDS))


class Undecodable(Exception):
    """A token the strict reader cannot read; the message is the damage reason."""


class _Short(Exception):
    """The token runs past the end of its bytes (praudit: the fetch returns -1)."""


@dataclass(frozen=True)
class RawToken:
    """One token read the praudit way: its id, field values, and its bytes."""

    id: int
    values: dict[str, Any]
    data: bytes
    #: True for an unknown id, or a token cut short: printed as ``unknown,0x<hex>``.
    invalid: bool = False


class TokenReader:
    """Reads the fields of one token, never past ``limit``; subclasses set the policy."""

    max_groups: int | None = None

    def __init__(self, data: bytes, pos: int, limit: int, tok: T.TokenType) -> None:
        self.data, self.pos, self.limit, self.tok = data, pos, limit, tok
        self.canonical = True  # False: the typed columns cannot reproduce the bytes

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes of the token body."""
        if self.pos + n > self.limit:
            self.short()
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        return raw

    def uint(self, n: int) -> int:
        """A big-endian unsigned integer of ``n`` bytes."""
        return int.from_bytes(self.take(n), "big")

    def read(self) -> dict[str, Any]:
        """All fields of the token's layout, by field name."""
        values: dict[str, Any] = {}
        for kind, name in self.tok.layout:
            value = _FIELD_READERS[kind](self, values)
            if kind == "sockaddrs":
                values.update(value)
            else:
                values[name] = value
        return values

    def until_nul(self, search: int) -> bytes | None:
        """The bytes before the next NUL within ``search`` bytes (the NUL is consumed)."""
        nul = self.data.find(b"\0", self.pos, self.pos + search)
        return None if nul < 0 else self.take(nul - self.pos + 1)[:-1]

    # --- the policy ---------------------------------------------------------------------

    def short(self) -> NoReturn:
        """The token runs past ``limit``."""
        raise NotImplementedError

    def text(self, raw: bytes) -> Any:
        """The value of a string field's bytes."""
        raise NotImplementedError

    def str16(self, raw: bytes) -> Any:
        """The value of a length-prefixed string (its NUL included)."""
        raise NotImplementedError

    def ip(self, raw: bytes) -> str:
        """An IPv4/IPv6 address's text."""
        raise NotImplementedError

    def address(self, atype: int) -> str:
        """An ``addr`` field's address, whose type (4 or 16) was read just before."""
        raise NotImplementedError

    def sockaddr_size(self, atype: int) -> int:
        """How many address bytes a socket_ex address of type ``atype`` holds."""
        raise NotImplementedError

    def data_size(self, unit: int) -> int:
        """Bytes per value of the data token's ``unit``."""
        raise NotImplementedError

    def unterminated_path(self, search: int) -> bytes:
        """A sock_unix path with no NUL within its ``search`` bytes."""
        raise NotImplementedError


class StrictReader(TokenReader):
    """The decoder's policy: raise :class:`Undecodable`, decode UTF-8, parse addresses."""

    def short(self) -> NoReturn:
        raise Undecodable(f"{self.tok.name} token runs past the trailer")

    def text(self, raw: bytes) -> str:
        """UTF-8 (backslash escapes for bad bytes); a string that is not valid UTF-8 is not
        canonical."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.canonical = False
            return raw.decode("utf-8", errors="backslashreplace")

    def str16(self, raw: bytes) -> str:
        # canonical: NUL-terminated with no NUL before the end (what libbsm writes)
        if not raw or raw.find(b"\0") != len(raw) - 1:
            self.canonical = False
        return self.text(raw.split(b"\0", 1)[0])

    def ip(self, raw: bytes) -> str:
        return str(ipaddress.ip_address(raw))

    def address(self, atype: int) -> str:
        return self.ip(self.take(self.sockaddr_size(atype)))

    def sockaddr_size(self, atype: int) -> int:
        if atype not in (T.AU_IPV4, T.AU_IPV6):
            raise Undecodable(f"{self.tok.name} token has address type {atype} "
                              "(expected 4 or 16)")
        return atype

    def data_size(self, unit: int) -> int:
        size = T.DATA_UNIT_SIZES.get(unit)
        if size is None:
            raise Undecodable(f"data token has unit {unit} (expected 0..3)")
        return size

    def unterminated_path(self, search: int) -> bytes:
        raise Undecodable(f"{self.tok.name} path has no NUL within {search} bytes")


class PrauditReader(TokenReader):
    """praudit's policy: keep string bytes, ``inet_ntop`` addresses, never raise but
    :class:`_Short` (the caller turns it into an invalid token)."""

    max_groups = MAX_GROUPS

    def short(self) -> NoReturn:
        raise _Short

    def text(self, raw: bytes) -> bytes:
        return raw

    def str16(self, raw: bytes) -> bytes:
        return raw  # NULs kept: print_string skips them

    def ip(self, raw: bytes) -> str:
        # inet_ntop, as praudit: "::ffff:1.2.3.4", where ipaddress may say "::ffff:102:304"
        return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)

    def address(self, atype: int) -> str:
        if atype in (T.AU_IPV4, T.AU_IPV6):
            return self.ip(self.take(atype))
        return "invalid"  # print_ip_ex_address's default

    def sockaddr_size(self, atype: int) -> int:
        return 4 if atype == T.AU_IPV4 else 16

    def data_size(self, unit: int) -> int:
        return T.DATA_UNIT_SIZES.get(unit, 0)

    def unterminated_path(self, search: int) -> bytes:
        return self.take(search)


# --- the field kinds of tokens.py --------------------------------------------------------


def _strings(r: TokenReader, _: dict[str, Any]) -> list[Any]:
    out = []
    for _i in range(r.uint(4)):
        raw = r.until_nul(r.limit - r.pos)
        if raw is None:
            r.short()
        out.append(r.text(raw))
    return out


def _u32list(r: TokenReader, _: dict[str, Any]) -> list[int]:
    count = r.uint(2)
    if r.max_groups is not None:
        count = min(count, r.max_groups)
    return [r.uint(4) for _i in range(count)]


def _cstr(r: TokenReader, _: dict[str, Any]) -> Any:
    search = max(0, min(T.SOCKUNIX_PATH_MAX, r.limit - r.pos))
    raw = r.until_nul(search)
    return r.text(r.unterminated_path(search) if raw is None else raw)


def _sockaddrs(r: TokenReader, _: dict[str, Any]) -> dict[str, Any]:
    # praudit's fetch_socketex32_tok: u16 address type, then port + address twice
    atype = r.uint(2)
    local_port = r.uint(2)
    size = r.sockaddr_size(atype)  # checked here: a short token is "runs past" first
    local_addr = r.ip(r.take(size))
    remote_port = r.uint(2)
    return {"local_port": local_port, "local_addr": local_addr,
            "remote_port": remote_port, "remote_addr": r.ip(r.take(size))}


_FIELD_READERS: dict[str, Callable[[TokenReader, dict[str, Any]], Any]] = {
    "u8": lambda r, _: r.uint(1),
    "u16": lambda r, _: r.uint(2),
    "u32": lambda r, _: r.uint(4),
    "u64": lambda r, _: r.uint(8),
    "ip4": lambda r, _: r.ip(r.take(4)),
    "ip6": lambda r, _: r.ip(r.take(16)),
    "addr": lambda r, _: r.address(r.uint(4)),
    "str16": lambda r, _: r.str16(r.take(r.uint(2))),
    "bytes16": lambda r, _: r.take(r.uint(2)),
    "strings": _strings,
    "u32list": _u32list,
    "data": lambda r, v: r.take(r.data_size(v["unit"]) * v["count"]),
    "cstr": _cstr,
    "uuid": lambda r, _: str(uuid.UUID(bytes=r.take(16))),
    "sockaddrs": _sockaddrs,
}


# --- the two entry points ----------------------------------------------------------------


def read_strict(data: bytes, pos: int, limit: int, *, inside: bool = True
                ) -> tuple[T.TokenType, dict[str, Any], int, bool]:
    """Read the token at ``pos``: (type, field values, end offset, strings canonical).

    Raises :class:`Undecodable` (its message is the damage reason) for an unknown id, an id
    that cannot appear ``inside`` a record, a bad address type / data unit / sock_unix
    path, or a body that runs past ``limit``.
    """
    tid = data[pos]
    tok = T.TOKENS_BY_ID.get(tid)
    if tok is None:
        raise Undecodable(f"unknown token id 0x{tid:02x}")
    if inside and tid in NOT_INSIDE_A_RECORD:
        raise Undecodable(f"{tok.name} token (0x{tid:02x}) inside a record")
    reader = StrictReader(data, pos + 1, limit, tok)
    values = reader.read()
    return tok, values, reader.pos, reader.canonical


def read_lenient(data: bytes, pos: int, limit: int) -> RawToken:
    """Read the token at ``data[pos:limit]`` as praudit does; an unknown id or a token cut
    short runs to ``limit`` (``fetch_invalid_tok``)."""
    tid = data[pos]
    tok = T.TOKENS_BY_ID.get(tid)
    if tok is not None:
        reader = PrauditReader(data, pos + 1, limit, tok)
        try:
            values = reader.read()
            return RawToken(tid, values, data[pos:reader.pos])
        except _Short:
            pass
    # fetch_invalid_tok: everything after the id up to the trailer, printed in hex
    return RawToken(tid, {"hex": data[pos + 1:limit]}, data[pos:limit], invalid=True)


def iter_lenient(data: bytes) -> Iterator[RawToken]:
    """Every token in ``data`` (a run of tokens without the trailer), read as praudit."""
    pos = 0
    while pos < len(data):
        tok = read_lenient(data, pos, len(data))
        yield tok
        pos += len(tok.data)
