"""Walk the tokens of every record of a chunk in lockstep: the *wavefront*.

In step ``k`` every record still open reads its ``k``-th token -- one numpy pass per
token id present, over all records -- so the Python loop runs once per token *position*
(a dozen or so), never once per record.  A round costs the same for one record as for
thousands, so once few records are still open (long ones: many args, paths, or a hostile
record of 100,000 tiny tokens) they are finished by :func:`chase.chase`, which is linear
in their bytes.  The result says where every token is; reading their fields is
:mod:`extract`'s job.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.bytesview import ByteView
from knox_analytics.bsm.chase import chase
from knox_analytics.bsm.walker import walk

# Token ids that may not appear between a header and its trailer.  (A file token may:
# praudit prints it like any other; OpenBSM's test vectors carry one.)
NOT_IN_BODY = {*T.HEADER_IDS, T.AUT_TRAILER}
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


def wavefront(view: ByteView, starts: np.ndarray, limit: np.ndarray) -> Walk:
    """Walk all records' tokens in lockstep (see module docstring)."""
    nrec = len(starts)
    # int32 offsets (a chunk is far below 2 GiB): half the memory traffic of int64.
    cur = starts.astype(np.int32)
    limit = limit.astype(np.int32)
    ntok = np.zeros(nrec, dtype=np.int32)
    parts: dict[int, list[tuple]] = defaultdict(list)
    raw: list[tuple] = []
    undecodable: list[tuple] = []
    active = np.arange(nrec, dtype=np.int32)
    k = 0
    while len(active):
        if k >= CHASE_AFTER and len(active) <= CHASE_BELOW:
            _chase_rest(view, active, cur, limit, k, ntok, parts, raw, undecodable)
            break
        ids = view.u8[cur[active]]
        order = np.argsort(ids, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(ids, minlength=256))))
        for tid in np.flatnonzero(bounds[1:] > bounds[:-1]):
            sel = active[order[bounds[tid]:bounds[tid + 1]]]
            pos = cur[sel]
            # Step 0 is always the header (framing guarantees it).
            if k == 0 or (tid in T.TOKENS_BY_ID and tid not in NOT_IN_BODY):
                end, ok = walk(view, int(tid), pos, limit[sel])
            else:
                end, ok = pos, np.zeros(len(sel), dtype=bool)
            if ok.all():  # the usual case: no compress needed
                parts[int(tid)].append((pos, sel, k, end))
                cur[sel] = end
                continue
            if ok.any():
                good = sel[ok]
                parts[int(tid)].append((pos[ok], good, k, end[ok]))
                cur[good] = end[ok]
            bad = sel[~ok]
            raw.append((bad, np.full(len(bad), k), pos[~ok], limit[bad]))
            undecodable.append((bad, pos[~ok], np.full(len(bad), tid)))
            cur[bad] = limit[bad]
        ntok[active] += 1
        active = active[cur[active] < limit[active]]
        k += 1
    by_id = {}
    for tid, chunks in parts.items():
        # int32 throughout: a hostile record holds tens of millions of tokens.
        pos, rec, end = (np.concatenate([c[i] for c in chunks], dtype=np.int32,
                                        casting="same_kind") for i in (0, 1, 3))
        kk = np.concatenate([np.broadcast_to(np.asarray(c[2], dtype=np.int32), len(c[0]))
                             for c in chunks])
        if len(chunks) > 1 and np.any(pos[1:] < pos[:-1]):
            order = np.argsort(pos, kind="stable")  # ascending runs: a cheap merge
            pos, rec, kk, end = pos[order], rec[order], kk[order], end[order]
        by_id[tid] = Tokens(pos, rec, kk, end)
    return Walk(ntok, by_id, raw, undecodable)


def _chase_rest(view: ByteView, active: np.ndarray, cur: np.ndarray, limit: np.ndarray,
                k: int, ntok: np.ndarray, parts: dict[int, list[tuple]], raw: list[tuple],
                undecodable: list[tuple]) -> None:
    """Walk the rest of the ``active`` records (each has read ``k`` tokens) by chase."""
    ch = chase(view, cur[active], limit[active])
    # Record and token index of each token found, record by record.
    rec = np.repeat(active, ch.found)
    kk = np.arange(len(rec), dtype=np.int32)
    kk -= np.repeat((np.cumsum(ch.found) - ch.found - k).astype(np.int32), ch.found)
    ids = view.u8[ch.pos]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(ids, minlength=256))))
    present = np.flatnonzero(bounds[1:] > bounds[:-1])
    if len(present) == 1:  # one token id (a hostile record, typically): no regrouping
        parts[int(present[0])].append((ch.pos, rec, kk, ch.end))
    elif len(present):
        order = np.argsort(ids, kind="stable")
        for tid in present:
            sel = order[bounds[tid]:bounds[tid + 1]]
            parts[int(tid)].append((ch.pos[sel], rec[sel], kk[sel], ch.end[sel]))
    for r, p in ch.bad:
        one = np.array([active[r]])
        raw.append((one, np.array([k + ch.found[r]]), np.array([p]), limit[one]))
        undecodable.append((one, np.array([p]), np.array([view.u8[p]])))
    ntok[active] += (ch.found + np.isin(np.arange(len(active)),
                                        [r for r, _p in ch.bad])).astype(ntok.dtype)


def token_ids(view: ByteView, walked: Walk, starts: np.ndarray) -> pa.Array:
    """``token_ids`` per record: each walked token's id at its index, trailer last."""
    nrec = len(starts)
    per_rec = walked.ntok + 1
    offsets = np.zeros(nrec + 1, dtype=np.int64)
    np.cumsum(per_rec, out=offsets[1:])
    flat = np.full(int(offsets[-1]), T.AUT_TRAILER, dtype=np.uint8)
    for tid, toks in walked.by_id.items():
        flat[offsets[toks.rec] + toks.k] = tid
    for rec, _pos, tid in walked.undecodable:
        flat[offsets[rec] + walked.ntok[rec] - 1] = tid
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat))
