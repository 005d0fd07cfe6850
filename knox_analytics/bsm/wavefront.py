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
    cur = starts.astype(np.int32)
    limit = limit.astype(np.int32)
    ntok = np.zeros(nrec, dtype=np.int32)
    found: list[tuple] = []  # (rec, pos, end, k) of well-formed tokens, round by round
    raw: list[tuple] = []
    undecodable: list[tuple] = []
    # Record numbers stay intp: numpy converts narrower index arrays on every gather.
    active = np.arange(nrec, dtype=np.intp)
    k = 0
    while len(active):
        if k >= CHASE_AFTER and len(active) <= CHASE_BELOW:
            _chase_rest(view, active, cur, limit, k, ntok, found, raw, undecodable)
            break
        pos = cur[active]
        # Round 0 reads the header (framing guarantees one); later rounds body tokens.
        size, ok = token_sizes(view, view.u8[pos], limit[active] - pos, pos.__getitem__,
                               None, HEADER if k == 0 else BODY)
        if not ok.all():  # the rest of these records is kept raw
            bad = active[~ok]
            raw.append((bad, np.full(len(bad), k), pos[~ok], limit[bad]))
            undecodable.append((bad, pos[~ok], view.u8[pos[~ok]]))
            ntok[bad] += 1
            active, pos, size = active[ok], pos[ok], size[ok]
        end = pos + size
        found.append((active, pos, end, k))
        cur[active] = end
        ntok[active] += 1
        active = active[end < limit[active]]
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
    step = 1 << 20  # a hostile record holds tens of millions: bound the temporaries
    for rec, pos, end, k in found:
        for a in range(0, len(rec), step):
            slot = offsets[rec[a:a + step]] + (k if np.isscalar(k) else k[a:a + step])
            slot_pos[slot] = pos[a:a + step]
            slot_end[slot] = end[a:a + step]
    for rec, pos, _tid in undecodable:
        slot_pos[offsets[rec] + ntok[rec] - 1] = pos
    slot_pos[offsets[1:] - 1] = limit  # the trailers
    ids = view.u8[slot_pos]
    # Group by id; the trailer id (never a typed token) also stands for undecodable ones.
    key = ids.copy()
    for rec, _pos, _tid in undecodable:
        key[offsets[rec] + ntok[rec] - 1] = T.AUT_TRAILER
    order = np.argsort(key, kind="stable")  # by id, trail order within (a radix sort)
    bounds = np.concatenate(([0], np.cumsum(np.bincount(key, minlength=256))))
    rec_of = np.repeat(np.arange(nrec, dtype=np.int32), ntok + 1)
    first_of = offsets[:-1].astype(np.int32)
    del key
    by_id = {}
    for tid in np.flatnonzero(bounds[1:] > bounds[:-1]):
        if tid == T.AUT_TRAILER:
            continue
        idx = order[bounds[tid]:bounds[tid + 1]]
        rec = rec_of[idx]
        k = idx.astype(np.int32)
        k -= first_of[rec]
        by_id[int(tid)] = Tokens(slot_pos[idx], rec, k, slot_end[idx])
    return Walk(ntok, by_id, raw, undecodable, ids, offsets)


def _chase_rest(view: ByteView, active: np.ndarray, cur: np.ndarray, limit: np.ndarray,
                k: int, ntok: np.ndarray, found: list[tuple], raw: list[tuple],
                undecodable: list[tuple]) -> None:
    """Walk the rest of the ``active`` records (each has read ``k`` tokens) by chase."""
    ch = chase(view, cur[active], limit[active])
    # Record and token index of each token found, record by record.
    rec = np.repeat(active.astype(np.int32), ch.found)  # may be millions: narrow
    kk = np.arange(len(rec), dtype=np.int32)
    kk -= np.repeat((np.cumsum(ch.found) - ch.found - k).astype(np.int32), ch.found)
    found.append((rec, ch.pos, ch.end, kk))
    for r, p in ch.bad:
        one = np.array([active[r]])
        raw.append((one, np.array([k + ch.found[r]]), np.array([p]), limit[one]))
        undecodable.append((one, np.array([p]), np.array([view.u8[p]])))
    ntok[active] += (ch.found + np.isin(np.arange(len(active)),
                                        [r for r, _p in ch.bad])).astype(ntok.dtype)


def token_ids(view: ByteView, walked: Walk, starts: np.ndarray) -> pa.Array:
    """``token_ids`` per record: each walked token's id at its index, trailer last."""
    return pa.ListArray.from_arrays(pa.array(walked.offsets.astype(np.int32)),
                                    pa.array(walked.ids))
