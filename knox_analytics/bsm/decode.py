"""The vectorized BSM decoder: bytes in, one Arrow row per record out.

1. :mod:`framing` finds every record of the chunk at once.
2. :mod:`wavefront` walks the tokens of all records in lockstep.
3. :mod:`extract` reads each token id's fields for the whole chunk, and :mod:`assemble`
   gathers them into the schema's columns.

Anything the typed columns cannot reproduce byte for byte is also kept verbatim in
``raw_tokens``, so :func:`knox_analytics.bsm.encode.table_to_trail` restores the input.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.assemble import Assembler, assemble_table, names, raw_tokens
from knox_analytics.bsm.bytesview import ByteView
from knox_analytics.bsm.columns import LIST_GROUPS, SINGLETON_GROUPS
from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.framing import frame
from knox_analytics.bsm.result import DecodeResult
from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.bsm.tokenreader import Undecodable, read_strict
from knox_analytics.bsm.wavefront import token_ids, wavefront
from knox_analytics.errors import NotBSMError
from knox_analytics.schema import SCHEMA

__all__ = ["DecodeResult", "decode_bytes", "decode_view"]


def _records_table(view: ByteView, starts: np.ndarray, lengths: np.ndarray, source: str,
                   base_offset: int, tables: Tables) -> tuple[pa.Table, list[Damage]]:
    nrec = len(starts)
    limit = starts + lengths - T.TRAILER_SIZE
    walked = wavefront(view, starts, limit)
    asm = Assembler(view, walked, nrec)
    asm.header(starts, lengths)
    for family in SINGLETON_GROUPS:
        asm.singleton(family)
    for family in LIST_GROUPS:
        asm.listed(family)
    cols = asm.columns
    cols["offset"] = pa.array(starts + base_offset, pa.int64())
    cols["token_ids"] = token_ids(view, walked, starts)
    cols["raw_tokens"] = raw_tokens(view, asm, nrec)
    names(cols, tables)
    damage = [
        Damage(source, base_offset + int(p), int(limit[r] - p),
               _undecodable_reason(view, int(starts[r]), int(p), int(limit[r])), "raw")
        for rec, pos, _tid in walked.undecodable
        for r, p in zip(rec, pos, strict=True)
    ]
    return assemble_table(cols, nrec, source), damage


def _undecodable_reason(view: ByteView, start: int, pos: int, limit: int) -> str:
    """Why a token could not be read, in the strict token reader's words (rare: one token
    at a time).  The wavefront found *where* decoding stops on its own."""
    try:
        record = view.bytes_at(start, limit + T.TRAILER_SIZE)
        read_strict(record, pos - start, limit - start, inside=pos != start)
    except Undecodable as exc:
        return str(exc)
    return f"token 0x{int(view.u8[pos]):02x} could not be read"  # pragma: no cover


def _file_token_rows(view: ByteView, spans: list[tuple[int, int]], source: str,
                     base_offset: int) -> pa.Table:
    """Rows for auditd's stand-alone file tokens (a handful per trail: plain Python)."""
    rows = []
    for pos, length in spans:
        sec, msec = int(view.u32[pos + 1]), int(view.u32[pos + 5])
        name_bytes = view.bytes_at(pos + 11, pos + length - 1)
        exact = msec < 1000 and b"\x00" not in name_bytes
        try:
            name = name_bytes.decode("utf-8")
        except UnicodeDecodeError:
            name, exact = name_bytes.decode("utf-8", errors="backslashreplace"), False
        raw = [] if exact else [{"index": 0, "data": view.bytes_at(pos, pos + length),
                                 "typed": True}]
        rows.append({
            "source": source, "offset": base_offset + pos, "length": length,
            "header_token": T.AUT_OTHER_FILE32, "time": sec * 1000 + msec,
            "file_name": name.split("\x00", 1)[0], "token_ids": [T.AUT_OTHER_FILE32],
            "raw_tokens": raw,
        })
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _with_file_rows(records: pa.Table, files: pa.Table) -> pa.Table:
    """Place the stand-alone file-token rows among the records, in trail order.

    auditd writes them at a trail's start and end, so they usually go before or after
    every record (a zero-copy concatenation); only elsewhere (trails concatenated in one
    chunk) is the whole chunk reordered.
    """
    offsets = records["offset"].to_numpy()
    file_offsets = files["offset"].to_numpy()
    if not len(offsets):
        return files
    before = file_offsets < offsets[0]
    after = file_offsets > offsets[-1]
    if (before | after).all():
        keep = [files.filter(pa.array(before)), records, files.filter(pa.array(after))]
        return pa.concat_tables(keep)
    table = pa.concat_tables([records, files])
    order = np.argsort(table["offset"].to_numpy(), kind="stable")
    return table.take(pa.array(order))


def decode_bytes(data: bytes | bytearray | memoryview | ByteView, source: str = "<bytes>", *,
                 base_offset: int = 0, final: bool = True, tables: Tables | None = None,
                 require_bsm: bool = True) -> DecodeResult:
    """Decode every record in ``data``.

    ``base_offset`` is where ``data`` starts in the source (offsets in rows and damage are
    absolute).  With ``final=False`` an unfinished record at the end is not decoded:
    ``result.consumed`` tells where the caller should continue.  Raises
    :class:`NotBSMError` when ``require_bsm`` and the data holds no record at all.

    >>> decode_bytes(open("trail.bsm", "rb").read(), "trail.bsm").table.num_rows  # doctest: +SKIP
    """
    view = data if isinstance(data, ByteView) else ByteView(data)
    return decode_view(view, source, base_offset=base_offset, final=final, tables=tables,
                       require_bsm=require_bsm)


def decode_view(view: ByteView, source: str = "<bytes>", *, base_offset: int = 0,
                final: bool = True, tables: Tables | None = None,
                require_bsm: bool = True) -> DecodeResult:
    """:func:`decode_bytes` over a :class:`ByteView` the caller owns (no copy)."""
    tables = tables or load_tables()
    fr = frame(view, source, base_offset, final)
    if require_bsm and final and view.n and not len(fr.starts) and not fr.file_tokens:
        detail = fr.damage[0].reason if fr.damage else ""
        raise NotBSMError(source, detail)
    table, damage = _records_table(view, fr.starts, fr.lengths, source, base_offset, tables)
    if fr.file_tokens:
        table = _with_file_rows(table, _file_token_rows(view, fr.file_tokens, source,
                                                        base_offset))
    damage = sorted(fr.damage + damage, key=lambda d: d.offset)
    return DecodeResult(table, damage, fr.consumed)
