"""One door to the decoder for the live tools: bytes in, DecodeResult out.

The vectorized decoder (``knox_analytics.bsm.decode.decode_bytes``) is used when present;
until it lands, the reference decoder gives the same table.  A chunk without any record
is reported as damage instead of raising: a live stream may carry pure garbage.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from knox_analytics.bsm.damage import Damage, explain_gap
from knox_analytics.errors import NotBSMError
from knox_analytics.schema import SCHEMA


def _decoder() -> Any:
    try:
        from knox_analytics.bsm.decode import decode_bytes
    except ModuleNotFoundError as exc:  # pragma: no cover - only while decode.py is missing
        if exc.name != "knox_analytics.bsm.decode":
            raise
        from knox_analytics.bsm.reference import decode_reference as decode_bytes
    return decode_bytes


def decode_chunk(data: bytes | memoryview, source: str, base_offset: int = 0) -> Any:
    """Decode whole records; returns an object with ``.table`` (SCHEMA) and ``.damage``."""
    decode = _decoder()
    try:
        return decode(data, source, base_offset=base_offset)
    except NotBSMError:
        result = decode(b"", source, base_offset=base_offset)
        result.damage.append(Damage(source, base_offset, len(data),
                                    explain_gap(data, 0, len(data)), "skipped"))
        return result


def empty_table() -> pa.Table:
    """A table with SCHEMA and no rows."""
    return SCHEMA.empty_table()
