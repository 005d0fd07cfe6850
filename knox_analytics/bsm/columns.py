"""Which token group fills which column of :data:`knox_analytics.schema.SCHEMA`, declared once.

Every token type in :mod:`tokens` names a *group*; this module says where a group's field
values go in the table, and back:

* **row groups**: ``header`` and ``trailer`` (every record has one), and the *singleton*
  groups -- the first token of the kind in a record fills flat columns (a second one is
  kept in ``raw_tokens``).  :data:`ROW_COLUMNS` maps each token field to its column
  (``return.errno`` -> ``return_errno``); a :data:`STRUCT_SINGLETONS` group fills one
  struct column of its name whose fields are the token's fields.
* **list groups** (:data:`LIST_GROUPS`): every token appends one element to the list column
  of the group's name -- a struct of the token's fields, or, for the one-field tokens in
  :data:`LIST_ELEMENT`, that field's value.
* **conversions**: :data:`SIGNED` fields are stored as signed integers of that many bits,
  :data:`BOOL_FIELDS` as booleans; the header's and file token's ``sec`` / ``msec`` become
  one ``time`` column by :func:`time_valid` / :func:`time_exact`.

The vectorized assembler, the reference decoder, the writer (table -> bytes) and the
renderers all read these tables; a test checks they cover every group of ``tokens.py``
and every column of the schema.

Example::

    >>> ROW_COLUMNS["return"]
    {'errno': 'return_errno', 'value': 'return_value'}
    >>> LIST_ELEMENT["paths"]
    'path'
"""

from __future__ import annotations

from typing import Any

from knox_analytics.bsm import tokens as T
from knox_analytics.schema import PROCESS_STRUCT

#: The subject (and process) token fields, in layout order: the flat subject columns and
#: the fields of each ``processes`` element carry these names.
SUBJECT_FIELDS: tuple[str, ...] = tuple(f.name for f in PROCESS_STRUCT)
#: The terminal id part of a subject (port, machine address).
TERMINAL_FIELDS = ("tid_port", "tid_addr")

#: Singleton groups filling flat columns: token field -> column.
FLAT_COLUMNS: dict[str, dict[str, str]] = {
    "subject": {f: f for f in SUBJECT_FIELDS},
    "return": {"errno": "return_errno", "value": "return_value"},
    "exit": {"status": "exit_status", "return": "exit_return"},
    "argv": {"argv": "argv"},
    "envp": {"envp": "envp"},
    "groups": {"groups": "groups"},
    "seq": {"seq": "seq"},
    "zonename": {"zonename": "zonename"},
    "file": {"name": "file_name"},  # a file token inside a record; its time has no column
}
#: Singleton groups filling one struct column of the group's name.
STRUCT_SINGLETONS = ("identity",)
#: Groups of which a record keeps the first token in columns, in assembly order.
SINGLETON_GROUPS: tuple[str, ...] = ("subject", "return", "exit", "argv", "envp", "groups",
                                     "seq", "zonename", "identity", "file")
#: The header's fields that have a column of their own (plus ``time``, from sec/msec).
HEADER_COLUMNS = {"length": "length", "version": "version", "event": "event",
                  "modifier": "modifier", "host": "host"}
#: Every group whose token fills row-level columns: token field -> column.
ROW_COLUMNS: dict[str, dict[str, str]] = {
    "header": HEADER_COLUMNS,
    "trailer": {"length": "length"},
    **FLAT_COLUMNS,
}
#: Groups whose token inside a record is also kept in ``raw_tokens``: a file token's time
#: has no column there.
ALWAYS_RAW = ("file",)
#: Groups whose ``sec`` / ``msec`` fields are the row's ``time`` (a stand-alone file token
#: is a row of its own).
TIMED_GROUPS = ("header", "file")

#: Groups whose every token appends one element to the list column of the group's name.
LIST_GROUPS: tuple[str, ...] = ("paths", "attrs", "args", "texts", "processes", "sockets",
                                "in_addrs", "ip_headers", "iports", "ipcs", "ipc_perms",
                                "opaques", "data", "uuids", "privs")
#: List groups whose elements are plain values: the token's one field that is the value.
LIST_ELEMENT: dict[str, str] = {"paths": "path", "texts": "text", "in_addrs": "addr",
                                "iports": "port", "opaques": "data"}

#: Token fields stored as signed integers of that many bits (the kernel writes -1 as u32).
SIGNED: dict[int, dict[str, int]] = {
    T.AUT_RETURN32: {"value": 32},
    T.AUT_RETURN64: {"value": 64},
    T.AUT_EXIT: {"status": 32, "return": 32},
}
#: Token fields stored as booleans (a u8 flag; only 0 and 1 round-trip through a bool).
BOOL_FIELDS: dict[int, tuple[str, ...]] = {
    T.AUT_IDENTITY: ("signing_id_truncated", "team_id_truncated"),
}

#: Header seconds from here on (year 2242) are no time at all: ``time`` is null (and the
#: header is kept raw), as is an msec that does not fit in 32 bits.
MAX_HEADER_SEC = 1 << 33
_MSEC_LIMIT = 1 << 32


def time_valid(sec: Any, msec: Any) -> Any:
    """Whether ``sec*1000 + msec`` is the row's time (scalars or numpy arrays alike).

    An msec >= 1000 is kept as written (sec*1000 + msec) but is not :func:`time_exact`."""
    return (sec < MAX_HEADER_SEC) & (msec < _MSEC_LIMIT)


def time_exact(sec: Any, msec: Any) -> Any:
    """Whether ``time`` alone gives back ``sec`` and ``msec`` (else the token stays raw)."""
    return (sec < MAX_HEADER_SEC) & (msec < 1000)


def time_ms(sec: int, msec: int) -> int | None:
    """The one rule for header and file-token times, for one token: null when no time."""
    return sec * 1000 + msec if time_valid(sec, msec) else None


def signed(value: int, bits: int) -> int:
    """The two's-complement reading of an unsigned ``bits``-bit ``value``."""
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def group_columns(group: str) -> tuple[str, ...]:
    """The table columns a token group fills (for checks and for writers)."""
    if group in ROW_COLUMNS:
        cols = tuple(ROW_COLUMNS[group].values())
        return (*cols, "time") if group == "header" else cols
    return (group,)  # a struct singleton or a list column of the group's name
