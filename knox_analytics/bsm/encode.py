"""The BSM writer: token and record encoders, and a decoded table back to trail bytes.

Every token is written by one generic field writer that walks the token's layout in
:mod:`knox_analytics.bsm.tokens` (the single source of format facts); nothing here knows
a byte offset.  Example::

    >>> body = [encode_token("path", path="/bin/ls"),
    ...         encode_token("return32", errno=0, value=0)]
    >>> rec = encode_record(body, event=23, time_ms=1_772_355_600_000)
    >>> rec[:1].hex(), int.from_bytes(rec[1:5], "big") == len(rec)
    ('14', True)

:func:`table_to_trail` / :func:`write_trail` rebuild the exact original bytes of every row
of a table in :data:`knox_analytics.schema.SCHEMA` (the decoder's output): typed columns
for the tokens they describe, ``raw_tokens`` verbatim for the rest.
"""

from __future__ import annotations

import io
import ipaddress
import struct
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, BinaryIO

import pyarrow as pa

from knox_analytics.bsm import columns as C
from knox_analytics.bsm import tokens as T
from knox_analytics.errors import UsageError

__all__ = [
    "RecordEncoder",
    "encode_file_token",
    "encode_record",
    "encode_token",
    "table_to_trail",
    "write_trail",
]

_INT_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
_ADDR_TYPES = {4: T.AU_IPV4, 6: T.AU_IPV6}
_ADDR_LENGTHS = {T.AU_IPV4: 4, T.AU_IPV6: 16}
# socket_ex's "sockaddrs" field is filled from these four fields (fetch_socketex32_tok).
_SOCKADDR_FIELDS = ("local_port", "local_addr", "remote_port", "remote_addr")


# --- field writers -----------------------------------------------------------------------


def _uint(value: Any, size: int, name: str) -> bytes:
    """Big-endian unsigned integer; a negative value is written in two's complement
    (return32 -1 becomes 0xffffffff, as the kernel writes it)."""
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int):
        raise UsageError(f"field {name!r}: expected an integer, found {value!r}")
    bits = size * 8
    if not -(1 << (bits - 1)) <= value < (1 << bits):
        raise UsageError(f"field {name!r}: {value} does not fit in {bits} bits")
    return (value & ((1 << bits) - 1)).to_bytes(size, "big")


def _ip(value: Any, name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError as exc:
        raise UsageError(f"field {name!r}: expected an IPv4/IPv6 address, found "
                         f"{value!r}") from exc


def _ip_fixed(value: Any, version: int, name: str) -> bytes:
    addr = _ip(value, name)
    if addr.version != version:
        raise UsageError(f"field {name!r}: expected an IPv{version} address, found {value!r}")
    return addr.packed


def _addr(value: Any, name: str) -> bytes:
    """u32 address type (4 or 16) then the address bytes; the type follows the string."""
    addr = _ip(value, name)
    return _uint(_ADDR_TYPES[addr.version], 4, name) + addr.packed


def _text_bytes(value: Any, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise UsageError(f"field {name!r}: expected a string, found {value!r}")


def _str16(value: Any, name: str) -> bytes:
    """u16 length (NUL included) then the UTF-8 bytes and a NUL, as libbsm writes them."""
    data = _text_bytes(value, name) + b"\0"
    return _uint(len(data), 2, name) + data


def _bytes16(value: Any, name: str) -> bytes:
    """u16 length then raw bytes (opaque, cdhash): a str is refused, not guessed at."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise UsageError(f"field {name!r}: expected bytes, found {value!r}")
    return _uint(len(value), 2, name) + bytes(value)


def _strings(value: Any, name: str) -> bytes:
    """u32 count then each string NUL-terminated (exec_args / exec_env)."""
    if isinstance(value, str | bytes):
        raise UsageError(f"field {name!r}: expected a list of strings, found {value!r}")
    items = [_text_bytes(v, name) for v in value]
    return _uint(len(items), 4, name) + b"".join(s + b"\0" for s in items)


def _u32list(value: Any, name: str) -> bytes:
    items = list(value)
    return _uint(len(items), 2, name) + b"".join(_uint(v, 4, name) for v in items)


def _cstr(value: Any, name: str) -> bytes:
    """sock_unix path: NUL-terminated, at most sizeof(sun_path) bytes with the NUL."""
    data = _text_bytes(value, name) + b"\0"
    if len(data) > T.SOCKUNIX_PATH_MAX:
        raise UsageError(f"field {name!r}: {len(data)} bytes with its NUL, at most "
                         f"{T.SOCKUNIX_PATH_MAX} fit in a sock_unix token")
    return data


def _uuid(value: Any, name: str) -> bytes:
    try:
        return uuid.UUID(str(value)).bytes
    except ValueError as exc:
        raise UsageError(f"field {name!r}: expected a UUID string, found {value!r}") from exc


_SIMPLE_WRITERS: dict[str, Callable[[Any, str], bytes]] = {
    "ip4": lambda v, n: _ip_fixed(v, 4, n),
    "ip6": lambda v, n: _ip_fixed(v, 6, n),
    "addr": _addr,
    "str16": _str16,
    "bytes16": _bytes16,
    "strings": _strings,
    "u32list": _u32list,
    "cstr": _cstr,
    "uuid": _uuid,
}


def _data_values(fields: Mapping[str, Any], name: str) -> bytes:
    """The data token's values: unit size x count bytes, written verbatim (host order)."""
    raw = _text_bytes(_need(fields, name), name)
    unit, count = fields.get("unit"), fields.get("count")
    size = T.DATA_UNIT_SIZES.get(unit)  # type: ignore[arg-type]
    if size is None:
        raise UsageError(f"data token: unknown unit {unit!r} (expected one of "
                         f"{sorted(T.DATA_UNIT_SIZES)})")
    if len(raw) != size * count:
        raise UsageError(f"data token: {count} values of {size} bytes need {size * count} "
                         f"bytes of {name!r}, found {len(raw)}")
    return raw


def _sockaddrs(fields: Mapping[str, Any]) -> bytes:
    """socket_ex addresses: u16 type (4/16, from the address strings), local port and
    address, remote port and address."""
    local = _ip(_need(fields, "local_addr"), "local_addr")
    remote = _ip(_need(fields, "remote_addr"), "remote_addr")
    if local.version != remote.version:
        raise UsageError(f"socket_ex: local {local} and remote {remote} must be the same "
                         "address family")
    return (_uint(_ADDR_TYPES[local.version], 2, "addrs")
            + _uint(_need(fields, "local_port"), 2, "local_port") + local.packed
            + _uint(_need(fields, "remote_port"), 2, "remote_port") + remote.packed)


def _need(fields: Mapping[str, Any], name: str) -> Any:
    value = fields.get(name)
    if value is None:
        raise UsageError(f"missing field {name!r}")
    return value


def _field_names(tt: T.TokenType) -> set[str]:
    names = {name for kind, name in tt.layout if kind != "sockaddrs"}
    if any(kind == "sockaddrs" for kind, _ in tt.layout):
        names.update(_SOCKADDR_FIELDS)
    return names


def _encode(tt: T.TokenType, fields: Mapping[str, Any]) -> bytes:
    """Walk the layout of ``tt`` and write each field from ``fields`` (extra keys ignored)."""
    out = [bytes([tt.id])]
    for kind, name in tt.layout:
        try:
            if kind in _INT_SIZES:
                out.append(_uint(_need(fields, name), _INT_SIZES[kind], name))
            elif kind == "data":
                out.append(_data_values(fields, name))
            elif kind == "sockaddrs":
                out.append(_sockaddrs(fields))
            else:
                out.append(_SIMPLE_WRITERS[kind](_need(fields, name), name))
        except UsageError as exc:
            raise UsageError(f"{tt.name} (0x{tt.id:02x}): {exc}") from None
    return b"".join(out)


def _token_type(name_or_id: str | int) -> T.TokenType:
    tt = (T.TOKENS_BY_ID.get(name_or_id) if isinstance(name_or_id, int)
          else T.TOKENS_BY_NAME.get(name_or_id))
    if tt is None:
        raise UsageError(f"unknown token {name_or_id!r}: expected a name or id from "
                         "knox_analytics.bsm.tokens")
    return tt


# --- public token / record API -----------------------------------------------------------


def encode_token(name_or_id: str | int, /, **fields: Any) -> bytes:
    """Encode one token from its fields, named as in its layout in ``tokens.py``.

    Integers are big-endian (negative values in two's complement); ``addr`` fields take an
    IPv4 or IPv6 string and write address type 4 or 16; ``str16`` takes a str (UTF-8, NUL
    appended); exec args/env take a list of str; ``uuid`` a canonical UUID string;
    ``socket_ex`` takes domain, type, local_addr, local_port, remote_addr, remote_port.

    Example: ``encode_token("path", path="/bin/ls") == b"\\x23\\x00\\x08/bin/ls\\x00"``.
    Raises :class:`UsageError` for an unknown token, a missing, unknown or out-of-range field.
    """
    tt = _token_type(name_or_id)
    unknown = set(fields) - _field_names(tt)
    if unknown:
        raise UsageError(f"{tt.name} (0x{tt.id:02x}): unknown field(s) {sorted(unknown)}; "
                         f"expected {sorted(_field_names(tt))}")
    return _encode(tt, fields)


def _header_size(tt: T.TokenType, host: str | None) -> int:
    size = 1
    for kind, _name in tt.layout:
        if kind == "addr":
            size += 4 + len(_ip(host, "host").packed)
        else:
            size += T.FIXED_FIELD_SIZES[kind]
    return size


def _header_type(header: str, host: str | None) -> T.TokenType:
    """The header token type ``header``, checked against ``host`` (only _ex kinds take one)."""
    tt = _token_type(header)
    if tt.group != "header":
        raise UsageError(f"encode_record: {header!r} is not a header token")
    has_host = any(kind == "addr" for kind, _ in tt.layout)
    if has_host != (host is not None):
        need = "needs a host address" if has_host else "takes no host (use header32_ex)"
        raise UsageError(f"encode_record: {header} {need}")
    return tt


def encode_record(body: Sequence[bytes], *, event: int, time_ms: int, modifier: int = 0,
                  header: str = "header32", host: str | None = None,
                  version: int = 11) -> bytes:
    """Header + body tokens + trailer, with the record length in header and trailer.

    ``header`` is one of header32 / header32_ex / header64 / header64_ex; the ``_ex`` kinds
    need ``host`` (IPv4 or IPv6).  Example::

        encode_record([encode_token("text", text="hi")], event=45000, time_ms=0)
    """
    tt = _header_type(header, host)
    length = _header_size(tt, host) + sum(len(b) for b in body) + T.TRAILER_SIZE
    sec, msec = divmod(time_ms, 1000)
    head = _encode(tt, {"length": length, "version": version, "event": event,
                        "modifier": modifier, "host": host, "sec": sec, "msec": msec})
    return b"".join([head, *body, _encode_trailer(length)])


_STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}


class RecordEncoder:
    """:func:`encode_record` for one header kind and host, compiled to one ``struct`` per
    header and trailer: for writers of many records (the workload simulator writes
    millions).  Same bytes and same errors as :func:`encode_record`.  Example::

        enc = RecordEncoder("header32_ex", host="192.168.1.23")
        enc.encode([encode_token("text", text="hi")], event=45000, time_ms=0)
    """

    def __init__(self, header: str = "header32", host: str | None = None,
                 version: int = 11) -> None:
        self.type = _header_type(header, host)
        self.header, self.host, self.version = header, host, version
        self._host = _addr(host, "host") if host is not None else b""
        self._names = [name for _kind, name in self.type.layout]
        self._head = struct.Struct(">B" + "".join(
            f"{len(self._host)}s" if kind == "addr" else _STRUCT_CODES[kind]
            for kind, _name in self.type.layout))
        trailer = T.TOKENS_BY_ID[T.AUT_TRAILER]
        self._trailer = struct.Struct(">B" + "".join(_STRUCT_CODES[k] for k, _ in trailer.layout))

    def encode(self, body: Sequence[bytes], *, event: int, time_ms: int,
               modifier: int = 0) -> bytes:
        """The record's bytes: header, ``body`` (encoded tokens), trailer."""
        data = b"".join(body)
        length = self._head.size + len(data) + T.TRAILER_SIZE
        sec, msec = divmod(time_ms, 1000)
        values = {"length": length, "version": self.version, "event": event,
                  "modifier": modifier, "host": self._host, "sec": sec, "msec": msec}
        try:
            head = self._head.pack(self.type.id, *[values[n] for n in self._names])
            tail = self._trailer.pack(T.AUT_TRAILER, T.TRAILER_MAGIC, length)
        except struct.error:  # out of range, negative, not an int: as encode_record says
            return encode_record(body, event=event, time_ms=time_ms, modifier=modifier,
                                 header=self.header, host=self.host, version=self.version)
        return head + data + tail


def _encode_trailer(length: int) -> bytes:
    return _encode(T.TOKENS_BY_ID[T.AUT_TRAILER], {"magic": T.TRAILER_MAGIC, "length": length})


def encode_file_token(name: str, time_ms: int) -> bytes:
    """The stand-alone file token (0x11) auditd writes at the start and end of a trail.

    Example: ``encode_file_token("20260301090000.not_terminated", 1_772_355_600_000)``.
    """
    sec, msec = divmod(time_ms, 1000)
    return _encode(T.TOKENS_BY_ID[T.AUT_OTHER_FILE32], {"sec": sec, "msec": msec, "name": name})


# --- a decoded table back to trail bytes ---------------------------------------------------

#: Every column a row is rebuilt from (``time`` is read apart: it may need a cast).
_ROW_COLUMNS = ("source", "offset", "header_token", "token_ids", "raw_tokens",
                *dict.fromkeys(c for g in C.ROW_COLUMNS.values() for c in g.values()),
                *C.STRUCT_SINGLETONS, *C.LIST_GROUPS)


class _Batch:
    """The columns of one record batch as Python lists, converted once per batch."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        missing = [c for c in (*_ROW_COLUMNS, "time") if c not in batch.schema.names]
        if missing:
            raise UsageError(f"table_to_trail: the table lacks column(s) {missing}; "
                             "expected knox_analytics.schema.SCHEMA")
        self.cols = {c: batch.column(c).to_pylist() for c in _ROW_COLUMNS}
        # time as integer ms since the epoch (no datetime round trip); a table that went
        # through another engine may carry another unit (polars/Spark use microseconds)
        time = batch.column("time").cast(pa.timestamp("ms", tz="UTC"))
        self.cols["time"] = time.cast(pa.int64()).to_pylist()
        self.num_rows = batch.num_rows

    def where(self, i: int) -> str:
        """Row ``i`` named for an error message: its source and byte offset."""
        return f"{self.cols['source'][i]}: record at byte {self.cols['offset'][i]}"


class _RowWriter:
    """Rebuilds the bytes of row ``i``: raw tokens verbatim, the others from columns."""

    def __init__(self, batch: _Batch, i: int) -> None:
        self.b, self.i = batch, i
        self.cursors: dict[str, int] = {}

    def col(self, name: str) -> Any:
        return self.b.cols[name][self.i]

    def header_fields(self, length: int) -> dict[str, Any]:
        ms = self.col("time")
        sec, msec = divmod(ms, 1000) if ms is not None else (None, None)
        fields = {f: self.col(c) for f, c in C.HEADER_COLUMNS.items()}
        return {**fields, "length": length, "sec": sec, "msec": msec,
                "magic": T.TRAILER_MAGIC}

    def next_element(self, group: str) -> Any:
        """The next unused element of list column ``group``."""
        n = self.cursors.get(group, 0)
        values = self.col(group) or []
        if n >= len(values):
            raise UsageError(f"column {group!r} has {len(values)} element(s), token "
                             f"#{n + 1} of that kind needs one more")
        self.cursors[group] = n + 1
        return values[n]

    def fields(self, tt: T.TokenType, length: int) -> Mapping[str, Any]:
        """The field values of one token that is not kept raw."""
        if tt.group in ("header", "trailer"):
            return self.header_fields(length)
        if tt.group in C.LIST_ELEMENT:
            return {C.LIST_ELEMENT[tt.group]: self.next_element(tt.group)}
        if tt.group in C.LIST_GROUPS:
            return self.next_element(tt.group) or {}
        if tt.group in C.STRUCT_SINGLETONS:
            return self.col(tt.group) or {}
        fields = {f: self.col(c) for f, c in C.FLAT_COLUMNS[tt.group].items()}
        if tt.group in C.TIMED_GROUPS:  # a file token carries the time of the row
            fields.update(self.header_fields(length))
        return fields

    def skip_typed_raw(self, tid: int) -> None:
        """A raw token that is ALSO in the typed columns used up one list element."""
        tt = T.TOKENS_BY_ID.get(tid)
        if tt is not None and tt.group in C.LIST_GROUPS:
            self.next_element(tt.group)

    def tokens(self, length: int) -> list[bytes]:
        """Every token of the row, in token_ids order."""
        raw = {r["index"]: r for r in self.col("raw_tokens") or ()}
        out = []
        for index, tid in enumerate(self.col("token_ids") or ()):
            r = raw.get(index)
            if r is not None:
                out.append(r["data"])
                if r["typed"]:
                    self.skip_typed_raw(tid)
                continue
            tt = T.TOKENS_BY_ID.get(tid)
            if tt is None:
                raise UsageError(f"token #{index} has unknown id 0x{tid:02x} and no raw "
                                 "bytes in raw_tokens")
            out.append(_encode(tt, self.fields(tt, length)))
        return out

    def encode(self) -> bytes:
        """The row's bytes; a null ``length`` is computed (e.g. after editing a table)."""
        try:
            length = self.col("length")
            data = b"".join(self.tokens(length or 0))
            if length is None:
                self.cursors.clear()
                length = len(data)
                data = b"".join(self.tokens(length))
        except UsageError as exc:
            raise UsageError(f"{self.b.where(self.i)}: cannot rebuild: {exc}") from None
        if len(data) != length:
            raise UsageError(f"{self.b.where(self.i)}: rebuilt {len(data)} bytes, the length "
                             f"column says {length}")
        return data


def _batches(table_or_batches: Any) -> Iterable[pa.RecordBatch]:
    if isinstance(table_or_batches, pa.Table):
        yield from table_or_batches.to_batches()
        return
    if isinstance(table_or_batches, pa.RecordBatch):
        yield table_or_batches
        return
    for item in table_or_batches:
        yield from _batches(item)


def write_trail(table_or_batches: pa.Table | pa.RecordBatch | Iterable[Any],
                out: BinaryIO) -> int:
    """Write the records of a decoded table (or record batches) to ``out``; return the
    number of bytes written.

    Each row becomes the exact bytes it was decoded from: tokens listed in ``raw_tokens``
    verbatim, every other token re-encoded from the typed columns, in ``token_ids`` order.
    Example: ``write_trail(decode_bytes(data).table, sys.stdout.buffer)``.
    Raises :class:`UsageError` naming the row's source and offset when a row cannot be
    rebuilt (a missing value, a length that does not add up).
    """
    written = 0
    for batch in _batches(table_or_batches):
        cols = _Batch(batch)
        for i in range(cols.num_rows):
            written += out.write(_RowWriter(cols, i).encode())
    return written


def table_to_trail(table: pa.Table | pa.RecordBatch | Iterable[Any]) -> bytes:
    """The trail bytes of a decoded table: ``decode(table_to_trail(t))`` gives ``t`` again
    and ``table_to_trail(decode(data).table) == data`` for undamaged ``data``.

    Example: ``table_to_trail(decode_reference(data).table) == data``.
    """
    buf = io.BytesIO()
    write_trail(table, buf)
    return buf.getvalue()
