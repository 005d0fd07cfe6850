"""audit_control(5) class expressions -> ``au_mask_t`` (success mask, failure mask).

Semantics follow OpenBSM ``getauditflagsbin()`` (../bsm/reference/bsm_flags.c): a
comma-separated list, applied left to right to an empty mask; each item is a class name
with an optional prefix: none = both outcomes, ``+`` successes, ``-`` failures, ``^``
remove both, ``^+`` remove successes, ``^-`` remove failures.  ``all`` is an ordinary class
(mask 0xffffffff) of the class table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from knox_analytics.errors import UsageError

#: Where the class table comes from, first readable wins: the host's own table (it may
#: define site classes), then the copy shipped in the package.
CLASS_TABLE_PATHS = (Path("/etc/security/audit_class"),
                     Path(__file__).resolve().parent.parent / "data" / "audit_class")

#: Last resort: OpenBSM's stock etc/audit_class (../bsm/etc/audit_class), used only when
#: neither file above nor knox_analytics.bsm.tables is available.
OPENBSM_CLASSES: dict[str, int] = {
    "no": 0x0, "fr": 0x1, "fw": 0x2, "fa": 0x4, "fm": 0x8, "fc": 0x10, "fd": 0x20,
    "cl": 0x40, "pc": 0x80, "nt": 0x100, "ip": 0x200, "na": 0x400, "ad": 0x800,
    "lo": 0x1000, "aa": 0x2000, "ap": 0x4000, "io": 0x20000000, "ex": 0x40000000,
    "ot": 0x80000000, "all": 0xFFFFFFFF,
}

ALL_BITS = 0xFFFFFFFF


@dataclass(frozen=True)
class AuMask:
    """An ``au_mask_t``: classes audited on success and on failure."""

    success: int = 0
    failure: int = 0

    def to_expression(self, classes: dict[str, int]) -> str:
        """Render as a class expression (inverse of :func:`parse_classes` for single bits)."""
        parts: list[str] = []
        for name, bit in sorted(classes.items(), key=lambda kv: kv[1]):
            if bit == 0 or bit == ALL_BITS or bit & (bit - 1):
                continue  # skip 'no', 'all' and multi-bit classes: list the atoms
            s, f = bool(self.success & bit), bool(self.failure & bit)
            if s or f:
                parts.append(name if s and f else ("+" if s else "-") + name)
        return ",".join(parts)


def parse_class_table(text: str) -> dict[str, int]:
    """Parse audit_class(5) lines ``mask:name:description`` into ``{name: mask}``."""
    table: dict[str, int] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        fields = line.split(":")
        if len(fields) >= 2 and fields[1]:
            table[fields[1].strip()] = int(fields[0], 0) & ALL_BITS
    return table


def _from_tables_module() -> dict[str, int] | None:
    """The shared class table (host /etc/security/audit_class over the packaged copy)."""
    try:
        from knox_analytics.bsm.tables import load_tables
    except ImportError:  # pragma: no cover - tables.py is part of the package
        return None
    table = load_tables().classes
    classes: dict[str, int] = {}
    for code, mask in zip(table.codes, table.masks, strict=True):
        classes.setdefault(code, mask)  # first definition wins, as libbsm's linear scan
    return classes


def load_class_table(path: str | Path | None = None) -> dict[str, int]:
    """Class name -> mask: ``path`` if given, else the host's audit_class, else the shipped one."""
    if path is not None:
        return parse_class_table(Path(path).read_text(encoding="utf-8", errors="replace"))
    shared = _from_tables_module()
    if shared:
        return shared
    for candidate in CLASS_TABLE_PATHS:
        if candidate.is_file():
            return parse_class_table(candidate.read_text(encoding="utf-8", errors="replace"))
    return dict(OPENBSM_CLASSES)


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


def parse_classes(expr: str, classes: dict[str, int] | None = None) -> AuMask:
    """Turn an audit_control(5) class expression into an :class:`AuMask`.

    >>> parse_classes("pc,+fc,-fr", OPENBSM_CLASSES)
    AuMask(success=144, failure=129)
    """
    table = load_class_table() if classes is None else classes
    success = failure = 0
    for raw in expr.split(","):
        item = raw.strip()
        if not item:
            continue  # strtok_r skips empty fields, so 'pc,,fc' is fine
        remove, on_success, on_failure, name = _split_prefix(item)
        if name not in table:
            valid = ", ".join(sorted(table))
            raise UsageError(f"unknown audit class {name!r} in {expr!r}; valid classes: {valid}")
        bits = table[name]
        if remove:
            success &= ~bits if on_success else ALL_BITS
            failure &= ~bits if on_failure else ALL_BITS
        else:
            success |= bits if on_success else 0
            failure |= bits if on_failure else 0
    return AuMask(success & ALL_BITS, failure & ALL_BITS)
