"""The BSM lookup tables as data: events, classes, errno, socket domains/types, fcntl.

The data files live in ``knox_analytics/data/`` (generated from the vendored OpenBSM files
by ``tools/gen_tables.py``; BSD licence, see ``data/LICENSE.openbsm``):

==========================  ===========================================================
``audit_event``             audit_event(5) ``number:AUE_NAME:description:classes``
``audit_class``             audit_class(5) ``mask:code:description``
``bsm_errno.tsv``           BSM portable errno -> name, OpenBSM text, Linux errno and
                            the text praudit prints on Linux (see :class:`ErrnoTable`)
``bsm_socket_domain.tsv``   BSM socket domain (audit_domain.h) -> ``PF_*`` name
``bsm_socket_type.tsv``     BSM socket type (audit_socket_type.h) -> ``SOCK_*`` name
``bsm_fcntl.tsv``           BSM fcntl command (audit_fcntl.h) -> ``F_*`` name
==========================  ===========================================================

The text formats (and where the files are) live in :mod:`knox_analytics.bsm.tablefiles`,
the class table and class expressions in :mod:`knox_analytics.bsm.classes` (both pure
Python); this module adds the numpy/Arrow lookups the decoder needs.

Every table is a small frozen object with scalar lookups and numpy lookup arrays, so a
decoder maps a whole column at once::

    >>> t = load_tables("builtin")
    >>> t.events.name(23), t.events.class_names(23), t.errnos.name(2)
    ('AUE_EXECVE', 'pc,ex', 'ENOENT')
    >>> t.event_names_for(np.array([23, 1, 44999], dtype=np.uint16)).to_pylist()
    ['AUE_EXECVE', 'AUE_EXIT', None]

The vectorized lookups return ``pa.DictionaryArray`` (int32 indices, string dictionary,
the schema's type) whose dictionary is the *same* array for every call on one table, so
batches from different chunks share one dictionary.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from knox_analytics.bsm.classes import ClassTable, parse_class_file
from knox_analytics.bsm.tablefiles import (
    CLASS_FILE,
    EVENT_FILE,
    HOST_DIR,
    N_EVENTS,
    EventEntry,
    content_lines,
    package_file,
    parse_event_file,
    read_table_text,
    resolve,
)

__all__ = ["ClassTable", "EventEntry", "EventTable", "Tables", "load_tables",
           "parse_class_file", "parse_event_file"]
N_ERRNOS = 1 << 8  # the return token's errno is one byte

Codes = np.ndarray | pa.Array | pa.ChunkedArray | Sequence[int]


# --- vectorized dictionary lookups --------------------------------------------------------
class _Lookup(NamedTuple):
    """number -> index into ``dictionary`` (-1: no value), for ``DictionaryArray`` output."""

    index: np.ndarray  # int32, one slot per possible number
    dictionary: pa.Array  # unique strings

    @classmethod
    def build(cls, size: int, values: Iterable[tuple[int, str]]) -> _Lookup:
        """Index ``(number, value)`` pairs; equal values share one dictionary entry."""
        index = np.full(size, -1, dtype=np.int32)
        seen: dict[str, int] = {}
        for number, value in values:
            index[number] = seen.setdefault(value, len(seen))
        index.flags.writeable = False
        return cls(index, pa.array(list(seen), type=pa.string()))

    def take(self, codes: Codes) -> pa.DictionaryArray:
        """Map ``codes`` (nulls and numbers without a value -> null) to a DictionaryArray."""
        values, valid = _as_numpy(codes)
        idx = _gather(self.index, values)
        null = idx < 0
        if valid is not None:
            null |= ~valid
        indices = pa.array(idx, type=pa.int32(), mask=null if null.any() else None)
        return pa.DictionaryArray.from_arrays(indices, self.dictionary, safe=False)


def _as_numpy(codes: Codes) -> tuple[np.ndarray, np.ndarray | None]:
    """Integer numpy values of ``codes`` and their validity (None: all valid)."""
    if isinstance(codes, pa.ChunkedArray):
        codes = codes.combine_chunks()
    if isinstance(codes, pa.Array):
        valid = None
        if codes.null_count:
            valid = codes.is_valid().to_numpy(zero_copy_only=False)
            codes = codes.fill_null(0)
        return codes.to_numpy(zero_copy_only=False), valid
    return np.asarray(codes), None


def _gather(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``table[values]``, with -1 for values outside the table (negative or too large)."""
    if values.dtype.kind == "u" and (1 << (8 * values.dtype.itemsize)) <= len(table):
        return table[values]  # the hot path: uint8/uint16 columns need no bounds check
    values = values.astype(np.int64, copy=False)
    inside = (values >= 0) & (values < len(table))
    out = np.full(len(values), -1, dtype=table.dtype)
    out[inside] = table[values[inside]]
    return out


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


# --- events -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class EventTable:
    """audit_event(5) with O(1) scalar and vectorized lookups by event number.

    ``names``, ``descriptions`` and ``class_strings`` are object arrays of size 65536 (None
    where undefined), ``masks`` a uint32 array (0 where undefined); index them with a
    uint16 column.  When a number is defined twice the first line wins, like libbsm's
    getauevnum() (the OpenBSM table defines 301, 6168, 6171 and 6172 twice).

    >>> e = load_tables("builtin").events
    >>> e.name(23), e.description(23), e.classes(23), e.class_names(23)
    ('AUE_EXECVE', 'execve(2)', 1073741952, 'pc,ex')
    """

    names: np.ndarray
    descriptions: np.ndarray
    masks: np.ndarray
    class_strings: np.ndarray
    class_specs: np.ndarray
    source: str = "<builtin>"
    _names: _Lookup = field(repr=False, default=None)  # type: ignore[assignment]
    _classes: _Lookup = field(repr=False, default=None)  # type: ignore[assignment]
    _descriptions: _Lookup = field(repr=False, default=None)  # type: ignore[assignment]
    _by_name: dict[str, int] = field(repr=False, default_factory=dict)

    @classmethod
    def build(cls, entries: Iterable[EventEntry], classes: ClassTable, source: str) -> EventTable:
        """Index parsed lines; an event naming an undefined class gets mask 0 (libbsm)."""
        first: dict[int, EventEntry] = {}
        for entry in entries:
            first.setdefault(entry.number, entry)
        order = sorted(first)
        masks = np.zeros(N_EVENTS, dtype=np.uint32)
        for num in order:
            masks[num] = classes.mask_of(first[num].classes) or 0
        rendered = {num: classes.render(int(masks[num])) for num in order}

        def column(values: dict[int, str]) -> np.ndarray:
            array = np.full(N_EVENTS, None, dtype=object)
            array[order] = [values[num] for num in order]
            return _frozen(array)

        names = {num: first[num].name for num in order}
        descriptions = {num: first[num].description for num in order}
        specs = {num: ",".join(first[num].classes) for num in order}
        return cls(
            column(names), column(descriptions), _frozen(masks), column(rendered),
            column(specs), source,
            _Lookup.build(N_EVENTS, names.items()),
            _Lookup.build(N_EVENTS, rendered.items()),
            _Lookup.build(N_EVENTS, descriptions.items()),
            {name: num for num, name in reversed(names.items())},
        )

    def _at(self, array: np.ndarray, num: int) -> str | None:
        return array[num] if 0 <= num < N_EVENTS else None

    def name(self, num: int) -> str | None:
        """``AUE_*`` name of an event number; None when undefined."""
        return self._at(self.names, num)

    def description(self, num: int) -> str | None:
        """Description (what praudit prints in the header), kept verbatim; None if undefined."""
        return self._at(self.descriptions, num)

    def classes(self, num: int) -> int:
        """Class mask of an event (0 when undefined)."""
        return int(self.masks[num]) if 0 <= num < N_EVENTS else 0

    def class_names(self, num: int) -> str | None:
        """Classes of an event as ``"pc,ex"`` (class-table order); None when undefined."""
        return self._at(self.class_strings, num)

    def number(self, name: str) -> int | None:
        """Event number of an ``AUE_*`` name (the smallest, if several); None if unknown."""
        return self._by_name.get(name)

    def names_for(self, codes: Codes) -> pa.DictionaryArray:
        """Vectorized :meth:`name` over a uint16 column (unknown events -> null)."""
        return self._names.take(codes)

    def classes_for(self, codes: Codes) -> pa.DictionaryArray:
        """Vectorized :meth:`class_names` (unknown events -> null)."""
        return self._classes.take(codes)

    def descriptions_for(self, codes: Codes) -> pa.DictionaryArray:
        """Vectorized :meth:`description` (unknown events -> null)."""
        return self._descriptions.take(codes)


# --- errno --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ErrnoTable:
    """BSM portable errno (audit_errno.h): name, OpenBSM text and what praudit prints.

    praudit prints ``strerror()`` of the *local* errno that bsm_errno.c maps the BSM number
    to; the goldens were made on Linux, so ``praudit_text`` is the glibc text of the Linux
    errno with the same name.  BSM numbers with no Linux errno (EAUTH 197, ENOATTR 199, ...)
    or not defined at all (e.g. 255) print ``failure: Unknown error: N`` -- note the missing
    space before the colon (see tests/data/trails/PRAUDIT-QUIRKS.md).

    >>> t = load_tables("builtin").errnos
    >>> t.name(146), t.praudit_status(146), t.praudit_status(197)
    ('ECONNREFUSED', 'failure : Connection refused', 'failure: Unknown error: 197')
    """

    names: np.ndarray  # object[256], None where undefined
    texts: np.ndarray  # object[256]: bsm_errno.c's own text ("" if it has none)
    linux: np.ndarray  # int16[256]: the Linux errno of the same name, -1 when none
    praudit_texts: np.ndarray  # object[256]: "" when praudit has no local mapping
    _names: _Lookup = field(repr=False, default=None)  # type: ignore[assignment]
    _by_name: dict[str, int] = field(repr=False, default_factory=dict)

    def name(self, num: int) -> str | None:
        """Name of a BSM errno (``2`` -> ``"ENOENT"``); None when undefined."""
        return self.names[num] if 0 <= num < N_ERRNOS else None

    def number(self, name: str) -> int | None:
        """BSM number of an errno name (``"ENOENT"`` -> 2); None when unknown."""
        return self._by_name.get(name)

    def text(self, num: int) -> str | None:
        """A human text: OpenBSM's, else the Linux one; None when the number is undefined."""
        if self.name(num) is None:
            return None
        return self.texts[num] or self.praudit_texts[num] or None

    def linux_errno(self, num: int) -> int | None:
        """The Linux errno praudit maps this BSM number to; None when there is none."""
        return int(self.linux[num]) if 0 <= num < N_ERRNOS and self.linux[num] >= 0 else None

    def praudit_status(self, num: int) -> str:
        """What ``praudit`` (on Linux) prints as the return token's status."""
        if num == 0:
            return "success"
        text = self.praudit_texts[num] if 0 <= num < N_ERRNOS else ""
        return f"failure : {text}" if text else f"failure: Unknown error: {num}"

    def names_for(self, errnos: Codes) -> pa.DictionaryArray:
        """Vectorized :meth:`name`; success (0), undefined numbers and nulls -> null."""
        return self._names.take(errnos)


# --- small constant tables ----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ConstTable:
    """A BSM number -> name table (socket domains, socket types, fcntl commands)."""

    numbers: tuple[int, ...]
    names: tuple[str, ...]
    notes: tuple[str, ...]
    _lookup: _Lookup = field(repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        size = max(self.numbers, default=0) + 1
        lookup = _Lookup.build(size, zip(self.numbers, self.names, strict=True))
        object.__setattr__(self, "_lookup", lookup)

    def name(self, num: int) -> str | None:
        """Name of a BSM number (e.g. socket domain 26 -> ``"PF_INET6"``); None if unknown."""
        return next((n for k, n in zip(self.numbers, self.names, strict=True) if k == num), None)

    def number(self, name: str) -> int | None:
        """BSM number of a name; None if unknown."""
        return next((k for k, n in zip(self.numbers, self.names, strict=True) if n == name), None)

    def names_for(self, values: Codes) -> pa.DictionaryArray:
        """Vectorized :meth:`name` (unknown numbers and nulls -> null)."""
        return self._lookup.take(values)


# --- all of them --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Tables:
    """Every lookup table, loaded together by :func:`load_tables`."""

    events: EventTable
    classes: ClassTable
    errnos: ErrnoTable
    socket_domains: ConstTable
    socket_types: ConstTable
    fcntl_commands: ConstTable

    def event_names_for(self, codes: Codes) -> pa.DictionaryArray:
        """``events.names_for``: the ``event_name`` column from the ``event`` column."""
        return self.events.names_for(codes)

    def event_classes_for(self, codes: Codes) -> pa.DictionaryArray:
        """``events.classes_for``: the ``event_classes`` column from the ``event`` column."""
        return self.events.classes_for(codes)

    def errno_names_for(self, errnos: Codes) -> pa.DictionaryArray:
        """``errnos.names_for``: the ``errno_name`` column from ``return_errno``."""
        return self.errnos.names_for(errnos)


# --- parsing ------------------------------------------------------------------------------
def _read_tsv(name: str) -> list[list[str]]:
    """Rows of a packaged .tsv data file (comments and the column line skipped)."""
    text = package_file(name)
    rows = [line.split("\t") for _, line in content_lines(text)]
    return rows[1:]


# --- loading ------------------------------------------------------------------------------
@functools.cache
def _errno_table() -> ErrnoTable:
    names = np.full(N_ERRNOS, None, dtype=object)
    texts = np.full(N_ERRNOS, "", dtype=object)
    praudit = np.full(N_ERRNOS, "", dtype=object)
    linux = np.full(N_ERRNOS, -1, dtype=np.int16)
    for num, name, text, local, ptext in _read_tsv("bsm_errno.tsv"):
        n = int(num)
        names[n], texts[n], praudit[n] = name, text, ptext
        linux[n] = int(local) if local else -1
    lookup = _Lookup.build(N_ERRNOS, ((n, names[n]) for n in range(1, N_ERRNOS) if names[n]))
    by_name = {names[n]: n for n in range(N_ERRNOS) if names[n]}
    return ErrnoTable(*map(_frozen, (names, texts, linux, praudit)), lookup, by_name)


@functools.cache
def _const_table(name: str) -> ConstTable:
    rows = _read_tsv(name)
    return ConstTable(
        tuple(int(r[0]) for r in rows), tuple(r[1] for r in rows), tuple(r[2] for r in rows)
    )


_FileKey = tuple[str, int, int] | None  # (path, mtime_ns, size); None = the packaged copy


def _read_text(key: _FileKey, name: str) -> tuple[str, str]:
    """(text, source label) of a host/directory file or of the packaged copy."""
    return read_table_text(None if key is None else Path(key[0]), name)


@functools.lru_cache(maxsize=8)
def _load(event_key: _FileKey, class_key: _FileKey) -> Tables:
    class_text, class_source = _read_text(class_key, CLASS_FILE)
    classes = parse_class_file(class_text, class_source)
    event_text, event_source = _read_text(event_key, EVENT_FILE)
    events = EventTable.build(parse_event_file(event_text, event_source), classes, event_source)
    return Tables(
        events, classes, _errno_table(), _const_table("bsm_socket_domain.tsv"),
        _const_table("bsm_socket_type.tsv"), _const_table("bsm_fcntl.tsv"),
    )


def _file_key(path: Path | None) -> _FileKey:
    """Cache key of a file: a file edited since the last load is read again."""
    if path is None:
        return None
    st = path.stat()
    return (str(path), st.st_mtime_ns, st.st_size)


def _resolve(source: str | os.PathLike[str]) -> tuple[Path | None, Path | None]:
    """(audit_event, audit_class) paths for ``source``; None means the packaged copy."""
    return resolve(source, HOST_DIR)


def load_tables(source: str | os.PathLike[str] = "auto") -> Tables:
    """Load every table; cached, so each file is parsed once per process.

    ``source``:

    - ``"auto"`` (default): ``/etc/security/audit_event`` and ``audit_class`` where the
      host has them (users add events there), the packaged OpenBSM copies otherwise;
    - ``"builtin"``: the packaged copies (what the praudit goldens were made with);
    - ``"host"``: ``/etc/security`` only; InputError when the files are missing;
    - a directory path: its ``audit_event`` / ``audit_class`` (a missing one: packaged).

    The errno, socket and fcntl tables are format constants and always come from the
    package.  A malformed line raises :class:`UsageError` naming the file and line.

    >>> load_tables("builtin").events.name(43190)
    'AUE_POSIX_SPAWN'
    """
    event_path, class_path = _resolve(source)
    return _load(_file_key(event_path), _file_key(class_path))
