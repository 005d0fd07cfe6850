"""Read the fields of many tokens of one id at once into Arrow arrays.

Input: the offsets (and ends) of every token of one id in a chunk, in trail order.
Output: one array per layout field, plus a mask of tokens whose bytes the typed values
cannot reproduce exactly (they are also kept verbatim in ``raw_tokens``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.bsm import arrowcols as A
from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.bytesview import ByteView, ranges_index
from knox_analytics.bsm.walker import nul_positions

_UNIT_SIZES = np.array([T.DATA_UNIT_SIZES[u] for u in range(4)], dtype=np.int64)
_NUL = b"\x00"


@dataclass
class Extracted:
    """Field arrays of the tokens of one id; ``inexact`` marks tokens also kept raw."""

    columns: dict[str, pa.Array | np.ndarray]
    inexact: np.ndarray


def _str16(view: ByteView, pos: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """A u16-length-prefixed, NUL-terminated string field: (values, not-exact mask)."""
    n = view.read("u16", pos).astype(np.int64)
    start = pos + 2
    body = A.binary_spans(view, start, start + np.maximum(n - 1, 0))
    last = view.u8[np.maximum(start + n - 1, 0)]
    exact = (n >= 1) & (last == 0)
    if len(body):
        exact &= pc.equal(pc.find_substring(body, _NUL), -1).to_numpy(zero_copy_only=False)
    if not exact.all():
        body = _cut_at_nul(view, body, start, n, exact)
    values, bad_utf8 = A.to_utf8(body)
    return values, ~exact | bad_utf8


def _cut_at_nul(view: ByteView, body: pa.Array, start: np.ndarray, n: np.ndarray,
                exact: np.ndarray) -> pa.Array:
    """praudit prints a C string: all ``n`` bytes up to the first NUL, if any.  Rare."""
    values = body.to_pylist()
    for i in np.flatnonzero(~exact):
        s = int(start[i])
        values[i] = view.bytes_at(s, s + int(n[i])).split(_NUL, 1)[0]
    return pa.array(values, pa.binary())


def _strings(view: ByteView, pos: np.ndarray, end: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """exec args / env: u32 count, then that many NUL-terminated strings."""
    count = view.read("u32", pos).astype(np.int64)
    start = pos + 4
    nuls = nul_positions(view, start, end)  # exactly the terminators of every string
    str_starts = np.empty(len(nuls), dtype=np.int64)
    str_starts[1:] = nuls[:-1] + 1
    first = np.cumsum(count) - count
    has = count > 0
    str_starts[first[has]] = start[has]
    values, bad = A.to_utf8(A.binary_spans(view, str_starts, nuls))
    token_of_string = np.repeat(np.arange(len(pos)), count)
    inexact = np.zeros(len(pos), dtype=bool)
    inexact[token_of_string[bad]] = True
    offsets = np.zeros(len(pos) + 1, dtype=np.int32)
    np.cumsum(count, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values), inexact


def _u32list(view: ByteView, pos: np.ndarray) -> pa.Array:
    count = view.read("u16", pos).astype(np.int64)
    within = ranges_index(np.zeros(len(pos), dtype=np.int64), count)
    values = view.read("u32", np.repeat(pos + 2, count) + 4 * within)
    offsets = np.zeros(len(pos) + 1, dtype=np.int32)
    np.cumsum(count, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.uint32()))


def _sockaddrs(view: ByteView, pos: np.ndarray, cols: dict) -> np.ndarray:
    """socket_ex's address part; returns the offset just past it."""
    is_v6 = view.read("u16", pos) == T.AU_IPV6
    width = np.where(is_v6, 16, 4)
    cols["local_port"] = view.read("u16", pos + 2)
    cols["local_addr"] = A.typed_addr_strings(view, pos + 4, is_v6)
    rpos = pos + 4 + width
    cols["remote_port"] = view.read("u16", rpos)
    cols["remote_addr"] = A.typed_addr_strings(view, rpos + 2, is_v6)
    return rpos + 2 + width


_BLOCK_KINDS = {"u8": "u1", "u16": ">u2", "u32": ">u4", "u64": ">u8", "ip4": ">u4"}
_NATIVE = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64,
           "ip4": np.uint32}


def _fixed_prefix(layout: T.Layout) -> tuple[np.dtype, int]:
    """The leading fixed-size integer fields as one big-endian record dtype."""
    fields = []
    for kind, name in layout:
        if kind not in _BLOCK_KINDS:
            break
        fields.append((name, _BLOCK_KINDS[kind]))
    dtype = np.dtype(fields) if fields else np.dtype([])
    return dtype, len(fields)


_PREFIXES = {t.id: _fixed_prefix(t.layout) for t in T.TOKEN_TYPES}


def _read_prefix(view: ByteView, token_id: int, pos: np.ndarray,
                 cols: dict) -> tuple[int, int]:
    """Read the fixed prefix of every token in one row copy; returns (fields, bytes)."""
    dtype, nfields = _PREFIXES[token_id]
    if nfields < 2:  # one field: a plain gather is as cheap
        return 0, 0
    records = view.rows(pos + 1, dtype.itemsize).view(dtype).ravel()
    layout = T.TOKENS_BY_ID[token_id].layout
    for kind, name in layout[:nfields]:
        values = records[name].astype(_NATIVE[kind])
        cols[name] = A.ipv4_strings(values) if kind == "ip4" else values
    return nfields, dtype.itemsize


def extract(view: ByteView, token_id: int, pos: np.ndarray, end: np.ndarray) -> Extracted:
    """Decode every field of the tokens of ``token_id`` at ``pos`` (ending at ``end``)."""
    cols: dict[str, pa.Array | np.ndarray] = {}
    inexact = np.zeros(len(pos), dtype=bool)
    done, size = _read_prefix(view, token_id, pos, cols)
    cur = pos + 1 + size
    for kind, name in T.TOKENS_BY_ID[token_id].layout[done:]:
        if kind in ("u8", "u16", "u32", "u64"):
            cols[name] = view.read(kind, cur)
            cur = cur + T.FIXED_FIELD_SIZES[kind]
        elif kind == "ip4":
            cols[name] = A.ipv4_strings(view.read("u32", cur))
            cur = cur + 4
        elif kind == "ip6":
            cols[name] = A.ipv6_strings(view, cur)
            cur = cur + 16
        elif kind == "uuid":
            cols[name] = A.uuid_strings(view, cur)
            cur = cur + 16
        elif kind == "addr":
            is_v6 = view.read("u32", cur) == T.AU_IPV6
            cols[name] = A.typed_addr_strings(view, cur + 4, is_v6)
            cur = cur + 4 + np.where(is_v6, 16, 4)
        elif kind == "str16":
            cols[name], bad = _str16(view, cur)
            inexact |= bad
            cur = cur + 2 + view.read("u16", cur).astype(np.int64)
        elif kind == "bytes16":
            n = view.read("u16", cur).astype(np.int64)
            cols[name] = A.binary_spans(view, cur + 2, cur + 2 + n)
            cur = cur + 2 + n
        elif kind == "strings":
            cols[name], bad = _strings(view, cur, end)
            inexact |= bad
            cur = end
        elif kind == "u32list":
            cols[name] = _u32list(view, cur)
            cur = cur + 2 + 4 * view.read("u16", cur).astype(np.int64)
        elif kind == "data":
            size = _UNIT_SIZES[cols["unit"].astype(np.int64)] * cols["count"].astype(np.int64)
            cols[name] = A.binary_spans(view, cur, cur + size)
            cur = cur + size
        elif kind == "cstr":
            cols[name], bad = A.to_utf8(A.binary_spans(view, cur, end - 1))
            inexact |= bad
            cur = end
        elif kind == "sockaddrs":
            cur = _sockaddrs(view, cur, cols)
        else:  # pragma: no cover - tokens.py and this function are kept in step
            raise ValueError(f"unknown layout field kind {kind!r}")
    return Extracted(cols, inexact)
