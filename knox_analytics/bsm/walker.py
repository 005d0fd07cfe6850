"""Walk token layouts for many tokens of one id at once: where each token ends, and
whether it is well formed.

The layouts in :mod:`knox_analytics.bsm.tokens` are interpreted here field by field, with
one numpy operation per field over all tokens; nothing here knows a token by name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.bytesview import ByteView

_UNIT_SIZES = np.array([T.DATA_UNIT_SIZES[u] for u in range(4)], dtype=np.int64)


def nth_nul_end(view: ByteView, start: np.ndarray, stop: np.ndarray,
                count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position just past the ``count``-th NUL at or after ``start`` (before ``stop``).

    Returns (end, ok); ok is False where fewer than ``count`` NULs lie in the span.
    Looks through a small window per token first (one row copy each) and widens it only
    for the tokens not settled yet, so the work follows the bytes actually needed.
    """
    count = count.astype(np.int64)
    end = start.copy()
    ok = count == 0
    todo = np.flatnonzero(~ok)
    width = _FIRST_WINDOW
    while len(todo):
        s, c = start[todo], count[todo]
        span = np.maximum(stop[todo] - s, 0)
        width = int(min(width, max(int(span.max()), 1)))
        hit, col = _nth_nul_in_window(view, s, np.minimum(span, width), c, width)
        end[todo[hit]] = s[hit] + col[hit] + 1
        ok[todo[hit]] = True
        todo = todo[~hit & (span > width)]  # not found yet, and more bytes to look at
        width *= 8
    return end, ok


_FIRST_WINDOW = 64


def _nth_nul_in_window(view: ByteView, start: np.ndarray, span: np.ndarray,
                       count: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(found, column of the count-th NUL) within ``span`` bytes from each start."""
    block = view.rows(start, width)
    nul = (block == 0) & (np.arange(width) < span[:, None])
    # Row-major positions of every NUL; a row's count-th NUL is count-1 past its first.
    flat = np.flatnonzero(nul)
    row_first = np.searchsorted(flat, np.arange(len(start)) * width)
    row_end = np.searchsorted(flat, (np.arange(len(start)) + 1) * width)
    nth = row_first + count - 1
    found = nth < row_end
    col = np.zeros(len(start), dtype=np.int64)
    col[found] = flat[nth[found]] - np.flatnonzero(found) * width
    return found, col


def nul_positions(view: ByteView, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Every NUL offset inside the ascending, disjoint spans ``[start, stop)``, in order.

    Spans are read as row windows, grouped by size so a long one does not widen all.
    """
    span = stop - start
    found = []
    lower = 0
    for upper in (64, 512, 4096, 1 << 62):
        group = np.flatnonzero((span > lower) & (span <= upper))
        lower = upper
        if not len(group):
            continue
        width = int(span[group].max())
        block = view.rows(start[group], width)
        nul = (block == 0) & (np.arange(width) < span[group][:, None])
        row, col = np.divmod(np.flatnonzero(nul), width)
        found.append(start[group][row] + col)
    if not found:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(found)) if len(found) > 1 else found[0]


class NulIndex:
    """Every NUL inside some ascending, disjoint spans of a chunk, for counting NULs from
    any offset by binary search instead of scanning.

    Used when token ends are computed at *every* offset of a span (see :mod:`chase`):
    from a false start, a garbage count could send a scan to the end of the record for
    each offset.  A NUL run that leaves its span is reported as not found; the caller
    settles that (rare) token with the scanning walk.
    """

    def __init__(self, view: ByteView, starts: np.ndarray, stops: np.ndarray) -> None:
        self.view, self.starts, self.stops = view, starts, stops
        self._at: np.ndarray | None = None

    @property
    def at(self) -> np.ndarray:
        """Sorted offsets of the NULs (found on first use: most windows need none)."""
        if self._at is None:
            self._at = nul_positions(self.view, self.starts, self.stops)
        return self._at

    def nth_end(self, start: np.ndarray, stop: np.ndarray,
                count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Like :func:`nth_nul_end`, but only within the span holding ``start``."""
        span = np.searchsorted(self.starts, start, side="right") - 1
        inside = (span >= 0) & (start < self.stops[np.maximum(span, 0)])
        stop = np.minimum(stop, np.where(inside, self.stops[np.maximum(span, 0)], 0))
        count = count.astype(np.int64)
        at = self.at
        j = np.searchsorted(at, start) + count - 1
        nul = at[np.clip(j, 0, len(at) - 1)] if len(at) else np.zeros(len(start), np.int64)
        found = (j < len(at)) & (nul < stop)
        end = np.where(count == 0, start, nul + 1)
        return end, (count == 0) | (found & inside)


def _nth_end(view: ByteView, start: np.ndarray, stop: np.ndarray, count: np.ndarray,
             nuls: NulIndex | None) -> tuple[np.ndarray, np.ndarray]:
    if nuls is not None:
        return nuls.nth_end(start, stop, count)
    return nth_nul_end(view, start, stop, count)


def _advance(view: ByteView, kind: str, tok: np.ndarray, cur: np.ndarray,
             limit: np.ndarray, ok: np.ndarray, nuls: NulIndex | None = None) -> np.ndarray:
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
        end, found = _nth_end(view, np.minimum(start, limit), limit, count, nuls)
        ok &= found & (start <= limit)
        return end
    if kind == "cstr":
        end, found = _nth_end(view, np.minimum(cur, limit),
                              np.minimum(cur + T.SOCKUNIX_PATH_MAX, limit),
                              np.ones(len(cur), dtype=np.int64), nuls)
        ok &= found
        return end
    raise ValueError(f"unknown layout field kind {kind!r}")


def walk(view: ByteView, token_id: int, pos: np.ndarray, limit: np.ndarray,
         nuls: NulIndex | None = None) -> tuple[np.ndarray, np.ndarray]:
    """End offset and well-formedness of tokens of ``token_id`` at ``pos``.

    ``limit`` is where each token's record trailer starts: a token must end by then.
    With ``nuls``, NUL-terminated fields are looked up there (see :class:`NulIndex`).
    """
    size = T.FIXED_TOKEN_SIZES.get(token_id)
    if size is not None:  # all fields fixed: no need to read any of them
        end = pos + size
        return end, end <= limit
    layout = T.TOKENS_BY_ID[token_id].layout
    cur = pos + 1
    ok = np.ones(len(pos), dtype=bool)
    for kind, _name in layout:
        cur = _advance(view, kind, pos, cur, limit, ok, nuls)
    ok &= cur <= limit
    return cur, ok


class IdSet:
    """Token ids allowed at some place in a record, as lookup tables by id byte."""

    def __init__(self, ids: set[int]) -> None:
        #: id -> size for the fixed-size ids (else 0)
        self.fixed = np.zeros(256, dtype=np.int32)
        #: ids whose size depends on their fields
        self.variable = np.zeros(256, dtype=bool)
        for tid in ids:
            if tid in T.FIXED_TOKEN_SIZES:
                self.fixed[tid] = T.FIXED_TOKEN_SIZES[tid]
            else:
                self.variable[tid] = True


#: What may open a record, and what may come between header and trailer.  (A file
#: token may: praudit prints it like any other; OpenBSM's test vectors carry one.)
HEADER = IdSet(set(T.HEADER_IDS))
BODY = IdSet(set(T.TOKENS_BY_ID) - {*T.HEADER_IDS, T.AUT_TRAILER})
BODY_FIXED_SIZE, BODY_VARIABLE = BODY.fixed, BODY.variable


def token_sizes(view: ByteView, ids: np.ndarray, room: np.ndarray,
                pos_at: Callable[[np.ndarray], np.ndarray], nuls: NulIndex | None = None,
                allowed: IdSet = BODY) -> tuple[np.ndarray, np.ndarray]:
    """(size, ok) of a token at each of many offsets, whatever its id.

    ``ids`` are the bytes at those offsets, ``room`` the bytes from each to its record's
    trailer, ``pos_at(i)`` the chunk offsets of the i-th ones (asked only for the
    variable-size ids).  One pass for the fixed-size ids, one :func:`walk` per
    variable-size id present.  Ids not ``allowed`` there are not ok.
    """
    size = allowed.fixed[ids]
    ok = (size > 0) & (size <= room)
    var = np.flatnonzero(allowed.variable[ids])
    if len(var):
        pos = pos_at(var)
        limit = pos + room[var]
        vids = ids[var]
        order = np.argsort(vids, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(vids, minlength=256))))
        for tid in np.flatnonzero(bounds[1:] > bounds[:-1]):
            sel = order[bounds[tid]:bounds[tid + 1]]
            end, good = walk(view, int(tid), pos[sel], limit[sel], nuls)
            size[var[sel]] = end - pos[sel]
            ok[var[sel]] = good
    return size, ok
