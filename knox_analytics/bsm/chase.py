"""Walk the tokens of the few records still open after the wavefront, in time linear in
their bytes whatever the token mix.

The wavefront pays one numpy round per token *index*: cheap while many records are open,
but a record of 100,000 three-byte tokens would need 100,000 rounds for itself alone.
Once few records remain open, their remaining bytes come here:

1. For *every* byte offset of those spans, where a body token starting there would end
   (:func:`walker.token_sizes`: one pass for the fixed-size ids, one
   :func:`walker.walk` per variable-size id present -- the walker the wavefront uses).
   Most offsets are not token starts; computing them all costs a few numpy passes over
   the bytes, in windows of :data:`WINDOW` bytes so memory stays bounded.
2. The chain of tokens from each record's cursor is followed 16 tokens at a time, through
   a jump table built by doubling (four gathers over the window), so the Python loop
   runs once per 16 tokens; the tokens in between are filled in by 16 vectorized rounds
   over all those anchors at once.  Every step is linear in bytes.

NUL-terminated fields are counted through a :class:`nuls.NulIndex` (a binary search,
never a scan from a false start); a token whose NULs run past its window, or that looks
malformed, is settled by the scanning walk when the chain reaches it -- at most once per
window or record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from knox_analytics.bsm.bytesview import ByteView
from knox_analytics.bsm.nuls import NulIndex
from knox_analytics.bsm.walker import BODY_VARIABLE, token_sizes, walk

#: Offsets whose token sizes are computed at once: small enough to stay in cache.
WINDOW = 1 << 18


@dataclass
class Chased:
    """Tokens found, grouped by record in the order given, each record's in trail order."""

    pos: np.ndarray
    end: np.ndarray
    found: np.ndarray  # well-formed tokens per record (the groups of pos / end)
    bad: list[tuple[int, int]]  # (record index, offset) of an undecodable token


def _pieces(cur: np.ndarray, limit: np.ndarray) -> list[list[tuple[int, int, int]]]:
    """Cut each span [cur, limit) into windows; group them into batches of <= WINDOW."""
    batches: list[list[tuple[int, int, int]]] = [[]]
    room = WINDOW
    for r, (a, b) in enumerate(zip(cur.tolist(), limit.tolist(), strict=True)):
        while a < b:
            take = min(b - a, room)
            batches[-1].append((r, a, a + take))
            a += take
            room -= take
            if not room:
                batches.append([])
                room = WINDOW
    return [b for b in batches if b]


JUMP_DOUBLINGS = 4  # the chain is followed 2**4 = 16 tokens per Python step


def chase(view: ByteView, cur: np.ndarray, limit: np.ndarray) -> Chased:
    """Walk every token in ``[cur[i], limit[i])`` for each record ``i``."""
    cur = cur.astype(np.int64)
    limit = limit.astype(np.int64)
    state = _State(cur.tolist(), [False] * len(cur))
    found = np.zeros(len(cur), dtype=np.int64)
    pieces: list[tuple[np.ndarray, np.ndarray]] = []
    for batch in _pieces(cur, limit):
        pos, end, counts = _walk_batch(view, batch, limit, state)
        np.add.at(found, [r for r, _a, _b in batch], counts)
        pieces.append((pos, end))
    if not pieces:
        return Chased(np.zeros(0, np.int32), np.zeros(0, np.int32), found, state.bad)
    pos, end = (np.concatenate(x, dtype=np.int32, casting="same_kind")
                for x in zip(*pieces, strict=True))
    return Chased(pos, end, found, state.bad)


@dataclass
class _State:
    where: list[int]  # each record's cursor, carried from window to window
    done: list[bool]
    bad: list[tuple[int, int]] = field(default_factory=list)


def _walk_batch(view: ByteView, batch: list[tuple[int, int, int]], limit: np.ndarray,
                state: _State) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokens of one batch of windows: their offsets and ends, and how many per window."""
    rec, a, b = (np.array(x, dtype=np.int64) for x in zip(*batch, strict=True))
    lens = b - a
    n = int(lens.sum())
    # Local index space: the windows one after another; ``shift`` turns a local index
    # into a chunk offset.  int32: half the memory traffic of int64.
    first = np.cumsum(lens) - lens
    here = np.arange(n, dtype=np.int32)
    if len(batch) == 1:  # one long record: slices, no gathers
        ids = view.u8[a[0]:b[0]]
        shift: np.ndarray | int = int(a[0])
        room = np.int32(limit[rec[0]] - a[0]) - here
        window_end: np.ndarray | int = n

        def pos_at(i: np.ndarray) -> np.ndarray:
            return i + shift
    else:
        shift = np.repeat(a - first, lens)
        ids = view.u8[here + shift]
        room = np.repeat((limit[rec] - a + first).astype(np.int32), lens) - here
        window_end = np.repeat((first + lens).astype(np.int32), lens)

        def pos_at(i: np.ndarray) -> np.ndarray:
            return i + shift[i]
    size, ok = token_sizes(view, ids, room, pos_at, NulIndex(view, a, b))
    # A token that is not known to be fine, or that leaves its window, is a fixed
    # point of the jump (a stop, looked at by _follow).
    local_end = here + size
    jump = np.where(ok & (local_end < window_end), local_end, here)
    far = jump
    for _ in range(JUMP_DOUBLINGS):
        far = np.take(far, far)
    mark = np.zeros(n, dtype=bool)
    anchors: list[int] = []
    base = 0
    far_mv, ok_mv, size_mv = memoryview(far), memoryview(ok), memoryview(size)
    for r, pa_, pb in batch:
        if not state.done[r]:
            state.where[r] = _follow(view, far_mv, ok_mv, size_mv, mark, anchors, base - pa_,
                                     state.where[r], pb, int(limit[r]))
            if state.where[r] < 0:  # an undecodable token at -where - 1
                state.bad.append((r, -state.where[r] - 1))
                state.done[r] = True
        base += pb - pa_
    _fill(np.array(anchors, dtype=np.int64), jump, far, mark)
    idx = np.flatnonzero(mark)
    pos = pos_at(idx).astype(np.int32)
    ends = pos + size[idx]
    if len(batch) == 1:
        return pos, ends, np.array([len(idx)])
    window = np.searchsorted(first + lens, idx, side="right")
    return pos, ends, np.bincount(window, minlength=len(batch))


def _follow(view: ByteView, far: memoryview, ok: memoryview, size: memoryview,
            mark: np.ndarray, anchors: list[int], shift: int, p: int, stop: int,
            limit: int) -> int:
    """Follow one record's chain from chunk offset ``p`` while it starts before ``stop``.

    Works in the batch's local indices (``p + shift``).  Returns where the chain goes
    on (at or past ``stop``), or ``-p - 1`` when the token at ``p`` is undecodable.
    Anchors (starts of 16-token runs) are collected for :func:`_fill`; tokens at stops
    are marked here, and a settled token's size is written back into ``size``.
    """
    i, stop_i = p + shift, stop + shift
    while i < stop_i:
        j = far[i]
        if j != i:  # 16 tokens (or up to a stop) in one step
            anchors.append(i)
            i = j
            continue
        if ok[i]:  # fine, but it leaves the window
            s = size[i]
        else:
            s = _settle(view, i - shift, limit)
            if not s:
                return -(i - shift) - 1
            size[i] = s
        mark[i] = True
        i += s
    return i - shift


def _fill(anchors: np.ndarray, jump: np.ndarray, far: np.ndarray, mark: np.ndarray) -> None:
    """Mark the tokens from each anchor up to (not including) where its jump lands."""
    if not len(anchors):
        return
    land = far[anchors]
    at = anchors
    for _ in range(1 << JUMP_DOUBLINGS):
        mark[at[at < land]] = True
        at = jump[at]
def _settle(view: ByteView, p: int, limit: int) -> int:
    """Size of the token at ``p`` that its window could not vouch for, by the scanning
    walker on its own; 0 if it is undecodable."""
    tid = int(view.u8[p])
    if not BODY_VARIABLE[tid]:  # unknown id, or a fixed-size token past the limit
        return 0
    stop, ok = walk(view, tid, np.array([p], dtype=np.int64),
                    np.array([limit], dtype=np.int64))
    return int(stop[0]) - p if ok[0] else 0
