"""How praudit prints each token: field lists, built column-wise.

For every token kind a formatter turns the kind's values (one Arrow/numpy column per field,
for all tokens of that kind in a chunk) into a :class:`Fmt`: praudit's token name, its XML
element and the printed fields in order, each with its XML attribute name.  The text and
XML renderers then only join the fields (:mod:`knox_analytics.render.praudit`).  Facts come
from OpenBSM ``libbsm/bsm_io.c`` (the ``print_*_tok`` functions); the quirks kept for byte
compatibility are marked ``quirk:``.

Field values use the names of the token layouts in :mod:`knox_analytics.bsm.tokens`.

Example::

    >>> import pyarrow as pa
    >>> f = FORMATTERS[0x2F]({"seq": pa.array([42], pa.uint32())}, 0x2F, Ctx())
    >>> f.name, [v.to_pylist() for _a, v in f.fields]
    ('sequence', [[b'42']])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.bsm import tokens as T
from knox_analytics.render import fields as F
from knox_analytics.render.names import EventErrnoText, IdNames, event_errno_text
from knox_analytics.zones import Zone, local


@dataclass(frozen=True)
class PrintOptions:
    """praudit's options: ``-r`` raw, ``-s`` short, ``-n`` no names, ``-l``, ``-d``, ``-x``."""

    raw: bool = False
    short: bool = False
    resolve: bool = True
    oneline: bool = False
    delimiter: str = ","
    xml: bool = False
    ids: IdNames | None = None
    tables: str = "auto"  # where event names come from (load_tables' source)
    #: the zone of header and file times; None: the local zone, as praudit (ctime(3))
    zone: Zone | None = None


@dataclass
class Ctx:
    """Options plus the lookup tables, shared by all formatters of a run."""

    opts: PrintOptions = field(default_factory=PrintOptions)
    _text: EventErrnoText | None = None
    _ids: IdNames | None = None
    _zone: Zone | None = None

    @property
    def zone(self) -> Zone:
        """The zone times are printed in (the local one resolved once, on first use)."""
        if self._zone is None:
            self._zone = self.opts.zone or local(strict=False)
        return self._zone

    @property
    def text(self) -> EventErrnoText:
        """Event / errno lookups (loaded on first use)."""
        if self._text is None:
            self._text = event_errno_text(self.opts.tables)
        return self._text

    @property
    def ids(self) -> IdNames:
        """uid/gid names (host or files)."""
        if self._ids is None:
            self._ids = self.opts.ids or IdNames()
        return self._ids


@dataclass
class Fmt:
    """Printed fields of one token kind.

    Each field is ``(attr, values)``: ``attr`` None means text form only, ``"@name"`` XML
    form only (attribute ``name``), ``""`` the XML element body, anything else both.

    shape: ``token`` (``<elem a="v" />``, or ``<elem a="v" >body</elem>`` /
    ``<elem>body</elem>`` with a body), ``record`` (header: ``<record a="v" >``), ``end``
    (trailer: ``</record>``), ``list`` (exec args/env, groups: one field holding a list
    column, ``<elem><child>v</child>...</elem>``).
    """

    name: str
    elem: str
    fields: list[tuple[str | None, Any]]
    shape: str = "token"
    child: str = ""
    escape: frozenset[str] = frozenset()  # attrs whose values need XML escaping


Formatter = Callable[[dict[str, Any], int, Ctx], Fmt]


def _user(ctx: Ctx, arr: Any) -> pa.Array:
    return _id_names(ctx, arr, "user")


def _group(ctx: Ctx, arr: Any) -> pa.Array:
    return _id_names(ctx, arr, "group")


def _id_names(ctx: Ctx, arr: Any, kind: str) -> pa.Array:
    """uid/gid column -> names (praudit without -n), else the number as a signed int."""
    if ctx.opts.raw or not ctx.opts.resolve:
        return F.dec_signed32(arr)
    lookup = getattr(ctx.ids, kind)  # IdNames.user / IdNames.group (built on first use)

    def name(i: int) -> bytes:
        n = lookup(i)
        return n.encode() if n is not None else str(np.int32(np.uint32(i))).encode()
    return F.map_unique(arr, name)


def _event(ctx: Ctx, event: Any) -> pa.Array:
    ev = F._np(event)
    if ctx.opts.raw:
        return F.dec(pa.array(ev))
    table = ctx.text.event_name if ctx.opts.short else ctx.text.event_desc
    named = F.lookup(table, ev)
    if not named.null_count:
        return named
    # print_event: an event missing from audit_event prints as a number
    return pc.if_else(pc.is_null(named), F.dec(pa.array(ev)), named)


def _sec(ctx: Ctx, sec: Any) -> pa.Array:
    return F.dec_low32(sec, signed=False) if ctx.opts.raw else F.ctime(sec, ctx.zone)


def _msec(ctx: Ctx, msec: Any) -> pa.Array:
    text = F.dec_low32(msec, signed=False)
    return text if ctx.opts.raw else F.cat(" + ", text, " msec")


def header(v: dict[str, Any], tid: int, ctx: Ctx) -> Fmt:
    """header32/64 (+_ex): length, version, event, modifier, [host], time, msec."""
    fields: list[tuple[str | None, Any]] = [
        (None, F.dec(v["length"])), ("version", F.dec(v["version"])),
        ("event", _event(ctx, v["event"])), ("modifier", F.dec(v["modifier"]))]
    if tid in (T.AUT_HEADER32_EX, T.AUT_HEADER64_EX):
        fields.append(("host", F.as_bin(v["host"])))
    fields += [("time", _sec(ctx, v["sec"])), ("msec", _msec(ctx, v["msec"]))]
    ex = tid in (T.AUT_HEADER32_EX, T.AUT_HEADER64_EX)
    return Fmt("header_ex" if ex else "header", "record", fields, "record",
               escape=frozenset({"event"}))


def trailer(v: dict[str, Any], _tid: int, _ctx: Ctx) -> Fmt:
    """trailer: the record length (nothing in XML but ``</record>``)."""
    return Fmt("trailer", "record", [(None, F.dec(v["length"]))], "end")


def _subject_fields(v: dict[str, Any], tid: int, ctx: Ctx, sep: str) -> list[Any]:
    port = F.dec(v["tid_port"])
    fields = [("audit-uid", _user(ctx, v["auid"])), ("uid", _user(ctx, v["euid"])),
              ("gid", _group(ctx, v["egid"])), ("ruid", _user(ctx, v["ruid"])),
              ("rgid", _group(ctx, v["rgid"])), ("pid", F.dec(v["pid"])),
              ("sid", F.dec(v["sid"])), (None, port), (None, F.as_bin(v["tid_addr"]))]
    if ctx.opts.xml:  # built only where printed (text output skips "@" fields)
        # XML: one "tid" attribute; praudit glues port and address together for all
        # but subject32 (quirk, fixed here: always "port address")
        fields.append(("@tid", F.join_with(sep, port, v["tid_addr"])))
    return fields


_SUBJECT_NAMES = {T.AUT_SUBJECT32: ("subject", "subject"),
                  T.AUT_SUBJECT64: ("subject", "subject"),
                  T.AUT_SUBJECT32_EX: ("subject_ex", "subject"),
                  T.AUT_SUBJECT64_EX: ("subject_ex", "subject"),
                  T.AUT_PROCESS32: ("process", "process"),
                  T.AUT_PROCESS64: ("process", "process"),
                  T.AUT_PROCESS32_EX: ("process_ex", "process"),
                  T.AUT_PROCESS64_EX: ("process_ex", "process")}


def subject(v: dict[str, Any], tid: int, ctx: Ctx) -> Fmt:
    """subject / process tokens (all four sizes): ids, pid, sid, terminal port + address."""
    name, elem = _SUBJECT_NAMES[tid]
    return Fmt(name, elem, _subject_fields(v, tid, ctx, " "))


def return_(v: dict[str, Any], tid: int, ctx: Ctx) -> Fmt:
    """return32/64: praudit's errno text, then the value (quirk: %u for return32)."""
    errno = F._np(v["errno"])
    status = F.dec(pa.array(errno)) if ctx.opts.raw else F.lookup(ctx.text.errno_text, errno)
    value = F._np(v["value"]).astype(np.int64, copy=False)
    shown = F.dec_low32(value, signed=False) if tid == T.AUT_RETURN32 else F.dec(value)
    return Fmt("return", "return", [("errval", status), ("retval", shown)])


def path(v: dict[str, Any], tid: int, _ctx: Ctx) -> Fmt:
    """path / text: one string (text's praudit name is "text")."""
    key = "path" if tid == T.AUT_PATH else "text"
    return Fmt(key, key, [("", v[key])], escape=frozenset({""}))


def zonename(v: dict[str, Any], _tid: int, _ctx: Ctx) -> Fmt:
    """zonename: ``zone,<name>`` / ``<zone name="..." />``."""
    return Fmt("zone", "zone", [("name", v["zonename"])], escape=frozenset({"name"}))


def attr(v: dict[str, Any], tid: int, ctx: Ctx) -> Fmt:
    """attr32/attr64: mode (octal), owner, group, fsid, nodeid (%lld), device."""
    nodeid = F._np(v["nodeid"]).astype(np.uint64, copy=False).view(np.int64)
    dev = F._np(v["dev"]).astype(np.uint64, copy=False)
    return Fmt("attribute", "attribute", [
        ("mode", F.octal(v["mode"])), ("uid", _user(ctx, v["uid"])),
        ("gid", _group(ctx, v["gid"])), ("fsid", F.dec(v["fsid"])),
        ("nodeid", F.dec(nodeid)), ("device", F.dec(dev))])


def arg(v: dict[str, Any], _tid: int, _ctx: Ctx) -> Fmt:
    """arg32/arg64: number, value in hex (0x%x), description."""
    return Fmt("argument", "argument", [
        ("arg-num", F.dec(v["num"])), ("value", F.hex_prefixed(v["value"])),
        ("desc", v["name"])], escape=frozenset({"desc"}))


def exec_strings(v: dict[str, Any], tid: int, _ctx: Ctx) -> Fmt:
    """exec_args / exec_env: every string (praudit shows the first 128)."""
    key, name, elem, child = (("argv", "exec arg", "exec_args", "arg")
                              if tid == T.AUT_EXEC_ARGS else
                              ("envp", "exec env", "exec_env", "env"))
    strings = pc.list_slice(v[key], 0, T.AUDIT_MAX_ARGS)
    return Fmt(name, elem, [(child, strings)], "list", child=child)


def exit_(v: dict[str, Any], _tid: int, _ctx: Ctx) -> Fmt:
    """exit: ``Error <status>`` (even with -r: quirk), then the return value (%u)."""
    return Fmt("exit", "exit", [
        ("errval", F.cat("Error ", F.dec_low32(v["status"], signed=False))),
        ("retval", F.dec_low32(v["return"], signed=False))])


def socket(v: dict[str, Any], _tid: int, _ctx: Ctx) -> Fmt:
    """socket (0x2e): type, local port, address, remote port, address (decimal ports)."""
    return Fmt("socket", "socket", [
        ("sock_type", F.dec(v["type"])), ("lport", F.dec(v["local_port"])),
        ("laddr", F.as_bin(v["local_addr"])), ("fport", F.dec(v["remote_port"])),
        ("faddr", F.as_bin(v["remote_addr"]))])


def socket_ex(v: dict[str, Any], _tid: int, _ctx: Ctx) -> Fmt:
    """socket_ex: BSM domain/type and ports in %#x; XML order differs (faddr before fport)."""
    lport, laddr = F.hex_alt(v["local_port"]), F.as_bin(v["local_addr"])
    rport, raddr = F.hex_alt(v["remote_port"]), F.as_bin(v["remote_addr"])
    return Fmt("socket", "socket", [
        ("sock_dom", F.hex_alt(v["domain"])), ("sock_type", F.hex_alt(v["type"])),
        ("lport", lport), ("laddr", laddr), (None, rport), (None, raddr),
        ("@faddr", raddr), ("@fport", rport)])


def sock_inet(v: dict[str, Any], tid: int, _ctx: Ctx) -> Fmt:
    """sock_inet32/128: family, port (decimal), address."""
    name = "socket-inet" if tid == T.AUT_SOCKINET32 else "socket-inet6"
    return Fmt(name, name, [
        ("type", F.dec(v["domain"])), ("port", F.dec(v["remote_port"])),
        ("addr", F.as_bin(v["remote_addr"]))])


def sock_unix(v: dict[str, Any], _tid: int, _ctx: Ctx) -> Fmt:
    """sock_unix: family and path (XML has an empty port attribute)."""
    n = len(v["path"])
    return Fmt("socket-unix", "socket-unix", [
        ("type", F.dec(v["domain"])), ("@port", pa.array([b""] * n, F.BIN)),
        ("addr", v["path"])], escape=frozenset({"addr"}))


def in_addr(v: dict[str, Any], tid: int, _ctx: Ctx) -> Fmt:
    """in_addr / in_addr_ex: an address."""
    name = "ip addr" if tid == T.AUT_IN_ADDR else "ip addr ex"
    return Fmt(name, "ip_address", [("", F.as_bin(v["addr"]))])


def iport(v: dict[str, Any], _tid: int, _ctx: Ctx) -> Fmt:
    """iport: the port in %#x."""
    return Fmt("ip port", "ip_port", [("", F.hex_alt(v["port"]))])


def seq(v: dict[str, Any], _tid: int, _ctx: Ctx) -> Fmt:
    """seq: the sequence number."""
    return Fmt("sequence", "sequence", [("seq-num", F.dec(v["seq"]))])


FORMATTERS: dict[int, Formatter] = {
    T.AUT_HEADER32: header, T.AUT_HEADER32_EX: header, T.AUT_HEADER64: header,
    T.AUT_HEADER64_EX: header, T.AUT_TRAILER: trailer,
    **dict.fromkeys(_SUBJECT_NAMES, subject),
    T.AUT_RETURN32: return_, T.AUT_RETURN64: return_,
    T.AUT_PATH: path, T.AUT_TEXT: path, T.AUT_ZONENAME: zonename,
    T.AUT_ATTR: attr, T.AUT_ATTR32: attr, T.AUT_ATTR64: attr,
    T.AUT_ARG32: arg, T.AUT_ARG64: arg,
    T.AUT_EXEC_ARGS: exec_strings, T.AUT_EXEC_ENV: exec_strings,
    T.AUT_EXIT: exit_, T.AUT_SOCKET: socket, T.AUT_SOCKET_EX: socket_ex,
    T.AUT_SOCKINET32: sock_inet, T.AUT_SOCKINET128: sock_inet, T.AUT_SOCKUNIX: sock_unix,
    T.AUT_IN_ADDR: in_addr, T.AUT_IN_ADDR_EX: in_addr, T.AUT_IPORT: iport, T.AUT_SEQ: seq,
}
