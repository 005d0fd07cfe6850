"""What decoding gives: the rows of one chunk (or a whole input) and its damage.

Its own module so that every decoder -- the vectorized one (:mod:`decode`), the reference
one (:mod:`reference`) and the stream readers -- returns the same type without importing
one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from knox_analytics.bsm.damage import Damage


@dataclass
class DecodeResult:
    """Decoded rows of one chunk (or whole input) and what could not be used."""

    table: pa.Table
    damage: list[Damage] = field(default_factory=list)
    consumed: int = 0  # bytes of the input accounted for (the rest is an unfinished tail)
    #: The input bytes the rows came from (``consumed`` bytes from input offset
    #: ``raw_base``), when the reader keeps them: record identity hashes them.
    raw: bytes | None = None
    raw_base: int = 0

    @property
    def records(self) -> int:
        return self.table.num_rows
