"""What a record is, for every reader of trails: the framing constants and the result type.

The vectorized framing (:mod:`framing`), the reference decoder (:mod:`reference`), the
damage messages (:mod:`damage`) and the stream readers all frame records by the same
facts; they live here so that none of those modules has to import another to share them
(the decoder and its oracle import this module, never each other).

Source: OpenBSM ``bsm/audit_record.h`` (token sizes); ``header32`` is the smallest header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from knox_analytics.bsm.damage import Damage

#: The smallest possible record: header32 (18 bytes) + trailer (7 bytes).
MIN_RECORD = 25
#: The fixed part of a stand-alone file token (0x11): id, u32 sec, u32 msec, u16 name length.
FILE_TOKEN_FIXED = 11
#: Where a file token's u16 name length sits, from the token id.
FILE_TOKEN_NAME_LENGTH_AT = 9


@dataclass
class DecodeResult:
    """Decoded rows of one chunk (or whole input) and what could not be used."""

    table: pa.Table
    damage: list[Damage] = field(default_factory=list)
    consumed: int = 0  # bytes of the input accounted for (the rest is an unfinished tail)

    @property
    def records(self) -> int:
        return self.table.num_rows
