"""The reference (oracle) decoder: plain, sequential, one record and one token at a time.

It exists to be obviously correct, not fast: the vectorized decoder
(:mod:`knox_analytics.bsm.decode`) is tested against it (same table, same row order, same
damage list) and benchmarked against it.  Everything it knows about the format comes from
the layouts in :mod:`knox_analytics.bsm.tokens`; the fields of each token are read by one
generic loop over its layout, never by a hand-written parser per token.

Example::

    >>> from knox_analytics.bsm.reference import decode_reference
    >>> decode_reference(b"").table.num_rows
    0
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.damage import Damage, explain_gap
from knox_analytics.bsm.decode import DecodeResult
from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.errors import NotBSMError
from knox_analytics.schema import SCHEMA

RECORD_START_IDS = frozenset(T.HEADER_IDS)
TRAILER_MAGIC_BYTES = bytes([T.AUT_TRAILER]) + T.TRAILER_MAGIC.to_bytes(2, "big")
MIN_RECORD_LENGTH = 25  # header32 (18 bytes) + trailer (7 bytes): the smallest record
FILE_TOKEN_FIXED = 11  # id + u32 sec + u32 msec + u16 name length
#: ids that may not appear between a record's header and trailer.  (A file token may:
#: praudit prints it like any other, and OpenBSM's test vectors carry one.)
NOT_INSIDE_A_RECORD = frozenset((T.AUT_TRAILER, *T.HEADER_IDS))
#: Groups whose first token fills flat column(s); "file" is a file token inside a record.
SINGLETON_GROUPS = frozenset(("subject", "return", "exit", "argv", "envp", "groups", "seq",
                              "zonename", "identity", "file"))
MAX_HEADER_SEC = 2**33  # year 2242: later (or msec >= 2**32) is no time at all -> null
SUBJECT_COLUMNS = ("auid", "euid", "egid", "ruid", "rgid", "pid", "sid", "tid_port",
                   "tid_addr")


# --- event / errno names ----------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """The three lookups the decoder needs from the audit_event / audit_errno tables."""

    event_name: Callable[[int], str | None]
    event_classes: Callable[[int], str | None]
    errno_name: Callable[[int], str | None]


def names_from_tables(tables: Tables | Names | None = None) -> Names:
    """The lookups of ``tables`` (default: :func:`load_tables`) as :class:`Names`."""
    if isinstance(tables, Names):
        return tables
    if tables is None:
        tables = load_tables()
    return Names(tables.events.name, tables.events.class_names, tables.errnos.name)


# --- framing ------------------------------------------------------------------------------


def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 2], "big")


def _u32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "big")


def record_length_at(data: bytes, pos: int) -> int | None:
    """Length of the record whose header starts at ``pos``, or None if none starts there.

    A record candidate: a header id, a length >= 25 that fits in the data, and at
    ``pos + length - 7`` a trailer (0x13 0xb1 0x05) repeating that length.
    """
    if data[pos] not in RECORD_START_IDS or pos + 5 > len(data):
        return None
    length = _u32(data, pos + 1)
    if length < MIN_RECORD_LENGTH or pos + length > len(data):
        return None
    end = pos + length
    if data[end - 7:end - 4] != TRAILER_MAGIC_BYTES or _u32(data, end - 4) != length:
        return None
    return length


def file_token_length_at(data: bytes, pos: int) -> int | None:
    """Length of a stand-alone file token (0x11) at ``pos``, or None if none is there.

    The token must end by the next record candidate: a file token never runs into a
    record (the vectorized framing looks for file tokens only in the gaps between records).
    """
    if data[pos] != T.AUT_OTHER_FILE32 or pos + FILE_TOKEN_FIXED > len(data):
        return None
    n = _u16(data, pos + 9)
    end = pos + FILE_TOKEN_FIXED + n
    if n < 1 or end > len(data) or data[end - 1] != 0:
        return None
    if end > next_record_start(data, pos):
        return None
    return FILE_TOKEN_FIXED + n


def next_record_start(data: bytes, pos: int) -> int:
    """Smallest offset > ``pos`` where a record candidate starts, else ``len(data)``.

    File tokens are not resynchronisation points: only a header+trailer pair is.
    """
    for match in _HEADER_ID_RE.finditer(data, pos + 1):
        if record_length_at(data, match.start()) is not None:
            return match.start()
    return len(data)


_HEADER_ID_RE = re.compile(b"[" + re.escape(bytes(sorted(T.HEADER_IDS))) + b"]")


# --- reading one token's fields -----------------------------------------------------------


class Undecodable(Exception):
    """A token the decoder cannot read; the message is the damage reason."""


def _ip(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


def _utf8(raw: bytes) -> tuple[str, bool]:
    """Decode ``raw`` as UTF-8 (backslash escapes for bad bytes); True if it was valid."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="backslashreplace"), False


class TokenReader:
    """Reads the fields of one token, never past ``limit`` (the record's trailer)."""

    def __init__(self, data: bytes, pos: int, limit: int, tok: T.TokenType) -> None:
        self.data, self.pos, self.limit, self.tok = data, pos, limit, tok
        self.canonical = True  # False: the typed columns cannot reproduce the bytes

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes of the token body."""
        if self.pos + n > self.limit:
            raise Undecodable(f"{self.tok.name} token runs past the trailer")
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

    def address(self, atype: int) -> str:
        """An IPv4/IPv6 address whose type (4 or 16) was read just before."""
        if atype not in (T.AU_IPV4, T.AU_IPV6):
            raise Undecodable(f"{self.tok.name} token has address type {atype} "
                              "(expected 4 or 16)")
        return _ip(self.take(atype))

    def string(self, raw: bytes) -> str:
        """Decode a string's bytes; a string that is not valid UTF-8 is not canonical."""
        text, valid = _utf8(raw)
        self.canonical = self.canonical and valid
        return text


def _read_str16(r: TokenReader, _: dict[str, Any]) -> str:
    raw = r.take(r.uint(2))
    # canonical: NUL-terminated with no NUL before the end (what libbsm writes)
    if not raw or raw.find(b"\0") != len(raw) - 1:
        r.canonical = False
    return r.string(raw.split(b"\0", 1)[0])


def _read_strings(r: TokenReader, _: dict[str, Any]) -> list[str]:
    out = []
    for _i in range(r.uint(4)):
        nul = r.data.find(b"\0", r.pos, r.limit)
        if nul < 0:
            raise Undecodable(f"{r.tok.name} token runs past the trailer")
        out.append(r.string(r.take(nul - r.pos + 1)[:-1]))
    return out


def _read_u32list(r: TokenReader, _: dict[str, Any]) -> list[int]:
    return [r.uint(4) for _i in range(r.uint(2))]


def _read_data(r: TokenReader, values: dict[str, Any]) -> bytes:
    size = T.DATA_UNIT_SIZES.get(values["unit"])
    if size is None:
        raise Undecodable(f"data token has unit {values['unit']} (expected 0..3)")
    return r.take(size * values["count"])


def _read_cstr(r: TokenReader, _: dict[str, Any]) -> str:
    search = max(0, min(T.SOCKUNIX_PATH_MAX, r.limit - r.pos))
    nul = r.data.find(b"\0", r.pos, r.pos + search)
    if nul < 0:
        raise Undecodable(f"{r.tok.name} path has no NUL within {search} bytes")
    return r.string(r.take(nul - r.pos + 1)[:-1])


def _read_sockaddrs(r: TokenReader, _: dict[str, Any]) -> dict[str, Any]:
    # praudit's fetch_socketex32_tok: u16 address type, then port + address twice
    atype = r.uint(2)
    local_port = r.uint(2)
    local_addr = r.address(atype)
    remote_port = r.uint(2)
    return {"local_port": local_port, "local_addr": local_addr,
            "remote_port": remote_port, "remote_addr": r.address(atype)}


_FIELD_READERS: dict[str, Callable[[TokenReader, dict[str, Any]], Any]] = {
    "u8": lambda r, _: r.uint(1),
    "u16": lambda r, _: r.uint(2),
    "u32": lambda r, _: r.uint(4),
    "u64": lambda r, _: r.uint(8),
    "ip4": lambda r, _: _ip(r.take(4)),
    "ip6": lambda r, _: _ip(r.take(16)),
    "addr": lambda r, _: r.address(r.uint(4)),
    "str16": _read_str16,
    "bytes16": lambda r, _: r.take(r.uint(2)),
    "strings": _read_strings,
    "u32list": _read_u32list,
    "data": _read_data,
    "cstr": _read_cstr,
    "uuid": lambda r, _: str(uuid.UUID(bytes=r.take(16))),
    "sockaddrs": _read_sockaddrs,
}


def read_token(data: bytes, pos: int, limit: int, *, inside: bool = True
               ) -> tuple[T.TokenType, dict[str, Any], int, bool]:
    """Read the token at ``pos``: (type, field values, end offset, canonical).

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
    reader = TokenReader(data, pos + 1, limit, tok)
    values = reader.read()
    return tok, values, reader.pos, reader.canonical and _values_canonical(tok, values)


def _values_canonical(tok: T.TokenType, values: dict[str, Any]) -> bool:
    """Whether field values can be reproduced from the typed columns (see schema.py)."""
    if tok.group == "header":
        # time is kept in ms: msec must be < 1000 and sec*1000 must fit comfortably
        return values["msec"] < 1000 and values["sec"] < MAX_HEADER_SEC
    if tok.group == "file":
        return values["msec"] < 1000
    if tok.id == T.AUT_IDENTITY:
        return values["signing_id_truncated"] in (0, 1) and values["team_id_truncated"] in (0, 1)
    return True


# --- typed columns --------------------------------------------------------------------------


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def _header_time_ms(sec: int, msec: int) -> int | None:
    """The one rule for header and file-token times: sec*1000 + msec (an msec >= 1000 is
    kept as written: the token is kept raw too), null when it is no real time."""
    return sec * 1000 + msec if sec < MAX_HEADER_SEC and msec < 2**32 else None


_file_time_ms = _header_time_ms


def _list_value(column: str, values: dict[str, Any], tok: T.TokenType) -> Any:
    """The element a list-group token adds to its column."""
    type_ = SCHEMA.field(column).type.value_type
    if pa.types.is_struct(type_):
        return {type_.field(i).name: values.get(type_.field(i).name)
                for i in range(type_.num_fields)}
    (_kind, name), = tok.layout  # scalar list columns come from one-field tokens
    return values[name]


@dataclass
class RecordRow:
    """The row being built for one record, token by token."""

    data: bytes
    source: str
    base_offset: int
    names: Names
    row: dict[str, Any] = field(default_factory=dict)
    damage: list[Damage] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.row.update({"token_ids": [], "raw_tokens": []})

    def add_raw(self, start: int, end: int, typed: bool) -> None:
        """Keep the bytes of the token just appended to token_ids verbatim."""
        self.row["raw_tokens"].append(
            {"index": len(self.row["token_ids"]) - 1, "data": self.data[start:end],
             "typed": typed})

    def add_token(self, tok: T.TokenType, values: dict[str, Any], start: int, end: int,
                  canonical: bool) -> None:
        """Put one decoded token into token_ids and its typed column(s)."""
        self.row["token_ids"].append(tok.id)
        if tok.group in SINGLETON_GROUPS and tok.group in self.seen:
            self.add_raw(start, end, typed=False)  # a second subject, return, ...
            return
        self.seen.add(tok.group)
        if tok.group == "file":
            canonical = False  # its time has no column inside a record: keep the bytes
        if tok.group in SINGLETON_GROUPS:
            _SINGLETON_SETTERS[tok.group](self.row, values, tok, self.names)
        else:
            self.row.setdefault(tok.group, []).append(_list_value(tok.group, values, tok))
        if not canonical:
            self.add_raw(start, end, typed=True)

    def add_undecodable(self, start: int, trailer: int, reason: str) -> None:
        """From ``start`` to the trailer: one raw token and a "raw" damage entry."""
        self.row["token_ids"].append(self.data[start])
        self.add_raw(start, trailer, typed=False)
        self.damage.append(Damage(self.source, self.base_offset + start, trailer - start,
                                  reason, "raw"))


def _set_subject(row: dict[str, Any], v: dict[str, Any], _t: T.TokenType, _n: Names) -> None:
    row.update({c: v[c] for c in SUBJECT_COLUMNS})


def _set_return(row: dict[str, Any], v: dict[str, Any], tok: T.TokenType, names: Names) -> None:
    bits = 32 if tok.id == T.AUT_RETURN32 else 64
    errno = v["errno"]
    row.update(return_errno=errno, return_value=_signed(v["value"], bits),
               errno_name=names.errno_name(errno) if errno else None, success=errno == 0)


def _set_exit(row: dict[str, Any], v: dict[str, Any], _t: T.TokenType, _n: Names) -> None:
    row.update(exit_status=_signed(v["status"], 32), exit_return=_signed(v["return"], 32))


def _set_identity(row: dict[str, Any], v: dict[str, Any], _t: T.TokenType, _n: Names) -> None:
    row["identity"] = {**v, "signing_id_truncated": v["signing_id_truncated"] != 0,
                       "team_id_truncated": v["team_id_truncated"] != 0}


def _set_one(column: str, key: str) -> Callable[..., None]:
    def setter(row: dict[str, Any], v: dict[str, Any], _t: T.TokenType, _n: Names) -> None:
        row[column] = v[key]
    return setter


_SINGLETON_SETTERS: dict[str, Callable[..., None]] = {
    "subject": _set_subject, "return": _set_return, "exit": _set_exit,
    "identity": _set_identity, "argv": _set_one("argv", "argv"),
    "envp": _set_one("envp", "envp"), "groups": _set_one("groups", "groups"),
    "seq": _set_one("seq", "seq"), "zonename": _set_one("zonename", "zonename"),
    "file": _set_one("file_name", "name"),
}


# --- records ---------------------------------------------------------------------------------


def _set_header_common(rec: RecordRow, data: bytes, pos: int, length: int) -> None:
    # id, length, version, event, modifier: the first 10 bytes of every header variant,
    # vouched for by framing -- so even a header with a malformed address gets them
    event = _u16(data, pos + 6)
    rec.row.update(source=rec.source, offset=rec.base_offset + pos, length=length,
                   header_token=data[pos], version=data[pos + 5], event=event,
                   modifier=_u16(data, pos + 8), event_name=rec.names.event_name(event),
                   event_classes=rec.names.event_classes(event))


def decode_record(data: bytes, pos: int, length: int, rec: RecordRow) -> None:
    """Fill ``rec`` with the record at ``pos`` (framing already checked)."""
    trailer = pos + length - T.TRAILER_SIZE
    _set_header_common(rec, data, pos, length)
    tokpos = _decode_header(data, pos, trailer, rec)
    while tokpos < trailer:
        try:
            tok, values, end, canonical = read_token(data, tokpos, trailer)
        except Undecodable as exc:
            rec.add_undecodable(tokpos, trailer, str(exc))
            break
        rec.add_token(tok, values, tokpos, end, canonical)
        tokpos = end
    rec.row["token_ids"].append(T.AUT_TRAILER)


def _decode_header(data: bytes, pos: int, trailer: int, rec: RecordRow) -> int:
    """Decode the header token; return where the next token starts (the trailer if the
    header itself is undecodable, e.g. a header64 in a 25-byte record)."""
    try:
        tok, values, end, canonical = read_token(data, pos, trailer, inside=False)
    except Undecodable as exc:
        rec.add_undecodable(pos, trailer, str(exc))
        return trailer
    rec.row.update(time=_header_time_ms(values["sec"], values["msec"]), host=values.get("host"))
    rec.row["token_ids"].append(tok.id)
    if not canonical:
        rec.add_raw(pos, end, typed=True)
    return end


def decode_file_token(data: bytes, pos: int, length: int, rec: RecordRow) -> None:
    """Fill ``rec`` with the stand-alone file token at ``pos``."""
    tok, values, _end, canonical = read_token(data, pos, pos + length, inside=False)
    rec.row.update(source=rec.source, offset=rec.base_offset + pos, length=length,
                   header_token=tok.id, time=_file_time_ms(values["sec"], values["msec"]),
                   file_name=values["name"], token_ids=[tok.id])
    if not canonical:
        rec.add_raw(pos, pos + length, typed=True)


def decode_reference(data: bytes, source: str = "<bytes>", *, base_offset: int = 0,
                     tables: Tables | Names | None = None) -> DecodeResult:
    """Decode a buffer of BSM records, one record and one token at a time.

    ``base_offset`` is the offset of ``data[0]`` in the source (for chunked reading);
    ``tables`` gives event and errno names (default: :func:`tables.load_tables`).
    Damaged spans are skipped and reported; input with no record at all raises
    :class:`NotBSMError`.

    Example::

        >>> data = open("trail.bsm", "rb").read()  # doctest: +SKIP
        >>> decode_reference(data, "trail.bsm").table.num_rows  # doctest: +SKIP
        3006
    """
    data = bytes(data)
    names = names_from_tables(tables)
    rows: list[dict[str, Any]] = []
    damage: list[Damage] = []
    pos = 0
    while pos < len(data):
        rec = RecordRow(data, source, base_offset, names)
        if (length := record_length_at(data, pos)) is not None:
            decode_record(data, pos, length, rec)
        elif (length := file_token_length_at(data, pos)) is not None:
            decode_file_token(data, pos, length, rec)
        else:
            stop = next_record_start(data, pos)
            damage.append(Damage(source, base_offset + pos, stop - pos,
                                 explain_gap(data, pos, stop), "skipped"))
            pos = stop
            continue
        rows.append(rec.row)
        damage.extend(rec.damage)
        pos += length
    if data and not rows:
        raise NotBSMError(source, damage[0].reason)
    return DecodeResult(pa.Table.from_pylist(rows, schema=SCHEMA), damage, len(data))
