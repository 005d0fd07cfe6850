"""Big sorted arrays on disk (the id index, occurrence counts) read and written a slice
at a time, so that a process never holds more than a slice of them.

A memory map is cheap to search, but a lookup of random keys touches nearly every page
of what is mapped, and mapped pages count as the process's memory until unmapped: a
convert of 4 GB held its whole id index (330 MB) that way.  Here each slice is mapped
afresh and unmapped when dropped; the page cache keeps the data warm all the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np

#: Rows mapped (or copied) at once.
SLICE_ROWS = 1 << 20


def slices(arr: np.ndarray, rows: int | None = None) -> Iterator[np.ndarray]:
    """``arr`` a slice at a time; a memory map of a whole file is mapped afresh for each
    slice (the slice's mapping ends when it is dropped)."""
    rows = rows or SLICE_ROWS
    for lo in range(0, len(arr), rows):
        yield rows_of(arr, lo, min(len(arr), lo + rows))


def rows_of(arr: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Rows ``lo:hi`` of ``arr``: for a memory map of a file, a mapping of just those."""
    if isinstance(arr, np.memmap) and arr.filename is not None and hi > lo:
        return np.memmap(arr.filename, arr.dtype, "r",
                         offset=arr.offset + lo * arr.dtype.itemsize, shape=(hi - lo,))
    return arr[lo:hi]


def key_ranges(sources: list[np.ndarray], rows: int) -> Iterator[list[tuple[int, int]]]:
    """Cut sorted uniform 64-bit keys (hashes; may be memory maps, searched without
    being read whole) of several ``sources`` into key ranges of about ``rows`` keys in
    all: per range, the (start, end) of each source's rows in it."""
    total = sum(len(k) for k in sources)
    ranges = max(1, -(-total // rows))
    bounds = [k * 2**64 // ranges for k in range(ranges + 1)]
    for lo, hi in pairwise(bounds):
        yield [(int(np.searchsorted(k, np.uint64(lo))) if lo else 0,
                int(np.searchsorted(k, np.uint64(hi))) if hi < 2**64 else len(k))
               for k in sources]


def write_array(path: Path, dtype: np.dtype, total: int, pieces: Iterable[np.ndarray]) -> None:
    """Write an ``.npy`` file of ``total`` rows of ``dtype`` from ``pieces`` (in order),
    fsynced: what ``np.save`` writes, without the whole array in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False, "shape": (total,)})
        written = 0
        for piece in pieces:
            fh.write(np.ascontiguousarray(piece, dtype).tobytes())
            written += len(piece)
        if written != total:
            raise ValueError(f"{path}: {written} rows written, {total} announced")
        fh.flush()
        os.fsync(fh.fileno())
