"""Big-endian integer reads at *any* byte offset, for whole arrays of offsets at once.

BSM fields sit at arbitrary (unaligned) offsets.  Rather than slicing bytes per field, we
lay strided views over one padded copy of the chunk: ``u32[p]`` is the big-endian u32
starting at byte ``p``, so reading a field for a million tokens is one numpy gather.
"""

from __future__ import annotations

import numpy as np

# Reads past the end of the data (of a damaged token) land in zero padding instead of
# raising; every caller checks bounds before trusting a value.
PAD = 32


class ByteView:
    """A chunk of bytes with u8/u16/u32/u64 big-endian views at every byte offset."""

    __slots__ = ("n", "u8", "u16", "u32", "u64")

    def __init__(self, data: bytes | bytearray | memoryview | np.ndarray,
                 n: int | None = None) -> None:
        """View ``data``; or, for a uint8 array with room to spare, its first ``n`` bytes
        in place (the reader reuses one buffer: no copy per chunk)."""
        if isinstance(data, np.ndarray) and n is not None and len(data) >= n + PAD:
            padded = data
            padded[n : n + PAD] = 0
        else:
            n = len(data)
            padded = np.zeros(n + PAD, dtype=np.uint8)
            padded[:n] = np.frombuffer(data, dtype=np.uint8)
        self.n = n
        self.u8 = padded
        self.u16 = self._view(padded, ">u2", 2)
        self.u32 = self._view(padded, ">u4", 4)
        self.u64 = self._view(padded, ">u8", 8)

    @staticmethod
    def _view(padded: np.ndarray, dtype: str, width: int) -> np.ndarray:
        return np.ndarray(
            shape=(len(padded) - width + 1,), dtype=dtype, buffer=padded, offset=0, strides=(1,)
        )

    def read(self, kind: str, pos: np.ndarray) -> np.ndarray:
        """Read an unsigned field of ``kind`` ('u8', 'u16', 'u32', 'u64') at every offset."""
        view = {"u8": self.u8, "u16": self.u16, "u32": self.u32, "u64": self.u64}[kind]
        # astype: gathered values come back big-endian; native ints are faster downstream.
        return view[pos].astype(_NATIVE[kind])

    def bytes_at(self, start: int, stop: int) -> bytes:
        return self.u8[start:stop].tobytes()

    def rows(self, pos: np.ndarray, width: int) -> np.ndarray:
        """``width`` bytes from each offset, as an (len(pos), width) uint8 block.

        One row copy per offset: far cheaper than a gather per field.  Bytes past the
        end of the data read as zero.
        """
        pos = np.minimum(pos, self.n)
        limit = len(self.u8) - width
        # One ``width``-byte item at every offset: a 1-D gather of items copies each row
        # in one memcpy, 2-4x faster than fancy-indexing a 2-D strided view.
        windows = np.ndarray(shape=(max(limit + 1, 0),), dtype=np.dtype((np.void, width)),
                             buffer=self.u8, strides=(1,))
        fits = pos <= limit
        if fits.all():
            return windows[pos].view(np.uint8).reshape(len(pos), width)
        block = np.zeros((len(pos), width), dtype=np.uint8)
        block[fits] = windows[pos[fits]].view(np.uint8).reshape(-1, width)
        for i in np.flatnonzero(~fits):  # the last few bytes of the chunk only
            tail = self.u8[pos[i] : pos[i] + width]
            block[i, : len(tail)] = tail
        return block


_NATIVE = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64}


def ranges_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + l)`` for every (s, l), without a Python loop."""
    lengths = lengths.astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # Each run restarts from its own start: subtract the running offset of the runs.
    run_offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts.astype(np.int64) - run_offsets, lengths) + np.arange(total)
