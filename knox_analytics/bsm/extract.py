"""Read the fields of many tokens of one id at once into Arrow arrays.

Input: the offsets (and ends) of every token of one id in a chunk, in trail order.
Output: one array per layout field, plus a mask of tokens whose bytes the typed values
cannot reproduce exactly (they are also kept verbatim in ``raw_tokens``).  Each field is
read by its kind (:mod:`knox_analytics.bsm.kinds`, where the walker learns its size too);
only a leading run of fixed-size integers is read here in one row copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from knox_analytics.bsm import arrowcols as A
from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.bytesview import ByteView
from knox_analytics.bsm.kinds import KINDS, Reading


@dataclass
class Extracted:
    """Field arrays of the tokens of one id; ``inexact`` marks tokens also kept raw."""

    columns: dict[str, pa.Array | np.ndarray]
    inexact: np.ndarray


_BLOCK_KINDS = {"u8": "u1", "u16": ">u2", "u32": ">u4", "u64": ">u8", "ip4": ">u4"}
_NATIVE = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64,
           "ip4": np.uint32}


def _fixed_prefix(layout: T.Layout) -> tuple[np.dtype, int]:
    """The leading fixed-size integer fields as one big-endian record dtype."""
    fields = []
    for kind, name in layout:
        if kind not in _BLOCK_KINDS:
            break
        fields.append((name, _BLOCK_KINDS[kind]))
    dtype = np.dtype(fields) if fields else np.dtype([])
    return dtype, len(fields)


_PREFIXES = {t.id: _fixed_prefix(t.layout) for t in T.TOKEN_TYPES}


def _read_prefix(view: ByteView, token_id: int, pos: np.ndarray,
                 cols: dict) -> tuple[int, int]:
    """Read the fixed prefix of every token in one row copy; returns (fields, bytes)."""
    dtype, nfields = _PREFIXES[token_id]
    if nfields < 2:  # one field: a plain gather is as cheap
        return 0, 0
    records = view.rows(pos + 1, dtype.itemsize).view(dtype).ravel()
    layout = T.TOKENS_BY_ID[token_id].layout
    for kind, name in layout[:nfields]:
        values = records[name].astype(_NATIVE[kind])
        cols[name] = A.ipv4_strings(values) if kind == "ip4" else values
    return nfields, dtype.itemsize


def extract(view: ByteView, token_id: int, pos: np.ndarray, end: np.ndarray) -> Extracted:
    """Decode every field of the tokens of ``token_id`` at ``pos`` (ending at ``end``)."""
    r = Reading(view, end, {}, np.zeros(len(pos), dtype=bool))
    done, size = _read_prefix(view, token_id, pos, r.cols)
    cur = pos + 1 + size
    for kind, name in T.TOKENS_BY_ID[token_id].layout[done:]:
        cur = KINDS[kind].read(r, cur, name)
    return Extracted(r.cols, r.inexact)
