"""Walk token layouts for many tokens of one id at once: where each token ends, and
whether it is well formed.

The layouts in :mod:`knox_analytics.bsm.tokens` are interpreted here field by field, with
one numpy operation per field over all tokens; nothing here knows a token by name.
"""

from __future__ import annotations

import numpy as np

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.bytesview import ByteView, ranges_index

_UNIT_SIZES = np.array([T.DATA_UNIT_SIZES[u] for u in range(4)], dtype=np.int64)


def nth_nul_end(view: ByteView, start: np.ndarray, stop: np.ndarray,
                count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position just past the ``count``-th NUL at or after ``start`` (before ``stop``).

    The spans ``[start, stop)`` must be disjoint and ascending.  Returns (end, ok); ok is
    False where fewer than ``count`` NULs lie in the span.
    """
    count = count.astype(np.int64)
    span = np.maximum(stop - start, 0)
    idx = ranges_index(start, span)
    nuls = idx[view.u8[idx] == 0]
    first = np.searchsorted(nuls, start)
    last = first + count - 1
    in_span_end = np.searchsorted(nuls, stop)
    ok = (count == 0) | (last < in_span_end)
    safe_last = np.clip(last, 0, max(len(nuls) - 1, 0))
    end = np.where(count == 0, start, nuls[safe_last] + 1 if len(nuls) else start)
    return end, ok


def _advance(view: ByteView, kind: str, tok: np.ndarray, cur: np.ndarray,
             limit: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Move ``cur`` past one field; clear ``ok`` where the field is malformed."""
    if kind in T.FIXED_FIELD_SIZES:
        return cur + T.FIXED_FIELD_SIZES[kind]
    rd = np.minimum(cur, view.n)  # a malformed earlier field may point past the data
    if kind == "addr":
        atype = view.read("u32", rd)
        ok &= (atype == T.AU_IPV4) | (atype == T.AU_IPV6)
        return cur + 4 + np.where(atype == T.AU_IPV6, 16, 4)
    if kind in ("str16", "bytes16"):
        return cur + 2 + view.read("u16", rd).astype(np.int64)
    if kind == "u32list":
        return cur + 2 + 4 * view.read("u16", rd).astype(np.int64)
    if kind == "sockaddrs":
        atype = view.read("u16", rd)
        ok &= (atype == T.AU_IPV4) | (atype == T.AU_IPV6)
        width = np.where(atype == T.AU_IPV6, 16, 4)
        return cur + 2 + 2 + width + 2 + width
    if kind == "data":
        unit = view.u8[np.minimum(tok + 2, view.n)].astype(np.int64)
        count = view.u8[np.minimum(tok + 3, view.n)].astype(np.int64)
        ok &= unit < len(_UNIT_SIZES)
        return cur + _UNIT_SIZES[np.minimum(unit, 3)] * count
    if kind == "strings":
        count = view.read("u32", rd)
        start = cur + 4
        # Only look for NULs where the strings could be: before the trailer.
        end, found = nth_nul_end(view, np.minimum(start, limit), limit, count)
        ok &= found & (start <= limit)
        return end
    if kind == "cstr":
        end, found = nth_nul_end(view, np.minimum(cur, limit),
                                 np.minimum(cur + T.SOCKUNIX_PATH_MAX, limit),
                                 np.ones(len(cur), dtype=np.int64))
        ok &= found
        return end
    raise ValueError(f"unknown layout field kind {kind!r}")


def walk(view: ByteView, token_id: int, pos: np.ndarray,
         limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """End offset and well-formedness of tokens of ``token_id`` at ``pos``.

    ``limit`` is where each token's record trailer starts: a token must end by then.
    """
    layout = T.TOKENS_BY_ID[token_id].layout
    cur = pos + 1
    ok = np.ones(len(pos), dtype=bool)
    for kind, _name in layout:
        cur = _advance(view, kind, pos, cur, limit, ok)
    ok &= cur <= limit
    return cur, ok
