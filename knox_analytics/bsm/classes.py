"""Audit classes: the audit_class(5) table and audit_control(5) class expressions.

The one home of both.  :class:`ClassTable` maps two-letter codes to 32-bit masks (read
from the host's ``/etc/security/audit_class`` where present, else the OpenBSM copy in
``knox_analytics/data``); :func:`parse_classes` turns an expression such as
``pc,+fc,-fr,^-ex`` into an :class:`AuMask` (success mask, failure mask).

Expression semantics follow OpenBSM ``getauditflagsbin()`` (../bsm/reference/bsm_flags.c):
a comma-separated list applied left to right to an empty mask; each item is a class code
with an optional prefix: none = both outcomes, ``+`` successes, ``-`` failures, ``^``
remove both, ``^+`` remove successes, ``^-`` remove failures.  ``all`` is an ordinary class
of the table (mask 0xffffffff).  Pure Python: the live tools import it without numpy.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from knox_analytics.bsm import tablefiles
from knox_analytics.errors import UsageError

ALL_BITS = 0xFFFFFFFF


@dataclass(frozen=True)
class ClassTable:
    """audit_class(5): two-letter class code <-> 32-bit mask <-> description.

    >>> c = load_class_table("builtin")
    >>> c.mask("pc"), c.code(0x80), c.render(0x40000080)
    (128, 'pc', 'pc,ex')
    """

    codes: tuple[str, ...]
    masks: tuple[int, ...]
    descriptions: tuple[str, ...]
    source: str = "<builtin>"
    _by_code: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code: dict[str, int] = {}
        for i, code in enumerate(self.codes):
            by_code.setdefault(code, i)  # first definition wins, as in libbsm's linear scan
        object.__setattr__(self, "_by_code", by_code)

    def mask(self, code: str) -> int | None:
        """Mask of a class code (``"fr"`` -> 1); None when the code is not defined."""
        i = self._by_code.get(code)
        return None if i is None else self.masks[i]

    def description(self, code: str) -> str | None:
        """Description of a class code (``"fr"`` -> ``"file read"``)."""
        i = self._by_code.get(code)
        return None if i is None else self.descriptions[i]

    def code(self, mask: int) -> str | None:
        """The class whose mask is exactly ``mask`` (0 -> ``"no"``, all bits -> ``"all"``)."""
        return next((c for c, m in zip(self.codes, self.masks, strict=True) if m == mask), None)

    def mask_of(self, codes: Iterable[str]) -> int | None:
        """OR of the masks of ``codes``; None if any code is unknown (libbsm then uses 0)."""
        total = 0
        for code in codes:
            m = self.mask(code)
            if m is None:
                return None
            total |= m
        return total

    def as_dict(self) -> dict[str, int]:
        """``{code: mask}``, first definition of each code."""
        return {code: self.masks[i] for code, i in self._by_code.items()}

    def render(self, mask: int) -> str:
        """``"pc,ex"``: an exact class, else the single-bit classes set, in table order.

        Bits that no single-bit class names are appended in hex (``"fr,0x01000000"``).
        """
        exact = self.code(mask)
        if exact is not None:
            return exact
        parts, left = [], mask
        for code, m in zip(self.codes, self.masks, strict=True):
            if m and m & (m - 1) == 0 and mask & m and left & m:
                parts.append(code)
                left &= ~m
        if left:
            parts.append(f"0x{left:08x}")
        return ",".join(parts)


def parse_class_file(text: str, source: str) -> ClassTable:
    """Parse audit_class(5) text; a malformed line raises UsageError naming file and line."""
    rows = tablefiles.parse_class_lines(text, source)
    codes, masks, descriptions = zip(*rows, strict=True) if rows else ((), (), ())
    return ClassTable(tuple(codes), tuple(masks), tuple(descriptions), source)


@functools.lru_cache(maxsize=8)
def _load(path: Path | None, _mtime_ns: int, _size: int) -> ClassTable:
    return parse_class_file(*tablefiles.read_table_text(path, tablefiles.CLASS_FILE))


def load_class_table(source: str | os.PathLike[str] = "auto",
                     host_dir: Path = tablefiles.HOST_DIR) -> ClassTable:
    """The class table: ``"auto"`` (host's audit_class, else the packaged OpenBSM copy),
    ``"builtin"``, ``"host"``, a directory holding ``audit_class``, or an audit_class file.

    Cached per file and reloaded when the file changes.
    """
    path = Path(source) if os.fspath(source) not in ("auto", "builtin", "host") and \
        Path(source).is_file() else tablefiles.resolve(source, host_dir)[1]
    st = path.stat() if path is not None else None
    return _load(path, st.st_mtime_ns if st else 0, st.st_size if st else 0)


@dataclass(frozen=True)
class AuMask:
    """An ``au_mask_t``: classes audited on success and on failure."""

    success: int = 0
    failure: int = 0

    def to_expression(self, classes: ClassTable) -> str:
        """Render as a class expression (inverse of :func:`parse_classes` for single bits)."""
        parts: list[str] = []
        for name, bit in sorted(classes.as_dict().items(), key=lambda kv: kv[1]):
            if bit == 0 or bit == ALL_BITS or bit & (bit - 1):
                continue  # skip 'no', 'all' and multi-bit classes: list the atoms
            s, f = bool(self.success & bit), bool(self.failure & bit)
            if s or f:
                parts.append(name if s and f else ("+" if s else "-") + name)
        return ",".join(parts)


def _split_prefix(item: str) -> tuple[bool, bool, bool, str]:
    """``'^-fr'`` -> (remove, success, failure, 'fr')."""
    remove = item.startswith("^")
    if remove:
        item = item[1:]
    if item.startswith("+"):
        return remove, True, False, item[1:]
    if item.startswith("-"):
        return remove, False, True, item[1:]
    return remove, True, True, item


def parse_classes(expr: str, classes: ClassTable | None = None) -> AuMask:
    """Turn an audit_control(5) class expression into an :class:`AuMask`.

    >>> parse_classes("pc,+fc,-fr", load_class_table("builtin"))
    AuMask(success=144, failure=129)
    """
    table = load_class_table() if classes is None else classes
    success = failure = 0
    for raw in expr.split(","):
        item = raw.strip()
        if not item:
            continue  # strtok_r skips empty fields, so 'pc,,fc' is fine
        remove, on_success, on_failure, name = _split_prefix(item)
        bits = table.mask(name)
        if bits is None:
            valid = ", ".join(sorted(table.as_dict()))
            raise UsageError(f"unknown audit class {name!r} in {expr!r}; valid classes: {valid}")
        if remove:
            success &= ~bits if on_success else ALL_BITS
            failure &= ~bits if on_failure else ALL_BITS
        else:
            success |= bits if on_success else 0
            failure |= bits if on_failure else 0
    return AuMask(success & ALL_BITS, failure & ALL_BITS)
