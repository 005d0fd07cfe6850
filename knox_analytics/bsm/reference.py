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

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from knox_analytics.bsm import columns as C
from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.damage import Damage, explain_gap
from knox_analytics.bsm.result import DecodeResult
from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.bsm.tokenreader import Undecodable, read_strict
from knox_analytics.errors import NotBSMError
from knox_analytics.schema import SCHEMA

__all__ = ["Names", "Undecodable", "decode_reference", "names_from_tables", "read_token"]

RECORD_START_IDS = frozenset(T.HEADER_IDS)
TRAILER_MAGIC_BYTES = bytes([T.AUT_TRAILER]) + T.TRAILER_MAGIC.to_bytes(2, "big")


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
    if length < T.MIN_RECORD or pos + length > len(data):
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
    if data[pos] != T.AUT_OTHER_FILE32 or pos + T.FILE_TOKEN_FIXED > len(data):
        return None
    n = _u16(data, pos + 9)
    end = pos + T.FILE_TOKEN_FIXED + n
    if n < 1 or end > len(data) or data[end - 1] != 0:
        return None
    if end > next_record_start(data, pos):
        return None
    return T.FILE_TOKEN_FIXED + n


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


def read_token(data: bytes, pos: int, limit: int, *, inside: bool = True
               ) -> tuple[T.TokenType, dict[str, Any], int, bool]:
    """Read the token at ``pos``: (type, field values, end offset, canonical).

    The strict reader of :mod:`tokenreader`; canonical is False when the typed columns
    cannot reproduce the token byte for byte.  Raises :class:`Undecodable`.
    """
    tok, values, end, canonical = read_strict(data, pos, limit, inside=inside)
    return tok, values, end, canonical and _values_canonical(tok, values)


def _values_canonical(tok: T.TokenType, values: dict[str, Any]) -> bool:
    """Whether field values can be reproduced from the typed columns (see columns.py)."""
    if tok.group in C.TIMED_GROUPS:
        return bool(C.time_exact(values["sec"], values["msec"]))
    return all(values[f] in (0, 1) for f in C.BOOL_FIELDS.get(tok.id, ()))


# --- typed columns --------------------------------------------------------------------------


def _list_value(column: str, values: dict[str, Any]) -> Any:
    """The element a list-group token adds to its column."""
    if column in C.LIST_ELEMENT:
        return values[C.LIST_ELEMENT[column]]
    type_ = SCHEMA.field(column).type.value_type
    return {type_.field(i).name: values.get(type_.field(i).name)
            for i in range(type_.num_fields)}


def _converted(tok: T.TokenType, values: dict[str, Any]) -> dict[str, Any]:
    """Field values as the columns hold them: signed and boolean fields converted."""
    out = dict(values)
    for name, bits in C.SIGNED.get(tok.id, {}).items():
        out[name] = C.signed(values[name], bits)
    for name in C.BOOL_FIELDS.get(tok.id, ()):
        out[name] = values[name] != 0
    return out


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
        if tok.group in C.SINGLETON_GROUPS and tok.group in self.seen:
            self.add_raw(start, end, typed=False)  # a second subject, return, ...
            return
        self.seen.add(tok.group)
        if tok.group in C.ALWAYS_RAW:
            canonical = False
        if tok.group in C.FLAT_COLUMNS:
            self._set_flat(tok, _converted(tok, values))
        elif tok.group in C.STRUCT_SINGLETONS:
            self.row[tok.group] = _converted(tok, values)
        else:
            self.row.setdefault(tok.group, []).append(_list_value(tok.group, values))
        if not canonical:
            self.add_raw(start, end, typed=True)

    def _set_flat(self, tok: T.TokenType, values: dict[str, Any]) -> None:
        self.row.update({col: values[f] for f, col in C.FLAT_COLUMNS[tok.group].items()})
        if tok.group == "return":  # the errno's name and the success flag come with it
            errno = values["errno"]
            self.row.update(errno_name=self.names.errno_name(errno) if errno else None,
                            success=errno == 0)

    def add_undecodable(self, start: int, trailer: int, reason: str) -> None:
        """From ``start`` to the trailer: one raw token and a "raw" damage entry."""
        self.row["token_ids"].append(self.data[start])
        self.add_raw(start, trailer, typed=False)
        self.damage.append(Damage(self.source, self.base_offset + start, trailer - start,
                                  reason, "raw"))


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
    rec.row.update(time=C.time_ms(values["sec"], values["msec"]), host=values.get("host"))
    rec.row["token_ids"].append(tok.id)
    if not canonical:
        rec.add_raw(pos, end, typed=True)
    return end


def decode_file_token(data: bytes, pos: int, length: int, rec: RecordRow) -> None:
    """Fill ``rec`` with the stand-alone file token at ``pos``."""
    tok, values, _end, canonical = read_token(data, pos, pos + length, inside=False)
    rec.row.update(source=rec.source, offset=rec.base_offset + pos, length=length,
                   header_token=tok.id, time=C.time_ms(values["sec"], values["msec"]),
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
