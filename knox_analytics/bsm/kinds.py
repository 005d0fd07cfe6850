"""One home per field kind: how far a field reaches, and what it holds.

The token layouts in :mod:`knox_analytics.bsm.tokens` name a *kind* for every field
(``u32``, ``str16``, ``addr``, ...).  Each kind is described once here, with both things
the decoder needs to know about it, side by side:

* ``skip``: where the field ends and whether it is well formed -- used by the walker
  (:mod:`walker`) to find token boundaries;
* ``read``: its values as an array -- used by the extractor (:mod:`extract`).

Both work on every token of one id in a chunk at once (numpy over arrays of offsets).
So a layout fact (the u16 length of a ``str16`` counts its NUL; an ``addr`` is a u32 type
then 4 or 16 bytes) is written in one place, and the walker and the extractor cannot
disagree on where a field ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from knox_analytics.bsm import arrowcols as A
from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.bytesview import ByteView, ranges_index
from knox_analytics.bsm.nuls import NulIndex, nth_end

_UNIT_SIZES = np.array([T.DATA_UNIT_SIZES[u] for u in range(4)], dtype=np.int64)
_NUL = b"\x00"


@dataclass
class Walking:
    """What :meth:`Kind.skip` sees: tokens at ``tok``, this field at ``cur``."""

    view: ByteView
    tok: np.ndarray
    limit: np.ndarray  # where each token's record trailer starts
    ok: np.ndarray  # cleared where a field is malformed
    nuls: NulIndex | None = None  # count NULs by index instead of scanning


@dataclass
class Reading:
    """What :meth:`Kind.read` sees: tokens ending at ``end``; values go to ``cols``."""

    view: ByteView
    end: np.ndarray
    cols: dict[str, pa.Array | np.ndarray]
    inexact: np.ndarray  # set where the typed values cannot give back the bytes


class Kind:
    """A field kind; ``size`` is its byte count when fixed."""

    size: int | None = None

    def skip(self, w: Walking, cur: np.ndarray) -> np.ndarray:
        """Offsets just past the field starting at each ``cur``."""
        return cur + self.size

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        """Put the field's values in ``r.cols[name]``; return offsets past it."""
        raise NotImplementedError


class Unsigned(Kind):
    """u8 .. u64: an unsigned big-endian integer."""

    def __init__(self, kind: str) -> None:
        self.kind, self.size = kind, T.FIXED_FIELD_SIZES[kind]

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        r.cols[name] = r.view.read(self.kind, cur)
        return cur + self.size


class IPv4(Kind):
    """4 address bytes in network order, as a dotted quad."""

    size = 4

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        r.cols[name] = A.ipv4_strings(r.view.read("u32", cur))
        return cur + 4


class IPv6(Kind):
    size = 16

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        r.cols[name] = A.ipv6_strings(r.view, cur)
        return cur + 16


class UUID(Kind):
    size = 16

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        r.cols[name] = A.uuid_strings(r.view, cur)
        return cur + 16


def _at(w: Walking, cur: np.ndarray) -> np.ndarray:
    """Where to read a length/type field: a malformed earlier field may point past
    the data."""
    return np.minimum(cur, w.view.n)


class TypedAddress(Kind):
    """``addr``: u32 address type (4 or 16), then that many address bytes."""

    def skip(self, w: Walking, cur: np.ndarray) -> np.ndarray:
        atype = w.view.read("u32", _at(w, cur))
        w.ok &= (atype == T.AU_IPV4) | (atype == T.AU_IPV6)
        return cur + 4 + np.where(atype == T.AU_IPV6, 16, 4)

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        is_v6 = r.view.read("u32", cur) == T.AU_IPV6
        r.cols[name] = A.typed_addr_strings(r.view, cur + 4, is_v6)
        return cur + 4 + np.where(is_v6, 16, 4)


class Counted(Kind):
    """``str16`` / ``bytes16``: a u16 length n, then n bytes (a string's n counts its
    NUL)."""

    def __init__(self, text: bool) -> None:
        self.text = text

    def skip(self, w: Walking, cur: np.ndarray) -> np.ndarray:
        return cur + 2 + w.view.read("u16", _at(w, cur)).astype(np.int64)

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        n = r.view.read("u16", cur).astype(np.int64)
        if self.text:
            r.cols[name], bad = _c_strings(r.view, cur + 2, n)
            r.inexact |= bad
        else:
            r.cols[name] = A.binary_spans(r.view, cur + 2, cur + 2 + n)
        return cur + 2 + n


def _c_strings(view: ByteView, start: np.ndarray, n: np.ndarray) -> tuple[pa.Array,
                                                                          np.ndarray]:
    """NUL-terminated strings of ``n`` bytes (NUL included): (values, not-exact mask)."""
    body = A.binary_spans(view, start, start + np.maximum(n - 1, 0))
    last = view.u8[np.maximum(start + n - 1, 0)]
    exact = (n >= 1) & (last == 0)
    exact &= ~A.holds_nul(body)
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


class Strings(Kind):
    """``strings``: u32 count, then that many NUL-terminated strings (exec args/env)."""

    def skip(self, w: Walking, cur: np.ndarray) -> np.ndarray:
        count = w.view.read("u32", _at(w, cur))
        start = cur + 4
        # Only look for NULs where the strings could be: before the trailer.
        end, found = nth_end(w.view, np.minimum(start, w.limit), w.limit, count, w.nuls)
        w.ok &= found & (start <= w.limit)
        return end

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        # The walker ended each token just past its count-th NUL, so the tokens' string
        # bytes, copied back to back, are exactly "string NUL string NUL ...": every NUL
        # ends a string, and dropping the NULs leaves the strings' bytes.
        view, end = r.view, r.end
        count = view.read("u32", cur).astype(np.int64)
        body = A.binary_spans(view, cur + 4, end)
        _validity, _offsets, buf = body.buffers()
        data = np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, np.uint8)
        data = data[:int(np.sum(end - cur - 4))]
        is_nul = data == 0
        nuls = np.flatnonzero(is_nul)
        offsets = np.zeros(len(nuls) + 1, dtype=np.int32)
        offsets[1:] = nuls - np.arange(len(nuls))  # string ends, NULs dropped
        strings = pa.BinaryArray.from_buffers(
            pa.binary(), len(nuls), [None, pa.py_buffer(offsets),
                                     pa.py_buffer(data[~is_nul])])
        values, bad = A.to_utf8(strings)
        token_of_string = np.repeat(np.arange(len(cur)), count)
        r.inexact[token_of_string[bad]] = True
        lists = np.zeros(len(cur) + 1, dtype=np.int32)
        np.cumsum(count, out=lists[1:])
        r.cols[name] = pa.ListArray.from_arrays(pa.array(lists), values)
        return end


class U32List(Kind):
    """``u32list``: u16 count, then that many u32 values (newgroups)."""

    def skip(self, w: Walking, cur: np.ndarray) -> np.ndarray:
        return cur + 2 + 4 * w.view.read("u16", _at(w, cur)).astype(np.int64)

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        count = r.view.read("u16", cur).astype(np.int64)
        within = ranges_index(np.zeros(len(cur), dtype=np.int64), count)
        values = r.view.read("u32", np.repeat(cur + 2, count) + 4 * within)
        offsets = np.zeros(len(cur) + 1, dtype=np.int32)
        np.cumsum(count, out=offsets[1:])
        r.cols[name] = pa.ListArray.from_arrays(pa.array(offsets),
                                                pa.array(values, pa.uint32()))
        return cur + 2 + 4 * count


class DataValues(Kind):
    """``data``: the data token's values, unit size x count bytes (both read earlier
    in the token: id, print_how, unit, count)."""

    def skip(self, w: Walking, cur: np.ndarray) -> np.ndarray:
        unit = w.view.u8[np.minimum(w.tok + 2, w.view.n)].astype(np.int64)
        count = w.view.u8[np.minimum(w.tok + 3, w.view.n)].astype(np.int64)
        w.ok &= unit < len(_UNIT_SIZES)
        return cur + _UNIT_SIZES[np.minimum(unit, 3)] * count

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        size = (_UNIT_SIZES[r.cols["unit"].astype(np.int64)]
                * r.cols["count"].astype(np.int64))
        r.cols[name] = A.binary_spans(r.view, cur, cur + size)
        return cur + size


class UnixPath(Kind):
    """``cstr``: a NUL-terminated string of at most 104 bytes (sock_unix)."""

    def skip(self, w: Walking, cur: np.ndarray) -> np.ndarray:
        end, found = nth_end(w.view, np.minimum(cur, w.limit),
                             np.minimum(cur + T.SOCKUNIX_PATH_MAX, w.limit),
                             np.ones(len(cur), dtype=np.int64), w.nuls)
        w.ok &= found
        return end

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        r.cols[name], bad = A.to_utf8(A.binary_spans(r.view, cur, r.end - 1))
        r.inexact |= bad
        return r.end


class SocketAddresses(Kind):
    """``sockaddrs`` (socket_ex): u16 address type (4/16), u16 local port, local
    address, u16 remote port, remote address -- praudit's fetch_socketex32_tok."""

    def skip(self, w: Walking, cur: np.ndarray) -> np.ndarray:
        atype = w.view.read("u16", _at(w, cur))
        w.ok &= (atype == T.AU_IPV4) | (atype == T.AU_IPV6)
        width = np.where(atype == T.AU_IPV6, 16, 4)
        return cur + 2 + 2 + width + 2 + width

    def read(self, r: Reading, cur: np.ndarray, name: str) -> np.ndarray:
        view, cols = r.view, r.cols
        is_v6 = view.read("u16", cur) == T.AU_IPV6
        width = np.where(is_v6, 16, 4)
        cols["local_port"] = view.read("u16", cur + 2)
        cols["local_addr"] = A.typed_addr_strings(view, cur + 4, is_v6)
        rpos = cur + 4 + width
        cols["remote_port"] = view.read("u16", rpos)
        cols["remote_addr"] = A.typed_addr_strings(view, rpos + 2, is_v6)
        return rpos + 2 + width


#: Every field kind of :mod:`tokens`' layouts.
KINDS: dict[str, Kind] = {
    **{k: Unsigned(k) for k in ("u8", "u16", "u32", "u64")},
    "ip4": IPv4(), "ip6": IPv6(), "uuid": UUID(), "addr": TypedAddress(),
    "str16": Counted(text=True), "bytes16": Counted(text=False), "strings": Strings(),
    "u32list": U32List(), "data": DataValues(), "cstr": UnixPath(),
    "sockaddrs": SocketAddresses(),
}
