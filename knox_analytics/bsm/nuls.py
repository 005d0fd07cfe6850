"""Finding NULs in a chunk for many tokens at once: the ends of C strings.

Two ways, for two situations: :func:`nth_nul_end` scans a small window per token and
widens it only where needed (tokens known to start where they do); :class:`NulIndex`
counts NULs by binary search over an index of a whole span (token sizes at *every*
offset, where scans from false starts could add up to quadratic work).
"""

from __future__ import annotations

import numpy as np

from knox_analytics.bsm.bytesview import ByteView


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

    The spans are copied back to back (one Arrow take) and scanned in one numpy pass.
    """
    from knox_analytics.bsm.arrowcols import binary_spans

    start, stop = start.astype(np.int64), stop.astype(np.int64)
    keep = stop > start
    start, stop = start[keep], stop[keep]
    if len(start) <= 1:
        if not len(start):
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(view.u8[start[0]:stop[0]] == 0) + start[0]
    body = binary_spans(view, start, stop)
    _validity, offsets, data = body.buffers()
    offs = np.frombuffer(offsets, dtype=np.int32)[:len(body) + 1].astype(np.int64)
    local = np.flatnonzero(np.frombuffer(data, dtype=np.uint8)[:offs[-1]] == 0)
    span = np.searchsorted(offs, local, side="right") - 1
    return start[span] + (local - offs[span])


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


def nth_end(view: ByteView, start: np.ndarray, stop: np.ndarray, count: np.ndarray,
             nuls: NulIndex | None) -> tuple[np.ndarray, np.ndarray]:
    if nuls is not None:
        return nuls.nth_end(start, stop, count)
    return nth_nul_end(view, start, stop, count)
