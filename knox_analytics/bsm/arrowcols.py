"""Build Arrow arrays straight from spans of a chunk buffer, with no per-value Python.

Strings are cut out of the chunk by offsets; addresses are formatted once per *distinct*
value (a trail has few terminals and hosts) and spread back with a take.
"""

from __future__ import annotations

import socket

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.bsm.bytesview import ByteView, ranges_index


def binary_spans(view: ByteView, starts: np.ndarray, stops: np.ndarray) -> pa.Array:
    """A BinaryArray of ``chunk[starts[i]:stops[i]]``.

    Spans must be ascending and disjoint (tokens of one kind, in trail order): then an
    array over the whole chunk whose elements alternate span / gap has monotonic offsets,
    and taking the even elements copies just the spans, in C++.
    """
    m = len(starts)
    if m == 0:
        return pa.array([], pa.binary())
    offsets = np.empty(2 * m, dtype=np.int64)
    offsets[0::2] = starts
    offsets[1::2] = stops
    if np.any(offsets[1:] < offsets[:-1]):  # not in trail order: gather bytes instead
        return _binary_by_gather(view, starts, stops)
    if view.n < (1 << 31) - 1:  # a chunk: int32 offsets, no copy to narrow them later
        over = pa.BinaryArray.from_buffers(
            pa.binary(), 2 * m - 1,
            [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(view.u8)])
        return pc.take(over, pa.array(np.arange(0, 2 * m, 2)))
    big = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), 2 * m - 1, [None, pa.py_buffer(offsets), pa.py_buffer(view.u8)]
    )
    return pc.take(big, pa.array(np.arange(0, 2 * m, 2))).cast(pa.binary())


def _binary_by_gather(view: ByteView, starts: np.ndarray, stops: np.ndarray) -> pa.Array:
    lengths = (stops - starts).astype(np.int64)
    data = view.u8[ranges_index(starts, lengths)]
    offsets = np.zeros(len(starts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.BinaryArray.from_buffers(
        pa.binary(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def holds_nul(binary: pa.Array) -> np.ndarray:
    """Which values of a BinaryArray contain a NUL byte: one numpy pass over its data
    buffer (far cheaper than a substring search per value)."""
    out = np.zeros(len(binary), dtype=bool)
    _validity, offsets, data = binary.buffers()
    if data is None or not len(binary):
        return out
    offs = np.frombuffer(offsets, dtype=np.int32)[binary.offset:binary.offset + len(binary) + 1]
    nuls = np.flatnonzero(np.frombuffer(data, dtype=np.uint8)[offs[0]:offs[-1]] == 0)
    if len(nuls):
        out[np.searchsorted(offs, nuls + offs[0], side="right") - 1] = True
    return out


def to_utf8(binary: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Cast to string; values that are not UTF-8 get backslash escapes and are flagged."""
    try:
        return binary.cast(pa.string()), np.zeros(len(binary), dtype=bool)
    except pa.ArrowInvalid:
        pass
    # Rare path (a path or argument that is not UTF-8): decode value by value.
    values = binary.to_pylist()
    bad = np.zeros(len(values), dtype=bool)
    out: list[str | None] = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        try:
            out.append(v.decode("utf-8"))
        except UnicodeDecodeError:
            bad[i] = True
            out.append(v.decode("utf-8", errors="backslashreplace"))
    return pa.array(out, pa.string()), bad


def _spread(distinct: list[str], indices: pa.Array) -> pa.Array:
    return pc.take(pa.array(distinct, pa.string()), indices)


def ipv4_strings(values: np.ndarray) -> pa.Array:
    """Dotted-quad strings for big-endian u32 addresses."""
    if len(values) == 0:
        return pa.array([], pa.string())
    enc = pc.dictionary_encode(pa.array(values.astype(np.uint32)))
    distinct = [socket.inet_ntoa(int(v).to_bytes(4, "big")) for v in enc.dictionary.to_pylist()]
    return _spread(distinct, enc.indices)


def ipv6_strings(view: ByteView, pos: np.ndarray) -> pa.Array:
    """inet_ntop(AF_INET6) strings for the 16 address bytes at each offset."""
    if len(pos) == 0:
        return pa.array([], pa.string())
    raw = np.stack([view.read("u64", pos), view.read("u64", pos + 8)], axis=1).astype(">u8")
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(pos), [None, pa.py_buffer(raw.tobytes())]
    )
    enc = pc.dictionary_encode(fixed)
    distinct = [socket.inet_ntop(socket.AF_INET6, b) for b in enc.dictionary.to_pylist()]
    return _spread(distinct, enc.indices)


def typed_addr_strings(view: ByteView, pos: np.ndarray, is_v6: np.ndarray) -> pa.Array:
    """Addresses whose width (4 or 16 bytes) varies per value."""
    out_idx = np.empty(len(pos), dtype=np.int64)
    v4 = ipv4_strings(view.read("u32", pos[~is_v6]))
    v6 = ipv6_strings(view, pos[is_v6])
    out_idx[~is_v6] = np.arange(len(v4))
    out_idx[is_v6] = len(v4) + np.arange(len(v6))
    both = pa.concat_arrays([v4, v6]) if len(v6) else v4
    return pc.take(both, pa.array(out_idx)) if len(v6) else both


def uuid_strings(view: ByteView, pos: np.ndarray) -> pa.Array:
    """Canonical 8-4-4-4-12 strings of 16 big-endian UUID bytes."""
    values = []
    for p in pos.tolist():  # rare token: a plain loop is clearer than vector tricks
        h = view.bytes_at(p, p + 16).hex()
        values.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return pa.array(values, pa.string())


def list_array(counts: np.ndarray, values: pa.Array, list_type: pa.DataType,
               empty_is_null: bool = True) -> pa.Array:
    """A list column: row i holds the next ``counts[i]`` values; zero counts are null
    (or empty lists with ``empty_is_null=False``)."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    mask = pa.array(counts == 0) if empty_is_null else None
    arr = pa.ListArray.from_arrays(pa.array(offsets), values, mask=mask)
    return arr.cast(list_type) if arr.type != list_type else arr
