"""What the decoder reports about input it could not use.

Two kinds, both listed (``knox convert`` prints them, ``--strict`` fails on them):

* ``skipped``: a byte range that is not part of any record (garbage, a truncated record,
  a record whose length field does not point at its trailer).  The bytes are not in the
  table; the range says exactly where they were.
* ``raw``: a record whose framing is sound but with a token the decoder cannot read (an
  unknown token id, a token that runs past the trailer).  The record *is* kept; from that
  token on its bytes are kept verbatim in ``raw_tokens``, as praudit prints them as
  ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass

from knox_analytics.bsm import tokens as T


@dataclass(frozen=True)
class Damage:
    """One damaged span: where, how long, and why."""

    source: str
    offset: int
    length: int
    reason: str
    kind: str = "skipped"  # "skipped" or "raw"

    def __str__(self) -> str:
        what = "skipped" if self.kind == "skipped" else "kept raw"
        return f"{self.source}: byte {self.offset}, {self.length} bytes {what}: {self.reason}"


def _u32(buf: bytes | memoryview, pos: int) -> int:
    return int.from_bytes(buf[pos : pos + 4], "big")


def explain_gap(buf: bytes | memoryview, start: int, stop: int, final: bool = True) -> str:
    """Say in words why the bytes ``buf[start:stop]`` are not a record.

    ``stop`` is where the next good record starts (or the end of the data).  Only called
    for damaged spans, so it may be slow and thorough.
    """
    first = buf[start]
    if first in T.HEADER_IDS and stop - start >= 5:
        length = _u32(buf, start + 1)
        available = len(buf) - start
        if length < T.MIN_RECORD:
            return f"header token 0x{first:02x} with impossible record length {length}"
        if length > available:
            return (f"truncated record: header 0x{first:02x} says {length} bytes, "
                    f"only {available} remain")
        tpos = start + length - T.TRAILER_SIZE
        return (f"bad record length {length}: no matching trailer at byte {tpos} "
                f"(found {bytes(buf[tpos:tpos + 3]).hex()})")
    if first in T.HEADER_IDS:
        return f"truncated record: {stop - start} bytes of a header token"
    if first == T.AUT_TRAILER:
        return "stray trailer without its record"
    return f"{stop - start} bytes of garbage (starts 0x{first:02x}, not a record header)"
