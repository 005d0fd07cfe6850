"""Gather the tokens of a chunk into the schema's columns.

Flat columns take the first token of their kind in a record (subject, return, exit,
exec args ...); list columns keep every token in order (paths, attributes, sockets ...).
Anything the typed columns cannot reproduce byte for byte is also listed for
``raw_tokens``.  Numbers stay numpy arrays until the last step: reordering them is cheap
there, where an Arrow ``take`` per numeric column is not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from knox_analytics.bsm import columns as C
from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.arrowcols import list_array
from knox_analytics.bsm.bytesview import ByteView
from knox_analytics.bsm.extract import Extracted, extract
from knox_analytics.bsm.tables import Tables
from knox_analytics.bsm.wavefront import Tokens, Walk
from knox_analytics.schema import SCHEMA

# Which group fills which column, signedness and the time rule: columns.py.
SINGLETON_GROUPS, LIST_GROUPS = C.SINGLETON_GROUPS, C.LIST_GROUPS


def _as_signed(values: np.ndarray, bits: int) -> np.ndarray:
    return values.astype(np.uint64 if bits == 64 else np.uint32).view(
        np.int64 if bits == 64 else np.int32)


def _normalise(tid: int, ex: Extracted) -> None:
    """Field values as the columns hold them (columns.py): signed, boolean, time."""
    c = ex.columns
    for name, bits in C.SIGNED.get(tid, {}).items():
        c[name] = _as_signed(c[name], bits)
    for flag in C.BOOL_FIELDS.get(tid, ()):
        ex.inexact |= c[flag] > 1
        c[flag] = c[flag] != 0
    group = T.TOKENS_BY_ID[tid].group
    if group in C.ALWAYS_RAW:
        ex.inexact[:] = True
    elif group in C.TIMED_GROUPS:
        sec, msec = c["sec"].astype(np.uint64), c["msec"].astype(np.uint64)
        valid = C.time_valid(sec, msec)
        ex.inexact |= ~C.time_exact(sec, msec)
        ms = (np.where(valid, sec, 0) * 1000 + np.where(valid, msec, 0)).astype(np.int64)
        c["time"] = pa.array(ms, mask=~valid)


# --- assembling columns -----------------------------------------------------------------

# A column while assembling: numpy for numbers (cheap to reorder), Arrow otherwise.
Col = np.ndarray | pa.Array


@dataclass
class _Group:
    """Tokens of one column family (several ids), in trail order."""

    rec: np.ndarray
    k: np.ndarray
    pos: np.ndarray
    end: np.ndarray
    inexact: np.ndarray
    columns: dict[str, Col]


def _cast(values: Col | None, n: int, target: pa.DataType) -> Col:
    """A field's values in the schema's type; nulls when this token id lacks the field."""
    if values is None:
        return pa.nulls(n, target)
    if isinstance(values, np.ndarray) and _is_numeric(target):
        return values.astype(_NUMPY_TYPES[target.id], copy=False)
    arr = values if isinstance(values, pa.Array) else pa.array(values)
    return arr.cast(target) if arr.type != target else arr


# Arrow type id -> numpy dtype (DataType.to_pandas_dtype would import pandas).
_NUMPY_TYPES = {pa.from_numpy_dtype(np.dtype(t)).id: np.dtype(t) for t in
                ("u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "bool")}


def _is_numeric(type_: pa.DataType) -> bool:
    return type_.id in _NUMPY_TYPES


def _take(values: Col, idx: np.ndarray | None) -> Col:
    """``values[idx]``; None means every row, as they are (no copy)."""
    if idx is None:
        return values
    return values[idx] if isinstance(values, np.ndarray) else values.take(pa.array(idx))


def _arrow(values: Col, type_: pa.DataType) -> pa.Array:
    arr = pa.array(values, type_) if isinstance(values, np.ndarray) else values
    return arr.cast(type_) if arr.type != type_ else arr


def _merge(parts: list[tuple[Tokens, Extracted]], types: dict[str, pa.DataType]) -> _Group:
    """Concatenate the tokens of several ids of one family and restore trail order."""
    if len(parts) == 1:  # one token id: already in trail order
        t, ex = parts[0]
        cols = {name: _cast(ex.columns.get(name), len(t.pos), target)
                for name, target in types.items()}
        return _Group(t.rec, t.k, t.pos, t.end, ex.inexact, cols)
    pos = np.concatenate([t.pos for t, _ in parts])
    order = np.argsort(pos, kind="stable")
    cols: dict[str, Col] = {}
    for name, target in types.items():
        pieces = [_cast(ex.columns.get(name), len(t.pos), target) for t, ex in parts]
        if all(isinstance(p, np.ndarray) for p in pieces):
            cols[name] = np.concatenate(pieces)[order]
        else:
            arrow = [_arrow(p, target) for p in pieces]
            cols[name] = pa.concat_arrays(arrow).take(pa.array(order))
    cat = lambda attr: np.concatenate([getattr(t, attr) for t, _ in parts])[order]  # noqa: E731
    inexact = np.concatenate([ex.inexact for _, ex in parts])[order]
    return _Group(cat("rec"), cat("k"), pos[order], cat("end"), inexact, cols)


def _scatter(nrec: int, rec: np.ndarray, values: Col, type_: pa.DataType) -> pa.Array:
    """Record-level column: ``values[i]`` lands in row ``rec[i]``; other rows are null."""
    if len(rec) == nrec:  # every record has one (rec is sorted and unique): as is
        return _arrow(values, type_)
    if isinstance(values, np.ndarray):
        out = np.zeros(nrec, dtype=values.dtype)
        out[rec] = values
        present = np.zeros(nrec, dtype=bool)
        present[rec] = True
        return pa.array(out, type_, mask=~present)
    where = np.full(nrec, -1, dtype=np.int64)
    where[rec] = np.arange(len(rec))
    return _arrow(values, type_).take(pa.array(where, mask=where < 0))


class Assembler:
    """Turns the walked tokens of a chunk into the schema's columns."""

    def __init__(self, view: ByteView, walked: Walk, nrec: int) -> None:
        self.view, self.walked, self.nrec = view, walked, nrec
        self.columns: dict[str, pa.Array] = {}
        # raw token pieces: (rec, k, start, stop, typed)
        self.raw: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.families: dict[str, list[tuple[Tokens, Extracted]]] = defaultdict(list)
        for tid, toks in walked.by_id.items():
            ex = extract(view, tid, toks.pos, toks.end)
            _normalise(tid, ex)
            self.families[T.TOKENS_BY_ID[tid].group].append((toks, ex))
        for rec, k, start, stop in walked.raw:
            self.raw.append((rec, k, start, stop, np.zeros(len(rec), dtype=bool)))

    def _note_inexact(self, g: _Group, mask: np.ndarray, typed: bool) -> None:
        if mask.any():
            self.raw.append((g.rec[mask], g.k[mask], g.pos[mask], g.end[mask],
                             np.full(int(mask.sum()), typed)))

    def _group(self, family: str, types: dict[str, pa.DataType]) -> _Group | None:
        parts = self.families.get(family)
        return _merge(parts, types) if parts else None

    def header(self, starts: np.ndarray, lengths: np.ndarray) -> None:
        # The first 10 bytes are the same in every header variant and framing vouches for
        # them, so read them directly: a header with a malformed address still gets a row.
        view = self.view
        self.columns["header_token"] = pa.array(view.u8[starts])
        self.columns["length"] = pa.array(lengths.astype(np.uint32))
        self.columns["version"] = pa.array(view.read("u8", starts + 5))
        self.columns["event"] = pa.array(view.read("u16", starts + 6))
        self.columns["modifier"] = pa.array(view.read("u16", starts + 8))
        g = self._group("header", {"time": pa.int64(), "host": pa.string()})
        if g is None:
            return
        self._note_inexact(g, g.inexact, True)
        self.columns["host"] = _scatter(self.nrec, g.rec, g.columns["host"], pa.string())
        self.columns["time"] = _scatter(self.nrec, g.rec, g.columns["time"],
                                        pa.int64()).cast(SCHEMA.field("time").type)

    def singleton(self, family: str) -> None:
        types = self._family_types(family)
        names = list(types)
        g = self._group(family, types)
        if g is None:
            return
        first = np.ones(len(g.rec), dtype=bool)
        first[1:] = g.rec[1:] != g.rec[:-1]
        self._note_inexact(g, g.inexact & first, True)
        self._note_inexact(g, ~first, False)
        # Usually one token of the kind per record: then there is nothing to drop.
        keep = None if first.all() else np.flatnonzero(first)
        if family in C.STRUCT_SINGLETONS:
            values = pa.StructArray.from_arrays(
                [_arrow(_take(g.columns[n], keep), types[n]) for n in names], names=names)
            self.columns[family] = _scatter(self.nrec, g.rec[first], values,
                                            SCHEMA.field(family).type)
            return
        for src, dst in C.FLAT_COLUMNS[family].items():
            self.columns[dst] = _scatter(self.nrec, g.rec[first], _take(g.columns[src], keep),
                                         SCHEMA.field(dst).type)

    def listed(self, family: str) -> None:
        list_type = SCHEMA.field(family).type
        g = self._group(family, self._family_types(family))
        if g is None:
            return
        self._note_inexact(g, g.inexact, True)
        value_type = list_type.value_type
        if pa.types.is_struct(value_type):
            arrays = [_arrow(g.columns[f.name], f.type) if f.name in g.columns
                      else pa.nulls(len(g.rec), f.type) for f in value_type]
            values = pa.StructArray.from_arrays(arrays, fields=list(value_type))
        else:
            values = _arrow(g.columns[C.LIST_ELEMENT[family]], value_type)
        counts = np.bincount(g.rec, minlength=self.nrec)
        self.columns[family] = list_array(counts, values, list_type)

    @staticmethod
    def _family_types(family: str) -> dict[str, pa.DataType]:
        """Field name -> schema type of the tokens of one family, as extracted."""
        if family in C.FLAT_COLUMNS:
            return {src: SCHEMA.field(dst).type for src, dst in C.FLAT_COLUMNS[family].items()}
        value_type = SCHEMA.field(family).type
        if pa.types.is_list(value_type):
            value_type = value_type.value_type
        if family in C.LIST_ELEMENT:  # a list of plain values
            return {C.LIST_ELEMENT[family]: value_type}
        return {f.name: f.type for f in value_type}


def raw_tokens(view: ByteView, asm: Assembler, nrec: int) -> pa.Array:
    list_type = SCHEMA.field("raw_tokens").type
    if not asm.raw:
        empty = pa.array([], list_type.value_type)
        return list_array(np.zeros(nrec, dtype=np.int64), empty, list_type, empty_is_null=False)
    rec, k, start, stop, typed = (np.concatenate(x) for x in zip(*asm.raw, strict=True))
    order = np.lexsort((k, rec))
    rec, k, start, stop, typed = rec[order], k[order], start[order], stop[order], typed[order]
    data = [view.bytes_at(int(a), int(b)) for a, b in zip(start, stop, strict=True)]
    values = pa.StructArray.from_arrays(
        [pa.array(k, pa.uint32()), pa.array(data, pa.binary()), pa.array(typed)],
        names=["index", "data", "typed"])
    return list_array(np.bincount(rec, minlength=nrec), values, list_type, empty_is_null=False)


def names(columns: dict[str, pa.Array], tables: Tables) -> None:
    events = columns["event"].to_numpy(zero_copy_only=False)
    columns["event_name"] = tables.event_names_for(events)
    columns["event_classes"] = tables.event_classes_for(events)
    errno = columns.get("return_errno")
    if errno is None:
        return
    has = ~np.asarray(errno.is_null())
    errnos = errno.fill_null(0).to_numpy(zero_copy_only=False)
    names = tables.errno_names_for(errnos)
    columns["errno_name"] = names.cast(SCHEMA.field("errno_name").type)
    columns["success"] = pa.array(errnos == 0, mask=~has)


def assemble_table(cols: dict[str, pa.Array], nrec: int, source: str) -> pa.Table:
    arrays = []
    for f in SCHEMA:
        if f.name == "source":
            arrays.append(pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(nrec, dtype=np.int32)), pa.array([source], pa.string())))
        elif f.name in cols:
            a = cols[f.name]
            arrays.append(a.cast(f.type) if a.type != f.type else a)
        else:
            arrays.append(pa.nulls(nrec, f.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)
