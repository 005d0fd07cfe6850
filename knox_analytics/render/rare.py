"""Rare tokens, formatted one token at a time in Python (then batched into columns).

ip, ipc, ipc_perm, newgroups, opaque, data, arg_uuid/return_uuid, upriv, priv, file,
identity and unknown tokens are rare in real trails, so a plain per-token function is
simpler than a column-wise one and costs nothing measurable.  Each function takes the
token's field values (as :mod:`knox_analytics.bsm.tokenreader` reads them, or as the typed
columns hold them) and returns the printed fields; :func:`format_rare` turns a batch into
the same :class:`~knox_analytics.render.tokenfmt.Fmt` as the column-wise formatters.

Example::

    >>> from knox_analytics.render.tokenfmt import Ctx
    >>> f = format_rare([{"type": 1, "id": 7}], 0x22, Ctx())
    >>> f.name, [v.to_pylist() for _a, v in f.fields]
    ('IPC', [[b'Message IPC'], [b'7']])
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from knox_analytics.bsm import tokens as T
from knox_analytics.render import fields as F
from knox_analytics.render.tokenfmt import Ctx, Fmt, _group, _user

RareFields = list[tuple[str | None, Any]]

_IPC_TYPES = {1: "Message IPC", 2: "Semaphore IPC", 3: "Shared Memory IPC"}  # AT_IPC_*
_DATA_HOW = {0: ("binary", " %c"), 1: ("octal", " %o"), 2: ("decimal", " %d"),
             3: ("hex", " %x"), 4: ("string", "%c")}  # AUP_* -> name, printf format
_DATA_UNITS = {0: ("byte", 1, "B"), 1: ("short", 2, "H"), 2: ("int", 4, "I"),
               3: ("int64", 8, "Q")}  # AUR_* -> name, size, struct code


def _b(value: Any) -> bytes:
    """A field value as bytes: strings UTF-8 encoded, NULs dropped (print_string)."""
    if value is None:
        return b""
    if isinstance(value, str):
        value = value.encode("utf-8", errors="surrogateescape")
    if isinstance(value, bytes | bytearray):
        return bytes(value).replace(b"\0", b"")
    return str(value).encode()


def _mem(data: bytes) -> bytes:
    """print_mem: ``0x`` and two hex digits per byte (nothing for no bytes)."""
    return b"0x" + data.hex().encode() if data else b""


def ip(v: dict[str, Any], _ctx: Ctx) -> tuple[str, str, RareFields]:
    """ip: version/tos/ttl/protocol as print_mem, the 16-bit fields in decimal."""
    return "ip", "ip", [
        ("version", _mem(bytes([v["version"]]))), ("service_type", _mem(bytes([v["tos"]]))),
        ("len", _b(v["length"])), ("id", _b(v["id"])), ("offset", _b(v["offset"])),
        ("time_to_live", _mem(bytes([v["ttl"]]))),
        ("protocol", _mem(bytes([v["protocol"]]))), ("cksum", _b(v["checksum"])),
        ("src_addr", _b(v["src"])), ("dest_addr", _b(v["dst"]))]


def ipc(v: dict[str, Any], ctx: Ctx) -> tuple[str, str, RareFields]:
    """ipc: object type (named unless -r) and id."""
    kind = v["type"]
    shown = str(kind) if ctx.opts.raw else _IPC_TYPES.get(kind, str(kind))
    return "IPC", "IPC", [("ipc-type", shown.encode()), ("ipc-id", _b(v["id"]))]


def ipc_perm(v: dict[str, Any], ctx: Ctx) -> tuple[str, str, RareFields]:
    """ipc_perm: owner, group, creator owner/group, mode (octal), seq, key."""
    return "IPC perm", "IPC_perm", [
        ("uid", _one(_user, ctx, v["uid"])), ("gid", _one(_group, ctx, v["gid"])),
        ("creator-uid", _one(_user, ctx, v["puid"])),
        ("creator-gid", _one(_group, ctx, v["pgid"])),
        ("mode", b"%o" % v["mode"]), ("seq", _b(v["seq"])), ("key", _b(v["key"]))]


def _one(fn: Callable[[Ctx, Any], pa.Array], ctx: Ctx, value: int) -> bytes:
    return fn(ctx, np.array([value], dtype=np.uint32))[0].as_py()


def opaque(v: dict[str, Any], _ctx: Ctx) -> tuple[str, str, RareFields]:
    """opaque: size then the bytes in hex (XML: the hex only)."""
    data = v["data"] or b""
    return "opaque", "opaque", [(None, _b(len(data))), ("", _mem(data))]


def uuid_(tid: int) -> Callable[[dict[str, Any], Ctx], tuple[str, str, RareFields]]:
    """arg_uuid / return_uuid: number, UUID, description."""
    name = "arg_uuid" if tid == T.AUT_ARG_UUID else "ret_uuid"

    def fmt(v: dict[str, Any], _ctx: Ctx) -> tuple[str, str, RareFields]:
        return name, name, [(f"{name}-num", _b(v["num"])), ("uuid", _b(v["uuid"])),
                            ("desc", _b(v["text"]))]
    return fmt


def upriv(v: dict[str, Any], _ctx: Ctx) -> tuple[str, str, RareFields]:
    """upriv: success or failure of a privilege use, and the privilege."""
    status = b"successful use of priv" if v["status"] else b"failed use of priv"
    return "use of privilege", "upriv", [("status", status), ("name", _b(v["privs"]))]


def priv(v: dict[str, Any], _ctx: Ctx) -> tuple[str, str, RareFields]:
    """priv (privilege set): set name and privileges."""
    return "privilege", "privilege", [("type", _b(v["set"])), ("priv", _b(v["privs"]))]


def file_(v: dict[str, Any], ctx: Ctx) -> tuple[str, str, RareFields]:
    """file: time, msec, name (XML: the name is the body)."""
    sec = np.array([v["sec"]], dtype=np.int64)
    when = F.dec(sec) if ctx.opts.raw else F.ctime(sec, ctx.zone)
    msec = str(v["msec"]).encode()
    return "file", "file", [
        ("time", when[0].as_py()), ("msec", msec if ctx.opts.raw else b" + %s msec" % msec),
        ("", _b(v["name"]))]


def data(v: dict[str, Any], _ctx: Ctx) -> tuple[str, str, RareFields]:
    """data (arbitrary): how, unit, count, values as praudit's printf prints them.

    quirk: values are read in this (little-endian) host's order and a 64-bit value goes
    through ``%d``/``%x``, so only its low 32 bits print.
    """
    how = _DATA_HOW.get(v["print_how"])
    unit = _DATA_UNITS.get(v["unit"])
    if how is None or unit is None:  # print_arb_tok returns early
        return "arbitrary", "arbitrary", []
    (how_name, fmt), (unit_name, size, code) = how, unit
    raw = v["raw"] or b""
    values = struct.unpack(f"<{len(raw) // size}{code}", raw[: len(raw) // size * size])
    text = b"".join(_printf(fmt, x, size) for x in values)
    return "arbitrary", "arbitrary", [
        ("print", how_name.encode()), (None, unit_name.encode()), ("@type", _b(size)),
        ("count", _b(v["count"])), ("", text)]


def _printf(fmt: str, value: int, size: int) -> bytes:
    low = value & 0xFFFFFFFF  # varargs: %d/%x/%o/%c consume an int
    if fmt.endswith("c"):
        return fmt[:-2].encode() + bytes([low & 0xFF])
    if fmt.endswith("d"):
        shown = low - (1 << 32) if size >= 4 and low >= 1 << 31 else low
        return b" %d" % shown
    return (b" %o" if fmt.endswith("o") else b" %x") % low


def newgroups(v: dict[str, Any], ctx: Ctx) -> tuple[str, str, RareFields]:
    """newgroups: every group (at most 16, AUDIT_MAX_GROUPS)."""
    gids = np.array((v["groups"] or [])[:16], dtype=np.uint32)
    names = _group(ctx, gids).to_pylist() if len(gids) else []
    return "group", "group", [("gid", names)]


def identity(v: dict[str, Any], _ctx: Ctx) -> tuple[str, str, RareFields]:
    """identity (0xed, macOS 10.15+; upstream praudit cannot print it): decoded fields."""
    return "identity", "identity", [
        ("signer-type", _b(v["signer_type"])), ("signing-id", _b(v["signing_id"])),
        ("signing-id-truncated", _b(int(bool(v["signing_id_truncated"])))),
        ("team-id", _b(v["team_id"])),
        ("team-id-truncated", _b(int(bool(v["team_id_truncated"])))),
        ("cdhash", _mem(v["cdhash"] or b""))]


def unknown(v: dict[str, Any], _ctx: Ctx) -> tuple[str, str, RareFields]:
    """A token praudit cannot read: ``unknown,0x<hex up to the trailer>``."""
    return "unknown", "unknown", [("", _mem(v["hex"]))]


RARE: dict[int, Callable[[dict[str, Any], Ctx], tuple[str, str, RareFields]]] = {
    T.AUT_IP: ip, T.AUT_IPC: ipc, T.AUT_IPC_PERM: ipc_perm, T.AUT_OPAQUE: opaque,
    T.AUT_ARG_UUID: uuid_(T.AUT_ARG_UUID), T.AUT_RETURN_UUID: uuid_(T.AUT_RETURN_UUID),
    T.AUT_UPRIV: upriv, T.AUT_PRIV: priv, T.AUT_OTHER_FILE32: file_, T.AUT_DATA: data,
    T.AUT_NEWGROUPS: newgroups, T.AUT_IDENTITY: identity,
}


def format_rare(values: list[dict[str, Any]], tid: int, ctx: Ctx, *,
                invalid: bool = False) -> Fmt:
    """Format a batch of rare tokens of one id into column form (``invalid``: unknown)."""
    fn = unknown if invalid else RARE.get(tid, unknown)
    rows = [fn(v, ctx) for v in values]
    name, elem = rows[0][0], rows[0][1]
    if tid == T.AUT_NEWGROUPS and not invalid:
        lists = pa.array([r[2][0][1] for r in rows], pa.list_(F.BIN))
        return Fmt(name, elem, [("gid", lists)], "list", child="gid")
    width = max(len(r[2]) for r in rows)
    cols: list[tuple[str | None, Any]] = []
    for i in range(width):
        attr = rows[0][2][i][0] if i < len(rows[0][2]) else None
        cols.append((attr, pa.array([r[2][i][1] if i < len(r[2]) else b"" for r in rows],
                                    F.BIN)))
    escape = frozenset(a for a, _v in cols if a is not None)
    return Fmt(name, elem, cols, escape=escape)
