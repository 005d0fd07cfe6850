"""praudit-compatible text and XML from decoded tables, built column-wise.

How a chunk is printed without a Python loop per token:

1. ``token_ids`` is flattened: every token of the chunk gets its record number and kind.
2. Each token is matched to the element of a typed column that holds its values: row
   ``r`` for singletons (header, subject, return, ...), the k-th element of the kind's
   flattened list column for repeated tokens (the k-th path of the chunk is the k-th
   element of ``paths``).  Tokens kept in ``raw_tokens`` are read again from their bytes
   (praudit's policy of :mod:`knox_analytics.bsm.tokenreader`), the rare per-token path.
3. For each token id, all its tokens are formatted at once
   (:mod:`knox_analytics.render.tokenfmt`), giving one text piece per token.
4. One ``take`` puts the pieces in token order; the output is the resulting buffer.

Example::

    >>> from knox_analytics.render.tokenfmt import PrintOptions
    >>> out = render_table(SCHEMA.empty_table(), PrintOptions())
    >>> out
    b''
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.bsm import columns as C
from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.tokenreader import RawToken, iter_lenient, read_lenient
from knox_analytics.render import fields as F
from knox_analytics.render.escape import xml_array, xml_vis_array
from knox_analytics.render.rare import RARE, format_rare
from knox_analytics.render.tokenfmt import FORMATTERS, Ctx, Fmt, PrintOptions
from knox_analytics.schema import SCHEMA

__all__ = ["SCHEMA", "XML_FOOTER", "XML_HEADER", "render_table"]

XML_HEADER = b"<?xml version='1.0' ?>\n<audit>\n"
XML_FOOTER = b"</audit>\n"

_ROW_GROUPS = {*C.ROW_COLUMNS, *C.STRUCT_SINGLETONS}
_RECORD_BOUNDS = frozenset((*T.HEADER_IDS, T.AUT_TRAILER))
_GROUPS = sorted({t.group for t in T.TOKEN_TYPES})
_GROUP_CODE = np.full(256, -1, dtype=np.int16)
for _t in T.TOKEN_TYPES:
    _GROUP_CODE[_t.id] = _GROUPS.index(_t.group)


# --- assembling one kind's pieces ------------------------------------------------------


def _text_piece(f: Fmt, tid: int, n: int, opts: PrintOptions, suffix: bytes) -> pa.Array:
    name = str(tid) if opts.raw else f.name
    if f.shape == "list":
        lst = _as_bin_list(f.fields[0][1])
        joined = pc.binary_join(lst, pa.scalar(opts.delimiter.encode(), F.BIN))
        empty = pc.equal(pc.list_value_length(lst), 0)
        return pc.if_else(empty, pa.scalar(name.encode() + suffix, F.BIN),
                          F.cat(name, opts.delimiter, joined, suffix))
    values = [v for a, v in f.fields if a is None or not a.startswith("@")]
    if not values:
        return pa.array([name.encode() + suffix] * n, F.BIN)
    parts: list[Any] = [name]
    for v in values:  # one concatenation per kind: name, delimiter, value, ..., suffix
        parts += [opts.delimiter, v]
    return F.cat(*parts, suffix)


def _as_bin_list(lst: Any) -> pa.Array:
    if isinstance(lst, pa.ChunkedArray):
        lst = lst.combine_chunks()
    if lst.type.value_type != F.BIN:
        lst = lst.cast(pa.list_(F.BIN))
    return lst


def _esc(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type == F.BIN:
        try:
            values = values.cast(pa.string())
        except pa.ArrowInvalid:
            return F.as_bin(xml_array(values))
    return F.as_bin(xml_array(values))


def _xml_piece(f: Fmt, n: int) -> pa.Array:
    if f.shape == "end":
        return pa.array([b"</record>"] * n, F.BIN)
    if f.shape == "list":
        return _xml_list(f)
    attrs, body = [], None
    for a, v in f.fields:
        if a is None:
            continue
        value = _esc(v) if a in f.escape or a.lstrip("@") in f.escape else v
        if a == "":
            body = value
        else:
            attrs += [f'{a.lstrip("@")}="', value, '" ']
    if f.shape == "record":
        return F.cat("<record ", *attrs, ">")
    if body is not None:
        opening = F.cat(f"<{f.elem} ", *attrs, ">") if attrs else f"<{f.elem}>"
        return F.cat(opening, body, f"</{f.elem}>")
    return F.cat(f"<{f.elem} ", *attrs, "/>")


def _xml_list(f: Fmt) -> pa.Array:
    lst = f.fields[0][1]
    if isinstance(lst, pa.ChunkedArray):
        lst = lst.combine_chunks()
    values = lst.flatten()
    escaped = xml_vis_array(values) if f.child in ("arg", "env") else _esc(values)
    wrapped = F.cat(f"<{f.child}>", escaped, f"</{f.child}>")
    offsets = lst.offsets.to_numpy()
    rebuilt = pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), wrapped)
    return F.cat(f"<{f.elem}>", pc.binary_join(rebuilt, pa.scalar(b"", F.BIN)),
                 f"</{f.elem}>")


def _pieces(f: Fmt, tid: int, n: int, opts: PrintOptions, suffix: bytes) -> pa.Array:
    if opts.xml:
        out = _xml_piece(f, n)
        return F.cat(out, suffix) if suffix else out
    return _text_piece(f, tid, n, opts, suffix)


def _format(values: dict[str, Any] | list[dict[str, Any]], tid: int, ctx: Ctx, *,
            invalid: bool = False) -> Fmt:
    if invalid or tid in RARE or tid not in FORMATTERS:
        rows = values if isinstance(values, list) else _rows(values)
        return format_rare(rows, tid, ctx, invalid=invalid)
    return FORMATTERS[tid](values if isinstance(values, dict) else _columns(values), tid, ctx)


def _rows(columns: dict[str, Any]) -> list[dict[str, Any]]:
    lists = {k: (v.to_pylist() if hasattr(v, "to_pylist") else list(v))
             for k, v in columns.items()}
    n = len(next(iter(lists.values()))) if lists else 0
    return [{k: v[i] for k, v in lists.items()} for i in range(n)]


def _columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in rows[0]:
        vals = [r[key] for r in rows]
        if isinstance(vals[0], list):
            out[key] = pa.array(vals, pa.list_(F.BIN))
        elif isinstance(vals[0], bytes | str):  # print_string skips NUL bytes
            out[key] = pa.array([(v.encode() if isinstance(v, str) else v).replace(b"\0", b"")
                                 for v in vals], F.BIN)
        else:
            out[key] = pa.array(vals, pa.uint64() if max(vals) >= 1 << 63 else pa.int64())
    return out


# --- values of typed tokens from the table ---------------------------------------------


def _row_values(table: pa.Table, group: str, rows: np.ndarray) -> dict[str, Any]:
    every_row = len(rows) == table.num_rows  # header, trailer, often subject: no gather
    idx = None if every_row else pa.array(rows)

    def col(name: str) -> pa.Array:
        column = table.column(name)
        return (column if idx is None else column.take(idx)).combine_chunks()

    if group in C.STRUCT_SINGLETONS:
        return _struct_fields(col(group))
    vals = {f: col(c) for f, c in C.ROW_COLUMNS[group].items()}
    if group in C.TIMED_GROUPS:
        ms = col("time").cast(pa.int64()).to_numpy(zero_copy_only=False)
        vals.update(sec=ms // 1000, msec=ms % 1000)
    return vals


def _struct_fields(arr: pa.Array) -> dict[str, Any]:
    return {arr.type.field(i).name: arr.field(i) for i in range(arr.type.num_fields)}


def _list_values(flat: dict[str, pa.Array], group: str, elems: np.ndarray
                 ) -> dict[str, Any]:
    values = flat[group].take(pa.array(elems))
    if group in C.LIST_ELEMENT:
        return {C.LIST_ELEMENT[group]: values}
    return _struct_fields(values)


# --- the chunk ------------------------------------------------------------------------------


class _Plan:
    """Where every token of a chunk gets its text: flattened ids, records, raw flags."""

    def __init__(self, table: pa.Table) -> None:
        ids = table.column("token_ids").combine_chunks()
        offs = ids.offsets.to_numpy().astype(np.int64)
        self.offsets = offs - offs[0]
        self.ids = ids.flatten().to_numpy(zero_copy_only=False).astype(np.int16)
        n_tok = len(self.ids)
        lengths = np.diff(self.offsets)
        self.rec = np.repeat(np.arange(len(lengths)), lengths)
        self.pos = np.arange(n_tok) - self.offsets[self.rec]
        self.raw = np.zeros(n_tok, dtype=bool)
        self.untyped = np.zeros(n_tok, dtype=bool)
        self.raw_data: dict[int, bytes] = {}
        raw = table.column("raw_tokens").combine_chunks()
        if len(raw.flatten()):
            self._mark_raw(raw)
        self.last = np.zeros(n_tok, dtype=bool)
        self.last[self.offsets[1:][lengths > 0] - 1] = True

    def _mark_raw(self, raw: pa.ListArray) -> None:
        offs = raw.offsets.to_numpy().astype(np.int64)
        offs -= offs[0]
        rec = np.repeat(np.arange(len(offs) - 1), np.diff(offs))
        items = raw.flatten()
        where = self.offsets[rec] + items.field("index").to_numpy().astype(np.int64)
        typed = items.field("typed").to_numpy(zero_copy_only=False).astype(bool)
        self.raw[where] = True
        self.untyped[where] = ~typed
        for w, data in zip(where.tolist(), items.field("data").to_pylist(), strict=True):
            self.raw_data[w] = data

    def element_index(self, groups: np.ndarray) -> np.ndarray:
        """For each token: its row (row groups) or its rank within its list column."""
        elem = self.rec.copy()
        counted = ~self.untyped & (groups >= 0)
        keys = np.where(counted, groups, len(_GROUPS)).astype(np.int16)
        order = np.argsort(keys, kind="stable")
        counts = np.bincount(keys, minlength=len(_GROUPS) + 1)
        starts = np.cumsum(counts) - counts
        rank = np.arange(len(order)) - np.repeat(starts, counts)
        is_list = np.array([g not in _ROW_GROUPS for g in _GROUPS] + [False])
        list_tok = is_list[keys[order]]
        elem[order[list_tok]] = rank[list_tok]
        return elem


def _token_groups(plan: _Plan, table: pa.Table) -> np.ndarray:
    groups = _GROUP_CODE[plan.ids].astype(np.int16)
    # a header id at position 0 is the header; a stand-alone file token is a "file" row
    header_rows = table.column("header_token").to_numpy()
    first = plan.pos == 0
    file_rows = first & (header_rows[plan.rec] == T.AUT_OTHER_FILE32)
    groups[file_rows] = _GROUPS.index("file")
    return groups


def render_table(table: pa.Table, opts: PrintOptions, ctx: Ctx | None = None) -> bytes:
    """praudit's output (text or ``-x`` XML body) for every row of a decoded table."""
    ctx = ctx or Ctx(opts)
    if table.num_rows == 0:
        return b""
    plan = _Plan(table)
    groups = _token_groups(plan, table)
    elems = plan.element_index(groups)
    sep = b"" if (opts.xml and opts.oneline) else \
        (opts.delimiter.encode() if opts.oneline else b"\n")
    end = b"\n" if opts.oneline else b""  # -l: a newline after each record's last token
    pool: list[pa.Array] = []
    take = np.zeros(len(plan.ids), dtype=np.int64)
    base = 0
    flat_cols: dict[str, pa.Array] = {}
    typed = ~plan.raw
    keys = np.where(typed, plan.ids, 999)
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    for sel in np.split(order, bounds):
        if len(sel) == 0 or keys[sel[0]] == 999:
            continue
        tid = int(plan.ids[sel[0]])
        group = _GROUPS[groups[sel[0]]] if groups[sel[0]] >= 0 else ""
        values = _typed_values(table, group, sel, plan, elems, flat_cols)
        fmt = _format(values, tid, ctx)
        last = plan.last[sel]
        if last.all() or not last.any():
            pool.append(_pieces(fmt, tid, len(sel), opts, sep + end if last.all() else sep))
        else:
            pool.append(_with_end(_pieces(fmt, tid, len(sel), opts, sep), last, end))
        take[sel] = base + np.arange(len(sel))
        base += len(sel)
    raw_idx = np.flatnonzero(plan.raw)
    if len(raw_idx):
        pool.append(_raw_pieces(plan, raw_idx, ctx, sep, end))
        take[raw_idx] = base + np.arange(len(raw_idx))
        base += len(raw_idx)
    return _interleave(pool, take)


def _typed_values(table: pa.Table, group: str, sel: np.ndarray, plan: _Plan,
                  elems: np.ndarray, flat_cols: dict[str, pa.Array]) -> dict[str, Any]:
    if group in _ROW_GROUPS:
        return _row_values(table, group, plan.rec[sel])
    if group not in flat_cols:
        flat_cols[group] = table.column(group).combine_chunks().flatten()
    return _list_values(flat_cols, group, elems[sel])


def _with_end(pieces: pa.Array, last: np.ndarray, end: bytes) -> pa.Array:
    """Append ``end`` to the pieces of tokens that end their record (trailers, mostly)."""
    if not end or not last.any():
        return pieces
    if last.all():
        return F.cat(pieces, end)
    return pc.if_else(pa.array(last), F.cat(pieces, end), pieces)


def _interleave(pool: list[pa.Array], take: np.ndarray) -> bytes:
    """Put the pieces in token order: one gather, one copy out."""
    out = pa.concat_arrays(pool).take(pa.array(take))
    _validity, offsets, data = out.buffers()
    if data is None:
        return b""
    offs = np.frombuffer(offsets, dtype=np.int32)[out.offset:out.offset + len(out) + 1]
    return data.slice(int(offs[0]), int(offs[-1] - offs[0])).to_pybytes()


# --- the rare path: tokens kept as raw bytes ----------------------------------------------


def _raw_pieces(plan: _Plan, raw_idx: np.ndarray, ctx: Ctx, sep: bytes, end: bytes
                ) -> pa.Array:
    """Text for every raw token slot (a slot may hold several tokens praudit can read)."""
    batches: dict[tuple[int, bool], list[dict[str, Any]]] = defaultdict(list)
    where: list[list[tuple[tuple[int, bool], int]]] = []
    for i in raw_idx.tolist():
        data = plan.raw_data[i]
        toks = [read_lenient(data, 0, len(data))] if not plan.untyped[i] else \
            list(iter_lenient(data))
        refs = []
        for k, tok in enumerate(toks):
            if ctx.opts.xml and (k or plan.pos[i]) and tok.id in _RECORD_BOUNDS:
                # a header/trailer id inside a record (damage) must not open/close <record>
                tok = RawToken(tok.id, {"hex": tok.data[1:]}, tok.data, invalid=True)
            key = (tok.id, tok.invalid)
            refs.append((key, len(batches[key])))
            batches[key].append(_raw_values(tok))
        where.append(refs)
    texts = {key: _pieces(_format(rows, key[0], ctx, invalid=key[1]), key[0], len(rows),
                          ctx.opts, sep).to_pylist()
             for key, rows in batches.items()}
    last = plan.last[raw_idx].tolist()
    # XML: an unreadable header still opens the record that the trailer closes
    opens = [ctx.opts.xml and p == 0 and refs[0][0][1]
             for p, refs in zip(plan.pos[raw_idx].tolist(), where, strict=True)]
    return pa.array([(b"<record>" + sep if op else b"")
                     + b"".join(texts[key][j] for key, j in refs) + (end if is_last else b"")
                     for refs, is_last, op in zip(where, last, opens, strict=True)], F.BIN)


def _raw_values(tok: RawToken) -> dict[str, Any]:
    values = dict(tok.values)
    if tok.id in (T.AUT_RETURN32, T.AUT_RETURN64) and not tok.invalid:
        # the return value as the typed column holds it (praudit prints exit's %u)
        values.update({f: C.signed(values[f], bits) for f, bits in C.SIGNED[tok.id].items()})
    return values
