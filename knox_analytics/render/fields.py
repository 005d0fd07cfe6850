"""Column-wise formatting: whole Arrow/numpy columns to text, printf-style.

Every helper takes a column (all tokens of one kind in a chunk) and returns a ``binary``
array (binary, not string: praudit prints strings byte for byte, valid UTF-8 or not).
This is what makes ``knox print`` fast: one pyarrow/numpy call per field, never a Python
call per token.

Example::

    >>> import numpy as np
    >>> hex_prefixed(np.array([0, 255], dtype=np.uint64)).to_pylist()
    [b'0x0', b'0xff']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from knox_analytics.zones import Zone

BIN = pa.binary()
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def as_bin(value: Any) -> Any:
    """A binary array/scalar from an array, str or bytes (for concatenation)."""
    if isinstance(value, str):
        return pa.scalar(value.encode(), BIN)
    if isinstance(value, bytes):
        return pa.scalar(value, BIN)
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if value.type == BIN:
        return value
    if pa.types.is_large_string(value.type) or pa.types.is_large_binary(value.type):
        value = value.cast(pa.string() if pa.types.is_large_string(value.type) else BIN)
    if value.type == pa.string():
        return value.view(BIN)
    if pa.types.is_dictionary(value.type):
        return as_bin(value.dictionary_decode())
    return dec(value)


def cat(*parts: Any) -> pa.Array:
    """Concatenate arrays and constants element-wise (null in, null out)."""
    return pc.binary_join_element_wise(*[as_bin(p) for p in parts], pa.scalar(b"", BIN))


def join_with(sep: str, *parts: Any) -> pa.Array:
    """``sep.join(parts)`` element-wise."""
    return pc.binary_join_element_wise(*[as_bin(p) for p in parts],
                                       pa.scalar(sep.encode(), BIN))


def dec(arr: Any) -> pa.Array:
    """``%u`` / ``%d``: integers in decimal, as their Arrow type says (signed or not)."""
    if isinstance(arr, np.ndarray):
        arr = pa.array(arr)
    return pc.cast(arr, pa.string()).view(BIN)


def dec_signed32(arr: Any) -> pa.Array:
    """``%d`` of a 32-bit value: 4294967295 prints as -1 (praudit's print_user/group)."""
    values = _np(arr).astype(np.uint32, copy=False).view(np.int32)
    return dec(pa.array(values))


def dec_low32(arr: Any, signed: bool) -> pa.Array:
    """The low 32 bits of a wider value (praudit's ``%u``/``%d`` of a u64)."""
    values = _np(arr).astype(np.uint64, copy=False).astype(np.uint32)
    return dec(pa.array(values.view(np.int32) if signed else values))


def _np(arr: Any) -> np.ndarray:
    if isinstance(arr, np.ndarray):
        return arr
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.to_numpy(zero_copy_only=False)


def _radix(values: np.ndarray, bits: int, ndigits: int) -> pa.Array:
    """Digits of unsigned ``values`` in base 2**bits, no leading zeros (one digit for 0)."""
    v = values.astype(np.uint64, copy=False)
    top = int(v.max()) if len(v) else 0
    ndigits = max(1, min(ndigits, -(-top.bit_length() // bits)))  # no all-zero columns
    shifts = np.arange(ndigits - 1, -1, -1, dtype=np.uint64) * np.uint64(bits)
    digits = (v[:, None] >> shifts[None, :]) & np.uint64((1 << bits) - 1)
    nonzero = digits != 0
    first = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), ndigits - 1)
    keep = np.arange(ndigits)[None, :] >= first[:, None]
    chars = _HEX_DIGITS[digits.astype(np.intp)][keep]
    lengths = ndigits - first
    offsets = np.zeros(len(v) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(BIN, len(v), [None, pa.py_buffer(offsets),
                                               pa.py_buffer(chars.tobytes())])


def hex_digits(arr: Any) -> pa.Array:
    """``%x`` of unsigned values (up to 64 bits)."""
    return _radix(_np(arr), 4, 16)


def hex_prefixed(arr: Any) -> pa.Array:
    """``0x%x``: always prefixed, ``0x0`` for zero (praudit's argument value)."""
    return cat("0x", hex_digits(arr))


def hex_alt(arr: Any) -> pa.Array:
    """``%#x``: prefixed except zero, which prints ``0`` (C's alternate form)."""
    values = _np(arr)
    digits = hex_digits(values)
    return pc.if_else(pa.array(values == 0), pa.scalar(b"0", BIN), cat("0x", digits))


def octal(arr: Any) -> pa.Array:
    """``%o`` of 32-bit unsigned values (file modes)."""
    return _radix(_np(arr), 3, 22)


def hex_bytes(arr: pa.Array) -> pa.Array:
    """``print_mem``: ``0x`` + two hex digits per byte; empty for no bytes."""
    out = [b"0x" + v.hex().encode() if v else b"" for v in arr.to_pylist()]
    return pa.array(out, BIN)


def lookup(table: pa.Array, index: Any) -> pa.Array:
    """``table[index]`` for a whole column of indices (event names, errno texts)."""
    return as_bin(table.take(pa.array(_np(index).astype(np.int64, copy=False))))


def map_unique(values: Any, fn: Any) -> pa.Array:
    """Apply a Python function once per distinct value and spread the results back."""
    v = _np(values)
    uniq, inverse = np.unique(v, return_inverse=True)
    mapped = pa.array([fn(int(u)) for u in uniq], BIN)
    return mapped.take(pa.array(inverse.reshape(-1)))


# --- time ---------------------------------------------------------------------------------

def ctime(seconds: Any, zone: Zone) -> pa.Array:
    """ctime() without the newline, in ``zone``: ``Sun Mar  1 09:00:00 2026``."""
    sec = _np(seconds).astype(np.int64, copy=False)
    local = sec + zone.offsets(sec)
    # format each run of equal seconds once (records arrive many per second, in order)
    if len(local) == 0:
        return pa.array([], BIN)
    starts = np.flatnonzero(np.r_[True, local[1:] != local[:-1]])
    run = np.cumsum(np.r_[True, local[1:] != local[:-1]]) - 1
    heads = pa.array(local[starts]).cast(pa.timestamp("s"))
    text = pc.strftime(heads, format="%a %b %e %H:%M:%S %Y").view(BIN)
    return text.take(pa.array(run))
