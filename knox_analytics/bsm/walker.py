"""Walk token layouts for many tokens at once: where each token ends, and whether it
is well formed.

The layouts in :mod:`knox_analytics.bsm.tokens` are followed field by field, each field
skipped by its kind (:mod:`knox_analytics.bsm.kinds`, which the extractor reads values
with too), one numpy operation per field over all tokens; nothing here knows a token by
name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.bytesview import ByteView
from knox_analytics.bsm.kinds import KINDS, Walking
from knox_analytics.bsm.nuls import NulIndex


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
    w = Walking(view, pos, limit, np.ones(len(pos), dtype=bool), nuls)
    cur = pos + 1
    for kind, _name in T.TOKENS_BY_ID[token_id].layout:
        cur = KINDS[kind].skip(w, cur)
    w.ok &= cur <= limit
    return cur, w.ok


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
