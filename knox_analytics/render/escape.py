"""Escaping for XML output: praudit's vis(3) C-style for exec strings, XML entities for all.

praudit's ``-x`` output is not well-formed (see docs/praudit-compat.md); ours is.  Strings
are escaped with the five XML entities, characters XML 1.0 forbids become vis-style octal
``\\ooo``, and bytes that are not UTF-8 become ``\\xNN``.  exec args/env keep praudit's
per-byte ``vis(VIS_CSTYLE)`` form (``é`` prints as ``\\M-C\\M-)``) so that values match
praudit's.

Example::

    >>> xml_text(b'a<b & "c"')
    'a&lt;b &amp; &quot;c&quot;'
    >>> vis_cstyle("café".encode())
    'caf\\\\M-C\\\\M-)'
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&apos;"))
_ENTITY_TABLE = str.maketrans({a: b for a, b in _ENTITIES})
# characters XML 1.0 does not allow, even as character references
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_ILLEGAL_RE2 = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]"
_VIS_CSTYLE = {0x0A: "\\n", 0x0D: "\\r", 0x08: "\\b", 0x07: "\\a", 0x0B: "\\v",
               0x09: "\\t", 0x0C: "\\f", 0x20: "\\s", 0x00: "\\0"}


def _octal(m: re.Match[str]) -> str:
    return f"\\{ord(m.group(0)):03o}"


def xml_text(value: bytes | str) -> str:
    """One string made safe for an XML attribute value or element body."""
    if isinstance(value, bytes):
        value = value.replace(b"\0", b"").decode("utf-8", errors="backslashreplace")
    return _XML_ILLEGAL.sub(_octal, value).translate(_ENTITY_TABLE)


def xml_array(arr: pa.Array) -> pa.Array:
    """:func:`xml_text` over a column: vectorized, per element only for odd strings."""
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return pa.array([None if v is None else xml_text(v) for v in arr.to_pylist()],
                        pa.string())
    odd = pc.match_substring_regex(arr, _XML_ILLEGAL_RE2)
    if pc.any(odd).as_py():
        arr = pa.array([None if v is None else _XML_ILLEGAL.sub(_octal, v)
                        for v in arr.to_pylist()], pa.string())
    for raw, entity in _ENTITIES:
        arr = pc.replace_substring(arr, raw, entity)
    return arr


def _vis_byte(c: int) -> str:
    """NetBSD vis(3) of one byte with VIS_CSTYLE, in the C locale (what praudit uses)."""
    if 0x21 <= c <= 0x7E or c in (0x20, 0x09, 0x0A):  # isgraph, or space/tab/newline
        return "\\\\" if c == 0x5C else chr(c)
    if c in _VIS_CSTYLE:
        return _VIS_CSTYLE[c]
    if (c & 0x7F) == 0x20:
        return f"\\{c:03o}"
    out = "\\"
    if c & 0x80:
        c &= 0x7F
        out += "M"
    if c < 0x20 or c == 0x7F:
        return out + "^" + ("?" if c == 0x7F else chr(c + 0x40))
    return out + "-" + chr(c)


def vis_cstyle(value: bytes) -> str:
    """praudit's print_xml_string before entity escaping: vis(3) byte by byte."""
    return "".join(_vis_byte(c) for c in value.split(b"\0", 1)[0])


def xml_vis_text(value: bytes | str) -> str:
    """An exec arg / env string as praudit's ``-x`` prints it, made well-formed."""
    if isinstance(value, str):
        value = value.encode("utf-8", errors="surrogateescape")
    return vis_cstyle(value).translate(_ENTITY_TABLE)


def xml_vis_array(arr: pa.Array) -> pa.Array:
    """:func:`xml_vis_text` over a string column; ASCII-only strings take the fast path."""
    if not pa.types.is_string(arr.type):
        return pa.array([None if v is None else xml_vis_text(v) for v in arr.to_pylist()],
                        pa.string())
    odd = pc.match_substring_regex(arr, "[^\\x20-\\x7e\\t\\n]")
    if pc.any(odd).as_py():
        return pa.array([None if v is None else xml_vis_text(v) for v in arr.to_pylist()],
                        pa.string())
    arr = pc.replace_substring(arr, "\\", "\\\\")
    for raw, entity in _ENTITIES:
        arr = pc.replace_substring(arr, raw, entity)
    return arr
