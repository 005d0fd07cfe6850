"""Walk the tokens of every record of a chunk in lockstep: the *wavefront*.

In step ``k`` every record still open reads its ``k``-th token -- one numpy pass for
the fixed-size ids and one per variable-size id present, over all records
(:func:`walker.token_sizes`) -- so the Python loop runs once per token *position* (a
dozen or so), never once per record.  A round costs the same for one record as for
thousands, so once few records are still open (long ones: many args, paths, or a hostile
record of 100,000 tiny tokens) they are finished by :func:`chase.chase`, which is linear
in their bytes.  Tokens are then placed at their (record, index) slot, which is trail order
without a sort.  The result says where every token is; reading their fields is
:mod:`extract`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.bytesview import ByteView
from knox_analytics.bsm.chase import chase
from knox_analytics.bsm.walker import BODY, HEADER, token_sizes

#: Hand the open records to the chase after this many rounds once at most
#: CHASE_BELOW remain: a round then costs more per token than the chase does.
CHASE_AFTER = 8
CHASE_BELOW = 64


@dataclass
class Tokens:
    """Every token of one id in the chunk, in trail order."""

    pos: np.ndarray
    rec: np.ndarray
    k: np.ndarray  # index of the token within its record
    end: np.ndarray


@dataclass
class Walk:
    ntok: np.ndarray  # tokens per record, trailer excluded
    by_id: dict[int, Tokens]
    raw: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # rec, k, start, stop
    undecodable: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # rec, pos, token id
    #: every token's id in trail order, each record's trailer included, and where each
    #: record's ids start (nrec + 1 offsets): the ``token_ids`` column
    ids: np.ndarray
    offsets: np.ndarray


def wavefront(view: ByteView, starts: np.ndarray, limit: np.ndarray) -> Walk:
    """Walk all records' tokens in lockstep (see module docstring)."""
    nrec = len(starts)
    # int32 offsets (a chunk is far below 2 GiB): half the memory traffic of int64.
    limit = limit.astype(np.int32)
    ntok = np.zeros(nrec, dtype=np.int32)  # set as each record finishes
    found: list[tuple] = []  # (rec, pos, end, k) of well-formed tokens, round by round
    raw: list[tuple] = []
    undecodable: list[tuple] = []
    # The open records, where each is, and where its trailer starts: carried from round
    # to round and narrowed as records finish.  Record numbers stay intp: numpy converts
    # narrower index arrays on every gather.
    active = np.arange(nrec, dtype=np.intp)
    pos = starts.astype(np.int32)
    lim = limit
    k = 0
    while len(active):
        if k >= CHASE_AFTER and len(active) <= CHASE_BELOW:
            _chase_rest(view, active, pos, lim, k, ntok, found, raw, undecodable)
            break
        # Round 0 reads the header (framing guarantees one); later rounds body tokens.
        size, ok = token_sizes(view, view.u8[pos], lim - pos, pos.__getitem__,
                               None, HEADER if k == 0 else BODY)
        if not ok.all():  # the rest of these records is kept raw
            bad = active[~ok]
            raw.append((bad, np.full(len(bad), k), pos[~ok], lim[~ok]))
            undecodable.append((bad, pos[~ok], view.u8[pos[~ok]]))
            ntok[bad] = k + 1
            active, pos, size, lim = active[ok], pos[ok], size[ok], lim[ok]
        end = pos + size
        found.append((active, pos, end, k))
        more = end < lim
        if more.all():
            pos = end
        else:
            ntok[active[~more]] = k + 1
            active, pos, lim = active[more], end[more], lim[more]
        k += 1
    return _in_trail_order(view, nrec, ntok, limit, found, raw, undecodable)


def _in_trail_order(view: ByteView, nrec: int, ntok: np.ndarray, limit: np.ndarray,
                    found: list[tuple], raw: list[tuple], undecodable: list[tuple]) -> Walk:
    """Place every token at its slot (record, index) -- trail order without a sort --
    then group the well-formed ones by id."""
    offsets = np.zeros(nrec + 1, dtype=np.int64)
    np.cumsum(ntok + 1, out=offsets[1:])  # + the trailer
    slot_pos = np.empty(int(offsets[-1]), dtype=np.int32)
    slot_end = np.empty(int(offsets[-1]), dtype=np.int32)
    for rec, pos, end, k in found:
        if isinstance(rec, _Runs):  # the chase's: each record's tokens fill a run of slots
            for _r, first, a, b in rec.runs(offsets):
                slot_pos[first:first + b - a] = pos[a:b]
                slot_end[first:first + b - a] = end[a:b]
            continue
        slot = offsets[rec] + k
        slot_pos[slot] = pos
        slot_end[slot] = end
    for rec, pos, _tid in undecodable:
        slot_pos[offsets[rec] + ntok[rec] - 1] = pos
    slot_pos[offsets[1:] - 1] = limit  # the trailers
    ids = view.u8[slot_pos]
    # Group by id; the trailer id (never a typed token) also stands for undecodable ones.
    key = ids.copy()
    for rec, _pos, _tid in undecodable:
        key[offsets[rec] + ntok[rec] - 1] = T.AUT_TRAILER
    first_of = offsets[:-1].astype(np.int32)
    rec_of = None
    by_id = {}
    for tid, idx in _group_slots(key):
        if tid == T.AUT_TRAILER:
            continue
        if not isinstance(idx, slice) and idx[-1] - idx[0] == len(idx) - 1:
            idx = slice(int(idx[0]), int(idx[-1]) + 1)
        if isinstance(idx, slice):  # consecutive slots: views, no gathers
            r = int(np.searchsorted(offsets, idx.start, side="right")) - 1
            if idx.stop <= offsets[r + 1]:  # all in one (long) record
                k = np.arange(idx.start - first_of[r], idx.stop - first_of[r], dtype=np.int32)
                rec = np.broadcast_to(np.int32(r), len(k))
                by_id[tid] = Tokens(slot_pos[idx], rec, k, slot_end[idx])
                continue
        if rec_of is None:
            rec_of = np.repeat(np.arange(nrec, dtype=np.int32), ntok + 1)
        rec = rec_of[idx]
        k = (np.arange(idx.start, idx.stop, dtype=np.int32) if isinstance(idx, slice)
             else idx.astype(np.int32))
        k -= first_of[rec]
        by_id[tid] = Tokens(slot_pos[idx], rec, k, slot_end[idx])
    return Walk(ntok, by_id, raw, undecodable, ids, offsets)


def _group_slots(key: np.ndarray) -> list[tuple[int, np.ndarray | slice]]:
    """(id, its slots in trail order) for every id in ``key``.  An id holding most slots
    (a hostile record's one token kind) is picked out by one comparison; the rest are
    grouped by a radix sort."""
    counts = np.bincount(key, minlength=256)
    top = int(np.argmax(counts))
    groups = []
    rest = None
    if counts[top] * 2 > len(key):
        is_top = key == top
        first = int(np.argmax(is_top))
        stop = len(key) - int(np.argmax(is_top[::-1]))
        run = stop - first == counts[top]  # one run of slots: a slice, no index array
        groups.append((top, slice(first, stop) if run else np.flatnonzero(is_top)))
        rest = np.flatnonzero(~is_top)
        counts[top] = 0
    keys = key if rest is None else key[rest]
    order = np.argsort(keys, kind="stable")
    if rest is not None:
        order = rest[order]
    bounds = np.concatenate(([0], np.cumsum(counts)))
    groups += [(int(t), order[bounds[t]:bounds[t + 1]])
               for t in np.flatnonzero(counts)]
    return groups


@dataclass
class _Runs:
    """Records whose tokens from index ``k`` on come as one run each (the chase's)."""

    records: np.ndarray
    k: int
    counts: np.ndarray

    def runs(self, offsets: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(record, first slot, start, stop in the found arrays) per record."""
        ends = np.cumsum(self.counts)
        return [(int(r), int(offsets[r]) + self.k, int(e - c), int(e))
                for r, c, e in zip(self.records, self.counts, ends, strict=True)]


def _chase_rest(view: ByteView, active: np.ndarray, pos: np.ndarray, lim: np.ndarray,
                k: int, ntok: np.ndarray, found: list[tuple], raw: list[tuple],
                undecodable: list[tuple]) -> None:
    """Walk the rest of the ``active`` records (at ``pos``, each has read ``k`` tokens;
    trailers at ``lim``) by chase."""
    ch = chase(view, pos, lim)
    found.append((_Runs(active, k, ch.found), ch.pos, ch.end, k))
    bad = np.zeros(len(active), dtype=bool)
    for r, p in ch.bad:
        one = np.array([active[r]])
        raw.append((one, np.array([k + ch.found[r]]), np.array([p]), lim[[r]]))
        undecodable.append((one, np.array([p]), np.array([view.u8[p]])))
        bad[r] = True
    ntok[active] = k + ch.found + bad


def token_ids(view: ByteView, walked: Walk, starts: np.ndarray) -> pa.Array:
    """``token_ids`` per record: each walked token's id at its index, trailer last."""
    return pa.ListArray.from_arrays(pa.array(walked.offsets.astype(np.int32)),
                                    pa.array(walked.ids))
