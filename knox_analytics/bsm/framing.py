"""Find record boundaries in a chunk of trail bytes, all candidates at once.

Every byte equal to a header id is a candidate; it survives when its length field points
at a trailer (0x13 0xb1 0x05) carrying the same length.  Survivors are then chosen exactly
as a sequential reader would choose them -- take the record at the current position,
else skip to the next candidate -- which keeps false candidates nested inside real records
(an 0x14 byte in a field, a record quoted inside an opaque token) from being taken.  On a
healthy trail survivors never overlap, so the choice is a single vectorized comparison;
only overlapping runs (damage) fall back to a short Python loop.

Spans that hold no record are scanned for auditd's stand-alone file tokens; the rest is
reported as damage.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.bytesview import ByteView
from knox_analytics.bsm.damage import Damage, explain_gap

#: While streaming, bytes after the last whole record are carried into the next chunk; a
#: tail longer than this cannot be a record in progress and is reported instead.
CARRY_LIMIT = 64 << 20

# The trailer magic as the host reads two bytes natively (cheaper than a byte-swapped view).
_MAGIC_NATIVE = int.from_bytes(T.TRAILER_MAGIC.to_bytes(2, "big"), sys.byteorder)
_HEADER_LUT = np.zeros(256, dtype=bool)
_HEADER_LUT[list(T.HEADER_IDS)] = True


@dataclass
class Framing:
    """Where the records of a chunk are, and what was not a record."""

    starts: np.ndarray  # int64 offsets (within the chunk) of kept records
    lengths: np.ndarray  # int64 record lengths
    file_tokens: list[tuple[int, int]] = field(default_factory=list)  # (offset, length)
    damage: list[Damage] = field(default_factory=list)
    consumed: int = 0  # bytes of the chunk fully accounted for


def record_candidates(view: ByteView) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and lengths of every header whose length field leads to its trailer.

    Searched from the trailer side: the magic 0xb105 is rare in other data, so scanning
    for it (two aligned u16 comparisons over the chunk) finds far fewer candidates than
    scanning for header-id bytes, and each trailer's length names its only possible start.
    The set found is the same: a (header, trailer) pair is valid seen from either end.
    """
    n = view.n
    u8 = view.u8
    magic = []
    for phase in (0, 1):  # magic at even and at odd offsets
        words = u8[phase : phase + (max(n - phase, 0) // 2) * 2].view(np.uint16)
        magic.append(np.flatnonzero(words == _MAGIC_NATIVE) * 2 + phase)
    tpos = np.sort(np.concatenate(magic)) - 1  # the trailer id byte precedes the magic
    tpos = tpos[(tpos >= 0) & (tpos + T.TRAILER_SIZE <= n)]
    tpos = tpos[u8[tpos] == T.AUT_TRAILER]
    length = view.u32[tpos + 3].astype(np.int64)
    start = tpos + T.TRAILER_SIZE - length
    ok = (length >= T.MIN_RECORD) & (start >= 0)
    start, length = start[ok], length[ok]
    ok = _HEADER_LUT[u8[start]] & (view.u32[start + 1] == length)
    start, length = start[ok], length[ok]
    if len(start) > 1 and np.any(start[1:] < start[:-1]):
        order = np.argsort(start, kind="stable")
        start, length = start[order], length[order]
    return start, length


def choose_records(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Mask of the candidates a sequential reader would take (see module docstring)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=bool)
    ends = starts + lengths
    prev_max_end = np.empty_like(ends)
    prev_max_end[0] = -1
    np.maximum.accumulate(ends[:-1], out=prev_max_end[1:])
    keep = starts >= prev_max_end
    if keep.all():
        return keep
    # Each run of overlapping candidates starts with a kept one; resolve runs greedily.
    for first in np.flatnonzero(keep[:-1] & ~keep[1:]):
        last_end = ends[first]
        j = first + 1
        while j < len(starts) and not keep[j]:
            if starts[j] >= last_end:
                keep[j] = True
                last_end = ends[j]
            j += 1
    return keep


def file_token_length(view: ByteView, pos: int, limit: int) -> int:
    """Length of a well-formed stand-alone file token at ``pos`` ending by ``limit``, or 0."""
    if pos + T.FILE_TOKEN_FIXED > limit or view.u8[pos] != T.AUT_OTHER_FILE32:
        return 0
    name_len = int(view.u16[pos + 9])
    end = pos + T.FILE_TOKEN_FIXED + name_len
    if name_len < 1 or end > limit or view.u8[end - 1] != 0:
        return 0
    return T.FILE_TOKEN_FIXED + name_len


def _scan_gap(view: ByteView, start: int, stop: int, source: str, base: int,
              out: Framing) -> None:
    """Take file tokens at the start of a gap; report what remains as damage."""
    pos = start
    while pos < stop:
        flen = file_token_length(view, pos, stop)
        if not flen:
            break
        out.file_tokens.append((pos, flen))
        pos += flen
    if pos < stop:
        data = memoryview(view.u8)[: view.n]
        out.damage.append(Damage(source, base + pos, stop - pos, explain_gap(data, pos, stop)))


def frame(view: ByteView, source: str = "<bytes>", base_offset: int = 0,
          final: bool = True) -> Framing:
    """Frame one chunk.  With ``final=False`` an unfinished tail is left for the next call."""
    cand, length = record_candidates(view)
    keep = choose_records(cand, length)
    starts, lengths = cand[keep], length[keep]
    out = Framing(starts, lengths)
    ends = starts + lengths
    gap_starts = np.concatenate(([0], ends))
    gap_stops = np.concatenate((starts, [view.n]))
    gaps = np.flatnonzero(gap_stops > gap_starts)
    tail_start = int(gap_starts[-1])
    for g in gaps:
        a, b = int(gap_starts[g]), int(gap_stops[g])
        if g == len(gap_starts) - 1 and not final:
            if b - a <= CARRY_LIMIT:
                break
            a_keep = b - CARRY_LIMIT
            _scan_gap(view, a, a_keep, source, base_offset, out)
            tail_start = a_keep
            break
        _scan_gap(view, a, b, source, base_offset, out)
    out.consumed = view.n if final else tail_start
    return out
