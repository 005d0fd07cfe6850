"""Cut complete records out of a growing byte stream (FIFO, stdin, a trail being written).

Reads of ``/dev/auditpipe`` return whole records, but reads of a FIFO or stdin cut
records anywhere.  The framer walks the stream unit by unit (a record: header id, u32
length at +1, trailer ``13 b1 05`` + the same length at its end; or a stand-alone file
token 0x11) and says where the last complete unit ends.  Bytes that are neither (garbage)
count as complete too: they are handed on and the decoder reports them as damage.
"""

from __future__ import annotations

import struct

from knox_analytics.bsm import tokens as T

#: A header whose length exceeds this is taken for garbage rather than waited for
#: (the largest exec record the kernels write is far below: ARG_MAX is 1 MiB on macOS).
MAX_RECORD = 4 << 20
MIN_RECORD = 25  # header32 (18 bytes) + trailer (7 bytes)
FILE_TOKEN_FIXED = 11  # id + u32 sec + u32 msec + u16 name length
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_TRAILER = struct.Struct(">BHI")
_HEADER_IDS = frozenset(T.HEADER_IDS)


def unit_length(buf: bytes | bytearray | memoryview, pos: int, end: int) -> int:
    """Length of the unit at ``pos``: > 0 complete, < 0 = -(bytes needed in all), 0 garbage.

    Garbage means one byte that cannot start a record; the caller skips it.
    """
    first = buf[pos]
    have = end - pos
    if first in _HEADER_IDS:
        if have < 5:
            return -5
        length = _U32.unpack_from(buf, pos + 1)[0]
        if length < MIN_RECORD or length > MAX_RECORD:
            return 0
        if have < length:
            return -length
        trailer = _TRAILER.unpack_from(buf, pos + length - T.TRAILER_SIZE)
        return length if trailer == (T.AUT_TRAILER, T.TRAILER_MAGIC, length) else 0
    if first == T.AUT_OTHER_FILE32:
        if have < FILE_TOKEN_FIXED:
            return -FILE_TOKEN_FIXED
        length = FILE_TOKEN_FIXED + _U16.unpack_from(buf, pos + 9)[0]
        return length if have >= length else -length
    return 0


def complete_prefix(buf: bytes | bytearray | memoryview, start: int = 0,
                    end: int | None = None) -> tuple[int, int, int]:
    """Walk units from ``start``; return (boundary, records, bytes still needed at boundary).

    ``boundary`` is where the last complete unit (or garbage byte) ends; ``needed`` is how
    many more bytes the unit that starts there needs in all (0 when ``boundary == end``).
    """
    end = len(buf) if end is None else end
    pos, records = start, 0
    while pos < end:
        n = unit_length(buf, pos, end)
        if n > 0:
            pos += n
            records += 1
        elif n == 0:
            pos += 1
        else:
            return pos, records, -n - (end - pos)
    return pos, records, 0


class StreamFramer:
    """Feed arbitrary byte chunks, get back chunks that end on a record boundary.

    >>> f = StreamFramer()
    >>> f.feed(b"\\x14")  # one byte of a header: nothing complete yet
    (b'', 0)
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.offset = 0  # stream offset of self._buf[0]

    def feed(self, data: bytes | memoryview) -> tuple[bytes, int]:
        """Append ``data``; return (complete bytes, their stream offset)."""
        self._buf += data
        boundary, _records, _need = complete_prefix(self._buf)
        out = bytes(self._buf[:boundary])
        del self._buf[:boundary]
        start, self.offset = self.offset, self.offset + boundary
        return out, start

    def close(self) -> tuple[bytes, int]:
        """End of stream: whatever is left (a truncated record, reported by the decoder)."""
        out, start = bytes(self._buf), self.offset
        self.offset += len(out)
        self._buf.clear()
        return out, start

    @property
    def pending(self) -> int:
        """Bytes of an incomplete record held back."""
        return len(self._buf)
