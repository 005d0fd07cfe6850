"""A deterministic workload generator: a simulated workday on a Mac, as a BSM trail plus a
ground-truth sidecar.

Same seed, same parameters -> the same bytes, on every machine and Python version (only
:class:`random.Random` with an integer seed, no ``hash()``, no clock).  The trail opens and
closes with auditd's stand-alone file tokens; in between, the records of several users
(root 0, alice 501, bob 502, daemons with the unset auid 0xffffffff) interleave: console and
ssh logins with failures, su and sudo, shells that fork/vfork/posix_spawn, execs with awkward
argv (spaces, quotes, commas, newlines, UTF-8, empty strings, an empty argv, more than 128
arguments) and sometimes an environment, file activity (open/openat with the AUE_OPEN_* event
that matches the flags, create, unlink, rename, chmod, mkdir) with ENOENT / EACCES / EPERM /
EEXIST failures, network (socket, bind, listen, connect, accept with socket_ex, sock_inet32,
sock_inet128 and sock_unix; ECONNREFUSED, ETIMEDOUT, EADDRINUSE), authentication events,
exits, and pids that a later, different process reuses.  Token variants are mixed per
process: header32 / header32_ex / header64, subject32 / subject32_ex / subject64 /
subject64_ex (IPv6 terminals), return32 / return64, attr32 / attr64, arg32 / arg64.

Example::

    >>> import io
    >>> out = io.BytesIO()
    >>> stats = generate(out, None, seed=1, records=200)
    >>> stats.records, out.getvalue()[:1] == b"\\x11"
    (200, True)

From the shell: ``python -m knox_analytics.workload --seed 1 --size 300MB -o day.bsm
--truth day.truth.jsonl``.

The truth sidecar
=================
One JSON object per line, one line per row of the decoded table, in trail order: the
stand-alone file tokens (first and last line) and every record.  Keys of a record line
(the shape of ``tests/data/trails/synthetic-workload.truth.jsonl``, plus the process keys):

================  ==========================================================================
i                 row number (0-based, file tokens included)
offset, length    byte offset of the record in the trail, record length
event             event number; ``event_name`` its name in audit_event; ``emod`` modifier (0)
header            header token kind (header32, header32_ex, header64); ``host`` for _ex kinds
time, sec, msec   ISO time ``2026-03-02T08:00:00.034Z`` (UTC), and the header's seconds / msec
user              name of the subject's euid (root, alice, bob, _mdnsresponder)
tokens            token names in order, header and trailer included
subject           {kind, auid, euid, egid, ruid, rgid, pid, sid, tid_port, tid_addr}
return            return32: {status, errno, errno_name, value, value_u32}; return64: {kind:
                  "return64", status, errno, errno_name, value}.  errno is the BSM errno
                  (audit_errno.h), value is signed (-1 on failure), value_u32 its u32 form
paths             every path token, in order (always present, maybe empty)
argv, env         exec_args / exec_env strings (only when the record has them)
attrs             [{kind, mode (octal string, e.g. "100644"), uid, gid, fsid, nodeid, dev}]
args              [{kind, n, name, value}] (value as written, unsigned)
sockets           socket_ex: {kind, domain_bsm, type_bsm, atype, laddr, lport, raddr, rport};
                  sock_inet32/128: {kind, family, addr, port}; sock_unix: {kind, family, path}
texts             text tokens; ``exit``: {status, value} of the exit token
pid, ppid         the subject's pid and the pid of its parent process instance (0 if unknown)
process_instance  unique id of the subject's process incarnation (a reused pid gets a new one)
command           the program the subject runs; for an exec (execve / posix_spawn) record the
                  basename of argv[0] (of the path if argv is empty) of the new program
child_pid         fork / vfork / posix_spawn records: the child's pid and process instance
child_instance    (absent when the call failed)
================  ==========================================================================

A file-token line has ``i, offset, length, header: "file", tokens: ["file"], time, sec,
msec, file_name`` and no ``event``.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import json
import re
import struct
import sys
import time as _time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from random import Random
from typing import Any, BinaryIO, NamedTuple, TextIO

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.encode import encode_file_token, encode_token
from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.errors import KnoxError, UsageError

__all__ = ["DEFAULT_START", "HeaderWriter", "Packer", "WorkloadStats", "field_bytes", "generate",
           "main", "parse_size"]

DEFAULT_START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DEFAULT_HOSTS = ("192.168.1.23", "2001:db8::17")
DEFAULT_RECORDS = 3000
#: The simulated activity is spread over about this much time, whatever the trail size.
WORKDAY_MS = 10 * 3600 * 1000
AVG_RECORD_BYTES = 120  # measured on generated trails: to turn a byte target into a pace

# --- format facts the generator needs -----------------------------------------------------
# Event, errno and socket numbers come from the packaged OpenBSM tables (tables.py); only the
# macOS host constants below are not in them.
# sock_inet32/128/unix and the socket(2) arguments carry macOS host values (sys/socket.h),
# while socket_ex carries BSM numbers (audit_domain.h, audit_socket_type.h).
AF_UNIX, AF_INET, AF_INET6, SOCK_STREAM, SOCK_DGRAM = 1, 2, 30, 1, 2
# macOS open(2) flags (sys/fcntl.h), as the arg token "flags" records them.
O_WRONLY, O_RDWR, O_APPEND, O_CREAT, O_TRUNC, O_EXCL = 0x1, 0x2, 0x8, 0x200, 0x400, 0x800
O_DIRECTORY = 0x100000  # not an access mode: still AUE_OPEN_R
AT_FDCWD = 0xFFFFFFFE  # -2 as the u32 an arg32 token holds
AUID_UNSET = 0xFFFFFFFF
FSID = 16777220  # the APFS data volume's fsid on the Macs the synthetic trails model


def _tables() -> Tables:
    # "builtin": the packaged tables, never the host's /etc/security (same bytes anywhere)
    return load_tables("builtin")


class _Numbers(dict[str, int]):
    """name -> number, filled from a table on first use (unknown name: KnoxError)."""

    def __init__(self, lookup: Callable[[str], int | None], what: str) -> None:
        super().__init__()
        self.lookup, self.what = lookup, what

    def __missing__(self, name: str) -> int:
        num = self.lookup(name)
        if num is None:
            raise KnoxError(f"workload: {self.what} {name!r} is not in the packaged tables")
        self[name] = num
        return num


EVENTS = _Numbers(lambda n: _tables().events.number(n), "event")
BSM_ERRNO = _Numbers(lambda n: _tables().errnos.number(n), "errno")
BSM_DOMAIN = _Numbers(lambda n: _tables().socket_domains.number(n), "socket domain")
BSM_SOCK_TYPE = _Numbers(lambda n: _tables().socket_types.number(n), "socket type")


# --- tokens: encoded once, reused by value ------------------------------------------------


class Tok(NamedTuple):
    """One encoded token and what the sidecar says about it."""

    name: str
    data: bytes
    key: str | None  # sidecar key it feeds: a list key (paths, ...) or a singleton key
    value: Any


_LIST_KEYS = ("paths", "attrs", "args", "sockets", "texts")


@lru_cache(maxsize=1 << 16)
def path_tok(path: str) -> Tok:
    return Tok("path", encode_token("path", path=path), "paths", path)


@lru_cache(maxsize=1 << 14)
def attr_tok(kind: str, mode: int, uid: int, gid: int, nodeid: int, dev: int = 0) -> Tok:
    data = encode_token(kind, mode=mode, uid=uid, gid=gid, fsid=FSID, nodeid=nodeid, dev=dev)
    value = {"kind": kind, "mode": f"{mode:o}", "uid": uid, "gid": gid, "fsid": FSID,
             "nodeid": nodeid, "dev": dev}
    return Tok(kind, data, "attrs", value)


@lru_cache(maxsize=1 << 14)
def arg_tok(kind: str, num: int, name: str, value: int) -> Tok:
    packer, name_bytes = _arg_packer(kind, name)
    data = packer.pack(num, value, name_bytes)
    return Tok(kind, data, "args", {"kind": kind, "n": num, "name": name, "value": value})


@lru_cache(maxsize=1 << 14)
def return_tok(kind: str, errno_name: str, value: int) -> Tok:
    """A return token; ``errno_name`` "" means success, otherwise the value is -1."""
    errno = BSM_ERRNO[errno_name] if errno_name else 0
    data = encode_token(kind, errno=errno, value=value)
    status = "failure" if errno else "success"
    if kind == "return64":
        truth = {"kind": kind, "status": status, "errno": errno, "errno_name": errno_name,
                 "value": value}
    else:
        truth = {"status": status, "errno": errno, "errno_name": errno_name, "value": value,
                 "value_u32": value & 0xFFFFFFFF}
    return Tok(kind, data, "return", truth)


@lru_cache(maxsize=1 << 12)
def text_tok(text: str) -> Tok:
    return Tok("text", encode_token("text", text=text), "texts", text)


@lru_cache(maxsize=1 << 12)
def exec_args_tok(argv: tuple[str, ...]) -> Tok:
    return Tok("exec_args", encode_token("exec_args", argv=list(argv)), "argv", list(argv))


@lru_cache(maxsize=64)
def exec_env_tok(env: tuple[str, ...]) -> Tok:
    return Tok("exec_env", encode_token("exec_env", envp=list(env)), "env", list(env))


@lru_cache(maxsize=256)
def exit_tok(status: int) -> Tok:
    data = encode_token("exit", status=status, **{"return": 0})
    return Tok("exit", data, "exit", {"status": status, "value": 0})


@lru_cache(maxsize=1 << 12)
def sock_inet_tok(addr: str, port: int) -> Tok:
    """sock_inet32 or sock_inet128 (a sockaddr argument), by the address's family."""
    kind, family = ("sock_inet128", AF_INET6) if ":" in addr else ("sock_inet32", AF_INET)
    data = encode_token(kind, domain=family, remote_port=port, remote_addr=addr)
    return Tok(kind, data, "sockets", {"kind": kind, "family": family, "addr": addr,
                                       "port": port})


@lru_cache(maxsize=64)
def sock_unix_tok(path: str) -> Tok:
    data = encode_token("sock_unix", domain=AF_UNIX, path=path)
    return Tok("sock_unix", data, "sockets", {"kind": "sock_unix", "family": AF_UNIX,
                                              "path": path})


def socket_ex_tok(laddr: str, lport: int, raddr: str, rport: int) -> Tok:
    """socket_ex: BSM domain/type, local and remote endpoint (ports vary: not cached)."""
    v6 = ":" in laddr
    domain = BSM_DOMAIN["PF_INET6" if v6 else "PF_INET"]
    stream = BSM_SOCK_TYPE["SOCK_STREAM"]
    data = encode_token("socket_ex", domain=domain, type=stream, local_addr=laddr,
                        local_port=lport, remote_addr=raddr, remote_port=rport)
    value = {"kind": "socket_ex", "domain_bsm": domain, "type_bsm": stream,
             "atype": T.AU_IPV6 if v6 else T.AU_IPV4, "laddr": laddr, "lport": lport,
             "raddr": raddr, "rport": rport}
    return Tok("socket_ex", data, "sockets", value)


# --- fixed-layout tokens: a struct compiled from the token layout -------------------------

_STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}
# Variable-size fields are encoded once by the generic writer, through a token whose only
# field has that kind (so no byte layout is restated here).
_ONE_FIELD_TOKENS = {"ip4": ("in_addr", "addr"), "addr": ("in_addr_ex", "addr"),
                     "str16": ("text", "text")}


def field_bytes(kind: str, value: Any) -> bytes:
    """The encoded bytes of one ``ip4`` / ``addr`` / ``str16`` field."""
    token, name = _ONE_FIELD_TOKENS[kind]
    return encode_token(token, **{name: value})[1:]


class Packer:
    """A token kind compiled to one ``struct``: ``pack(*fields)`` takes every field in
    layout order (tokens.py), integers as ints and the variable-size fields (``ip4``,
    ``addr``, ``str16``) as bytes from :func:`field_bytes`; ``sizes`` gives those fields'
    encoded lengths.  Example::

        Packer("arg32", sizes={"name": 8}).pack(2, 513, field_bytes("str16", "flags"))
        == encode_token("arg32", num=2, value=513, name="flags")

    ``tests/test_workload.py`` checks every use against :func:`encode_token` /
    :func:`knox_analytics.bsm.encode.encode_record`.
    """

    def __init__(self, kind: str, sizes: dict[str, int] | None = None) -> None:
        tt = T.TOKENS_BY_NAME[kind]
        sizes = sizes or {}
        codes = [f"{sizes[name]}s" if name in sizes else _STRUCT_CODES[fkind]
                 for fkind, name in tt.layout]
        self.kind, self.id = kind, tt.id
        self.struct = struct.Struct(">B" + "".join(codes))
        self.size = self.struct.size

    def pack(self, *fields: Any) -> bytes:
        return self.struct.pack(self.id, *fields)


class HeaderWriter:
    """One header kind (and its host, for the _ex kinds): ``pack(length, event, sec,
    msec)`` writes version 11, modifier 0 with one ``struct.pack`` per record."""

    def __init__(self, kind: str, host: str | None) -> None:
        self.host_bytes = field_bytes("addr", host) if host is not None else b""
        sizes = {"host": len(self.host_bytes)} if host is not None else None
        self.packer = Packer(kind, sizes)
        self.kind, self.host, self.size = kind, host, self.packer.size
        self.id, self.struct = self.packer.id, self.packer.struct

    def pack(self, length: int, event: int, sec: int, msec: int) -> bytes:
        if self.host_bytes:
            return self.struct.pack(self.id, length, 11, event, 0, self.host_bytes, sec, msec)
        return self.struct.pack(self.id, length, 11, event, 0, sec, msec)


_TRAILER = Packer("trailer")


def trailer(length: int) -> bytes:
    return _TRAILER.pack(T.TRAILER_MAGIC, length)


@lru_cache(maxsize=256)
def _arg_packer(kind: str, name: str) -> tuple[Packer, bytes]:
    name_bytes = field_bytes("str16", name)
    return Packer(kind, {"name": len(name_bytes)}), name_bytes


@lru_cache(maxsize=64)
def _subject_packer(kind: str, tid_addr: str) -> tuple[Packer, bytes]:
    fkind = dict((n, k) for k, n in T.TOKENS_BY_NAME[kind].layout)["tid_addr"]
    addr = field_bytes(fkind, tid_addr)
    return Packer(kind, {"tid_addr": len(addr)}), addr


# --- the simulated machine ---------------------------------------------------------------


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: str


ROOT = User("root", 0, 0, "/var/root")
ALICE = User("alice", 501, 20, "/Users/alice")
BOB = User("bob", 502, 20, "/Users/bob")
MDNS = User("_mdnsresponder", 65, 65, "/var/empty")
USERS_BY_UID = {u.uid: u for u in (ROOT, ALICE, BOB, MDNS)}
USER_NAMES = {u.uid: u.name for u in (ROOT, ALICE, BOB, MDNS)}


@dataclass(frozen=True)
class Style:
    """The token variants one process's records use."""

    header: str
    subject: str
    ret: str = "return32"
    attr: str = "attr32"
    arg: str = "arg32"


STYLES_V4 = ((Style("header32", "subject32"), 6), (Style("header32_ex", "subject32_ex"), 1),
             (Style("header64", "subject64", "return64", "attr64", "arg64"), 1))
STYLES_V6 = ((Style("header32", "subject32_ex"), 5), (Style("header32_ex", "subject32_ex"), 1),
             (Style("header64", "subject64_ex", "return64", "attr64", "arg64"), 1))


@dataclass
class Proc:
    """One process instance (a pid may be reused by a later instance)."""

    instance: int
    pid: int
    ppid: int
    auid: int
    euid: int
    egid: int
    ruid: int
    rgid: int
    sid: int
    tid: tuple[int, str]
    style: Style
    command: str
    fds: Iterator[int] = field(default_factory=lambda: itertools.count(3))
    subject: Tok | None = None
    head: HeaderWriter | None = None  # set by the Machine on the first record

    def refresh_subject(self) -> None:
        """Re-encode the subject token (after exec, setuid, ...)."""
        fields = {"auid": self.auid, "euid": self.euid, "egid": self.egid,
                  "ruid": self.ruid, "rgid": self.rgid, "pid": self.pid, "sid": self.sid,
                  "tid_port": self.tid[0], "tid_addr": self.tid[1]}
        kind = self.style.subject
        self.head = None  # the style may have changed
        packer, addr = _subject_packer(kind, self.tid[1])
        data = packer.pack(self.auid, self.euid, self.egid, self.ruid, self.rgid, self.pid,
                           self.sid, self.tid[0], addr)
        self.subject = Tok(kind, data, "subject", {"kind": kind, **fields})

    def as_user(self, user: User) -> None:
        self.euid = self.ruid = user.uid
        self.egid = self.rgid = user.gid
        self.refresh_subject()

    @property
    def user(self) -> User:
        return USERS_BY_UID.get(self.euid, ROOT)


@dataclass
class WorkloadStats:
    """What :func:`generate` wrote."""

    records: int = 0
    file_tokens: int = 0
    bytes: int = 0
    processes: int = 0
    reused_pids: int = 0
    first_ms: int = 0
    last_ms: int = 0
    events: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def _iso(sec: int, msec: int) -> str:
    return f"{_time.strftime('%Y-%m-%dT%H:%M:%S', _time.gmtime(sec))}.{msec:03d}Z"


class TargetReached(Exception):
    """Raised by :meth:`Machine.emit` instead of writing a record past the target."""


class Machine:
    """The trail writer and process table; the actors (:class:`Simulation`) drive it."""

    FLUSH_BYTES = 1 << 20

    def __init__(self, out: BinaryIO, truth: TextIO | None, rng: Random, start_ms: int,
                 hosts: Sequence[str]) -> None:
        self.out, self.truth, self.rng = out, truth, rng
        self.now = start_ms
        self.hosts = tuple(hosts)
        self.events = EVENTS
        self.max_records = self.max_bytes = 1 << 62
        self.stats = WorkloadStats(first_ms=start_ms)
        self.offset = 0
        self.row = 0
        self.buf: list[bytes] = []
        self.buf_len = 0
        self.truth_buf: list[str] = []
        self.headers: dict[tuple[str, str | None], HeaderWriter] = {}
        self.instances = itertools.count(1)
        self.next_pid = 300
        self.live: dict[int, Proc] = {}
        self.freed: list[int] = []  # pids of exited processes, oldest first
        self.used_pids: set[int] = set()
        self.sids = itertools.count(100003)

    # ---- processes
    def new_proc(self, parent: Proc | None, command: str, *, user: User | None = None,
                 auid: int | None = None, sid: int | None = None,
                 tid: tuple[int, str] | None = None, style: Style | None = None,
                 pid: int | None = None) -> Proc:
        """A new process instance: a child of ``parent`` (inheriting its credentials,
        session and token style) or, with ``parent=None``, a process launchd started."""
        pid = self.alloc_pid() if pid is None else pid
        if parent is None:
            user = user or ROOT
            proc = Proc(next(self.instances), pid, 1, AUID_UNSET if auid is None else auid,
                        user.uid, user.gid, user.uid, user.gid, sid or 100000,
                        tid or (0, "0.0.0.0"), style or self.pick_style(tid), command)
        else:
            proc = Proc(next(self.instances), pid, parent.pid, parent.auid, parent.euid,
                        parent.egid, parent.ruid, parent.rgid, parent.sid, parent.tid,
                        style or self.pick_style(parent.tid), parent.command)
            if user is not None:
                proc.euid = proc.ruid = user.uid
                proc.egid = proc.rgid = user.gid
        proc.refresh_subject()
        self.live[pid] = proc
        self.stats.processes += 1
        return proc

    def alloc_pid(self) -> int:
        """The next pid; sometimes a recently freed one, as a wrapped pid counter does."""
        if len(self.freed) > 8 and self.rng.random() < 0.04:
            pid = self.freed.pop(0)
            if pid not in self.live:
                self.stats.reused_pids += 1
                return pid
        while True:
            self.next_pid = self.next_pid + 1 if self.next_pid < 99998 else 100
            if self.next_pid not in self.live:
                if self.next_pid in self.used_pids:
                    self.stats.reused_pids += 1
                self.used_pids.add(self.next_pid)
                return self.next_pid

    def end_proc(self, proc: Proc) -> None:
        if self.live.get(proc.pid) is proc:
            del self.live[proc.pid]
            self.freed.append(proc.pid)
            if len(self.freed) > 4096:
                del self.freed[:2048]

    def pick_style(self, tid: tuple[int, str] | None) -> Style:
        """Token variants of a new process (an IPv6 terminal needs a subject_ex)."""
        choices = STYLES_V6 if tid and ":" in tid[1] else STYLES_V4
        return self.rng.choices([s for s, _ in choices], [w for _, w in choices])[0]

    # ---- records
    def _header_writer(self, proc: Proc) -> HeaderWriter:
        """The header writer of a process's style (the _ex host alternates by pid)."""
        style = proc.style
        host = self.hosts[proc.pid % len(self.hosts)] if style.header.endswith("_ex") else None
        key = (style.header, host)
        writer = self.headers.get(key)
        if writer is None:
            writer = self.headers[key] = HeaderWriter(style.header, host)
        proc.head = writer
        return writer

    def emit(self, proc: Proc, event: str, pre: Sequence[Tok], post: Sequence[Tok],
             ret: Tok, extra: dict[str, Any] | None = None) -> None:
        """Write one record: header, ``pre`` tokens, subject, ``post`` tokens, return,
        trailer; and its sidecar line."""
        if self.stats.records >= self.max_records or self.offset >= self.max_bytes:
            raise TargetReached
        subject = proc.subject
        assert subject is not None
        parts = [t.data for t in pre]
        parts.append(subject.data)
        if post:
            parts.extend([t.data for t in post])
        parts.append(ret.data)
        body = b"".join(parts)
        head = proc.head or self._header_writer(proc)
        length = head.size + len(body) + T.TRAILER_SIZE
        sec, msec = divmod(self.now, 1000)
        number = self.events[event]
        self.buf.append(head.pack(length, number, sec, msec) + body + trailer(length))
        self.buf_len += length
        if self.truth is not None:
            self._truth_record(proc, event, number, head, length, sec, msec,
                               (*pre, subject, *post, ret), extra)
        self.stats.records += 1
        self.stats.events[event] += 1
        self.offset += length
        self.row += 1
        if self.buf_len >= self.FLUSH_BYTES:
            self.flush()

    def _write(self, *parts: bytes) -> None:
        self.buf.extend(parts)
        self.buf_len += sum(map(len, parts))
        if self.buf_len >= self.FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        self.out.write(b"".join(self.buf))
        self.stats.bytes += self.buf_len
        self.buf.clear()
        self.buf_len = 0
        if self.truth is not None and self.truth_buf:
            self.truth.write("".join(self.truth_buf))
            self.truth_buf.clear()

    def _truth_record(self, proc: Proc, event: str, number: int, head: HeaderWriter,
                      length: int, sec: int, msec: int, toks: Sequence[Tok],
                      extra: dict[str, Any] | None) -> None:
        rec: dict[str, Any] = {
            "i": self.row, "offset": self.offset, "length": length, "event": number,
            "event_name": event, "emod": 0, "header": head.kind}
        if head.host:
            rec["host"] = head.host
        rec.update(time=_iso(sec, msec), sec=sec, msec=msec,
                   user=USER_NAMES.get(proc.euid, str(proc.euid)),
                   tokens=[head.kind, *(t.name for t in toks), "trailer"])
        rec["subject"] = proc.subject.value  # type: ignore[union-attr]
        rec["return"] = toks[-1].value
        rec["paths"] = []
        for t in toks[:-1]:
            if t.key in _LIST_KEYS:
                rec.setdefault(t.key, []).append(t.value)
            elif t.key not in ("subject", None):
                rec[t.key] = t.value
        rec.update(pid=proc.pid, ppid=proc.ppid, process_instance=proc.instance,
                   command=proc.command)
        if extra:
            rec.update(extra)
        self.truth_buf.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")

    def file_token(self, name: str) -> None:
        """auditd's stand-alone file token (trail start and end), and its sidecar line."""
        data = encode_file_token(name, self.now)
        self._write(data)
        if self.truth is not None:
            sec, msec = divmod(self.now, 1000)
            self.truth_buf.append(json.dumps({
                "i": self.row, "offset": self.offset, "length": len(data), "header": "file",
                "tokens": ["file"], "time": _iso(sec, msec), "sec": sec, "msec": msec,
                "file_name": name}, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.stats.file_tokens += 1
        self.offset += len(data)
        self.row += 1


# --- what the processes do -----------------------------------------------------------------

Actor = Iterator[int]  # a generator that yields the milliseconds until it acts again

DIRS = ("Documents", "Desktop", "src/project", "Downloads",
        "Library/Application Support/Code/User")
STEMS = ("report", "notes", "budget", "todo list", "Q1 plan", "résumé", "données 3", "日本語",
         "notes, draft", "main", "config", "backup", "draft", "x", "util", "build")
EXTS = (".txt", ".md", ".c", ".json", ".pdf", ".csv", ".log", ".tar.gz")
PROGRAMS = ("/bin/ls", "/bin/cat", "/bin/cp", "/bin/mv", "/bin/rm", "/bin/mkdir",
            "/bin/chmod", "/usr/bin/touch", "/usr/bin/vim", "/usr/bin/git", "/usr/bin/grep",
            "/usr/bin/python3", "/usr/bin/curl", "/usr/bin/ssh", "/usr/bin/make",
            "/usr/bin/clang", "/usr/bin/sudo", "/usr/bin/su", "/bin/zsh", "/bin/echo",
            "/usr/local/bin/psql", "/usr/libexec/xpcproxy", "/usr/sbin/cfprefsd",
            "/usr/bin/tar", "/usr/bin/awk", "/bin/ps", "/usr/libexec/periodic-wrapper")
ENV = ("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "TERM=xterm-256color",
       "LANG=en_US.UTF-8", "SHELL=/bin/zsh", "EMPTY=")
REMOTES_V4 = ("93.184.216.34", "17.253.144.10", "140.82.121.4", "10.0.0.8")
REMOTES_V6 = ("2606:4700:4700::1111", "2a00:1450:4001:82b::200e", "2001:db8::5")
HOME_V4, HOME_V6 = "192.168.1.23", "2001:db8::17"


def nodeid_of(path: str) -> int:
    """A stable inode number for a path (crc32, not ``hash()``: that is salted per run)."""
    return 1_000_000 + zlib.crc32(path.encode()) % 90_000_000


class Simulation:
    """The actors of the simulated day and the scheduler that interleaves them."""

    def __init__(self, machine: Machine, rng: Random, pace_ms: float) -> None:
        self.m, self.rng = machine, rng
        self.pace = pace_ms  # mean think time between two shell commands
        self.heap: list[tuple[int, int, Actor]] = []
        self.seq = itertools.count()
        self.files: dict[str, list[str]] = {u.name: self._file_pool(u) for u in
                                            (ALICE, BOB, ROOT)}
        self.missing = {u: set(p[::7]) for u, p in self.files.items()}
        self.launchd = machine.new_proc(None, "launchd", pid=1)
        self.launchd.ppid = 0
        self.launchd.refresh_subject()

    # ---- scheduling
    def spawn(self, actor: Actor, delay: int = 0) -> None:
        heapq.heappush(self.heap, (self.m.now + delay, next(self.seq), actor))

    def run(self) -> None:
        """Interleave the actors until :class:`TargetReached` (or nobody is left)."""
        with contextlib.suppress(TargetReached):
            self._loop()

    def _loop(self) -> None:
        while self.heap:
            when, _, actor = heapq.heappop(self.heap)
            if when > self.m.now:
                self.m.now = when
            try:
                delay = next(actor)
            except StopIteration:
                continue
            heapq.heappush(self.heap, (self.m.now + delay, next(self.seq), actor))

    def tick(self) -> int:
        """A short pause between two system calls of one process."""
        return self.rng.randrange(0, 12)

    def think(self, scale: float = 1.0) -> int:
        return int(self.rng.expovariate(1.0 / (self.pace * scale))) + 1

    # ---- helpers that write one record
    def ret(self, p: Proc, errno: str = "", value: int = 0) -> Tok:
        return return_tok(p.style.ret, errno, -1 if errno else value)

    def arg(self, p: Proc, num: int, name: str, value: int) -> Tok:
        return arg_tok(p.style.arg, num, name, value & 0xFFFFFFFF)

    def attr(self, p: Proc, path: str, owner: User, mode: int = 0o100644) -> Tok:
        return attr_tok(p.style.attr, mode, owner.uid, owner.gid, nodeid_of(path))

    def _file_pool(self, user: User) -> list[str]:
        rng = Random(user.uid)  # the pool is part of the machine, not of the seed
        return [f"{user.home}/{rng.choice(DIRS)}/{rng.choice(STEMS)}{rng.choice(EXTS)}"
                for _ in range(150)]

    def some_file(self, p: Proc) -> str:
        return self.rng.choice(self.files.get(p.user.name, self.files["root"]))

    # ---- process lifecycle
    def start_child(self, parent: Proc, vfork: bool = False) -> Proc:
        """fork / vfork: the child pid is only in the return value (and an arg token)."""
        child = self.m.new_proc(parent, parent.command)
        self.m.emit(parent, "AUE_VFORK" if vfork else "AUE_FORK",
                    [self.arg(parent, 0, "child PID", child.pid)], [],
                    self.ret(parent, "", child.pid),
                    {"child_pid": child.pid, "child_instance": child.instance})
        return child

    def execve(self, p: Proc, path: str, argv: Sequence[str], errno: str = "",
               env: bool = False, owner: User = ROOT) -> None:
        toks = [path_tok(path)]
        if not errno:
            toks.append(self.attr(p, path, owner, 0o104755 if owner is ROOT and
                                  path in ("/usr/bin/sudo", "/usr/bin/su") else 0o100755))
        toks.append(exec_args_tok(tuple(argv)))
        if env:
            toks.append(exec_env_tok(ENV[:4] if self.rng.random() < 0.7 else ENV))
        command = _command(path, argv)
        if not errno:
            p.command = command
        self.m.emit(p, "AUE_EXECVE", toks, [], self.ret(p, errno), {"command": command})

    def posix_spawn(self, parent: Proc, path: str, argv: Sequence[str], errno: str = "",
                    env: bool = False) -> Proc | None:
        """posix_spawn: the subject is the parent; the new process is in the arg token."""
        child = None if errno else self.m.new_proc(parent, _command(path, argv))
        toks = [self.arg(parent, 0, "child PID", child.pid)] if child else []
        toks.append(path_tok(path))
        if child:
            toks.append(self.attr(parent, path, ROOT, 0o100755))
        toks.append(exec_args_tok(tuple(argv)))
        if env:
            toks.append(exec_env_tok(ENV[:4]))
        extra: dict[str, Any] = {"command": _command(path, argv)}
        if child:
            extra.update(child_pid=child.pid, child_instance=child.instance)
        self.m.emit(parent, "AUE_POSIX_SPAWN", toks, [], self.ret(parent, errno), extra)
        return child

    def exit(self, p: Proc, status: int = 0) -> None:
        self.m.emit(p, "AUE_EXIT", [exit_tok(status)], [], self.ret(p))
        self.m.end_proc(p)

    # ---- file system calls
    def open(self, p: Proc, path: str, flags: int, *, at: bool = False,
             errno: str | None = None, owner: User | None = None) -> int:
        """open(2) / openat(2) with the AUE_OPEN[AT]_* event its flags select."""
        owner = owner or p.user
        user_files = self.missing.get(p.user.name, set())
        if errno is None:
            errno = "ENOENT" if path in user_files and not flags & O_CREAT else ""
        if errno == "" and flags & O_CREAT:
            user_files.discard(path)
        event = _open_event(flags, at)
        fd = next(p.fds) if not errno else -1
        toks = [self.arg(p, 1, "dir fd", AT_FDCWD), self.arg(p, 3, "flags", flags)] if at \
            else [self.arg(p, 2, "flags", flags)]
        toks.append(path_tok(path))
        if errno != "ENOENT":
            toks.append(self.attr(p, path, owner, 0o100600 if owner is ROOT else 0o100644))
        self.m.emit(p, event, toks, [], self.ret(p, errno, fd))
        return fd

    def unlink(self, p: Proc, path: str) -> None:
        missing = self.missing.get(p.user.name, set())
        errno = "ENOENT" if path in missing else ""
        toks = [path_tok(path)] + ([] if errno else [self.attr(p, path, p.user)])
        self.m.emit(p, "AUE_UNLINK", toks, [], self.ret(p, errno))
        missing.add(path)

    def rename(self, p: Proc, src: str, dst: str, errno: str = "") -> None:
        missing = self.missing.get(p.user.name, set())
        if not errno and src in missing:
            errno = "ENOENT"
        toks = [path_tok(src)]
        if not errno:
            toks.append(self.attr(p, src, p.user))
        toks.append(path_tok(dst))
        self.m.emit(p, "AUE_RENAME", toks, [], self.ret(p, errno))
        if not errno:
            missing.add(src)
            missing.discard(dst)

    def chmod(self, p: Proc, path: str, mode: int, errno: str = "",
              owner: User | None = None) -> None:
        toks = [self.arg(p, 2, "new file mode", mode), path_tok(path),
                self.attr(p, path, owner or p.user)]
        self.m.emit(p, "AUE_CHMOD", toks, [], self.ret(p, errno))

    def mkdir(self, p: Proc, path: str, errno: str = "") -> None:
        toks = [self.arg(p, 2, "mode", 0o755), path_tok(path)]
        if not errno:
            toks.append(attr_tok(p.style.attr, 0o40755, p.euid, p.egid, nodeid_of(path)))
        self.m.emit(p, "AUE_MKDIR", toks, [], self.ret(p, errno))

    # ---- network system calls
    def socket(self, p: Proc, family: int, kind: int = SOCK_STREAM) -> int:
        fd = next(p.fds)
        toks = [self.arg(p, 1, "domain", family), self.arg(p, 2, "type", kind),
                self.arg(p, 3, "protocol", 0)]
        self.m.emit(p, "AUE_SOCKET", toks, [], self.ret(p, "", fd))
        return fd

    def connect(self, p: Proc, fd: int, addr: str, port: int, errno: str = "",
                ex: bool = False) -> None:
        """connect(2): the sockaddr (sock_inet32/128) or, with ``ex``, a socket_ex."""
        if ex:
            local = HOME_V6 if ":" in addr else HOME_V4
            sock = socket_ex_tok(local, self.rng.randrange(49152, 65535), addr, port)
        else:
            sock = sock_inet_tok(addr, port)
        self.m.emit(p, "AUE_CONNECT", [self.arg(p, 1, "fd", fd), sock], [],
                    self.ret(p, errno))

    def connect_unix(self, p: Proc, fd: int, path: str) -> None:
        self.m.emit(p, "AUE_CONNECT", [self.arg(p, 1, "fd", fd), sock_unix_tok(path)], [],
                    self.ret(p))

    def bind(self, p: Proc, fd: int, addr: str, port: int, errno: str = "") -> None:
        self.m.emit(p, "AUE_BIND", [self.arg(p, 1, "fd", fd), sock_inet_tok(addr, port)], [],
                    self.ret(p, errno))

    def listen(self, p: Proc, fd: int) -> None:
        self.m.emit(p, "AUE_LISTEN", [self.arg(p, 1, "fd", fd), self.arg(p, 2, "backlog", 128)],
                    [], self.ret(p))

    def accept(self, p: Proc, fd: int, local: str, lport: int, remote: str) -> int:
        new = next(p.fds)
        sock = socket_ex_tok(local, lport, remote, self.rng.randrange(49152, 65535))
        self.m.emit(p, "AUE_ACCEPT", [self.arg(p, 1, "fd", fd), sock], [],
                    self.ret(p, "", new))
        return new

    def auth_text(self, p: Proc, event: str, text: str, errno: str = "") -> None:
        """login / logout / su / sudo / openssh / auth_user: subject, text, return."""
        self.m.emit(p, event, [], [text_tok(text)], self.ret(p, errno))


def _command(path: str, argv: Sequence[str]) -> str:
    return (argv[0] if argv else path).rsplit("/", 1)[-1]


def _open_event(flags: int, at: bool) -> str:
    """AUE_OPEN[AT]_{R,W,RW}[T][C]: the event the kernel picks from the open flags."""
    mode = ("R", "W", "RW", "RW")[flags & 3]
    return (f"AUE_OPEN{'AT' if at else ''}_{mode}{'T' if flags & O_TRUNC else ''}"
            f"{'C' if flags & O_CREAT else ''}")



# --- the day: who does what -----------------------------------------------------------------

Body = Callable[[Proc], Iterator[int]]  # runs in a child; its generator returns exit status


class Workday(Simulation):
    """The actors: daemons, three users' sessions and the commands their shells run."""

    COMMANDS: tuple[tuple[str, int], ...] = (
        ("cmd_ls", 10), ("cmd_cat", 10), ("cmd_vim", 6), ("cmd_cp", 4), ("cmd_mv", 4),
        ("cmd_rm", 4), ("cmd_mkdir", 2), ("cmd_chmod", 2), ("cmd_touch", 3), ("cmd_git", 6),
        ("cmd_grep", 5), ("cmd_python", 2), ("cmd_curl", 5), ("cmd_psql", 3), ("cmd_ssh", 2),
        ("cmd_make", 2), ("cmd_echo", 3), ("cmd_awk", 2), ("cmd_tar", 2),
        ("cmd_notfound", 2), ("cmd_secret", 2), ("cmd_devserver", 1), ("cmd_sudo", 3),
        ("cmd_su", 1))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cmd_names = [c for c, _ in self.COMMANDS]
        self.cmd_weights = list(itertools.accumulate(w for _, w in self.COMMANDS))
        self.made_dirs: set[str] = set()
        self.auditd = self.m.new_proc(None, "auditd")
        self.sshd = self.m.new_proc(None, "sshd")
        self.mdns = self.m.new_proc(None, "mDNSResponder", user=MDNS)

    # ---- the whole day
    def boot(self) -> None:
        """What the trail starts with: auditd's startup, daemons binding their ports.
        Runs as an actor's first step, so a small record target can stop it midway."""
        self.auth_text(self.auditd, "AUE_audit_startup", "auditd::Audit startup")
        for family, any_addr in ((AF_INET6, "::"), (AF_INET, "0.0.0.0")):
            fd = self.socket(self.sshd, family)
            self.bind(self.sshd, fd, any_addr, 22)
            self.listen(self.sshd, fd)
            udp = self.socket(self.mdns, family, SOCK_DGRAM)
            self.bind(self.mdns, udp, any_addr, 5353)
        self.spawn(self.user_driver(ALICE, tour=True), 1000)
        self.spawn(self.user_driver(BOB), 20_000)
        self.spawn(self.user_driver(ROOT), int(self.pace * 8))
        self.spawn(self.launchd_jobs(), 5_000)

    def booting(self) -> Actor:
        self.boot()
        yield 0

    def shutdown(self) -> None:
        self.auth_text(self.auditd, "AUE_audit_shutdown", "auditd::Audit shutdown")

    # ---- user sessions
    def user_driver(self, user: User, tour: bool = False) -> Actor:
        """Log ``user`` in, run a session, log out, pause; forever."""
        typo = True  # everyone mistypes the password at the first login of the day
        while True:
            if user is BOB or (user is ALICE and self.rng.random() < 0.3):
                shell = yield from self.ssh_login(user, typo)
            else:
                shell = yield from self.console_login(user, typo)
            typo = False
            if shell is not None:
                n = self.rng.randrange(3, 10) if user is ROOT else self.rng.randrange(20, 120)
                yield from self.session(shell, n, tour)
                tour = False
                self.auth_text(shell, "AUE_logout", f"logout {user.name}")
                yield self.tick()
                self.exit(shell)
            yield self.think(30 if user is ROOT else 6)

    def console_login(self, user: User, typo: bool = False) -> Iterator[int]:
        tty = 16777216 + self.rng.randrange(1, 12)
        login = self.m.new_proc(None, "login", user=user, auid=user.uid, sid=next(self.m.sids),
                                tid=(tty, "0.0.0.0"), style=self.m.pick_style(None))
        for attempt in range(3):
            if not (typo and attempt == 0) and self.rng.random() < 0.8:
                break
            self.auth_text(login, "AUE_login", "authentication failed", "EAUTH")
            yield self.rng.randrange(2000, 9000)
        else:
            self.exit(login, 1)
            return None
        self.auth_text(login, "AUE_login", f"successful login {user.name}")
        yield self.tick()
        self.execve(login, "/bin/zsh", ["-zsh"])
        if user is ALICE:
            self.loginwindow = self.m.new_proc(None, "loginwindow", user=ALICE, auid=ALICE.uid,
                                               sid=login.sid, tid=login.tid)
        return login

    def ssh_login(self, user: User, typo: bool = False) -> Iterator[int]:
        client = "2001:db8::a1" if user is BOB else "192.168.1.47"
        local = HOME_V6 if ":" in client else HOME_V4
        self.accept(self.sshd, 3 + (":" not in client), local, 22, client)
        yield self.tick()
        child = self.start_child(self.sshd)
        yield self.tick()
        child.auid, child.sid = user.uid, next(self.m.sids)
        child.tid = (self.rng.randrange(1 << 24, 1 << 26), client)
        child.style = self.m.pick_style(child.tid)
        child.as_user(user)
        if typo or self.rng.random() < 0.2:
            self.auth_text(child, "AUE_openssh", f"authentication failure for {user.name}",
                           "EAUTH")
            yield self.rng.randrange(1000, 6000)
        if not typo and self.rng.random() < 0.1:
            self.exit(child, 255)
            return None
        self.auth_text(child, "AUE_openssh", f"successful login {user.name}")
        yield self.tick()
        self.execve(child, "/bin/zsh", ["-zsh"])
        return child

    def session(self, shell: Proc, n: int, tour: bool = False) -> Iterator[int]:
        """A shell's life: ``n`` commands (each one of every kind first, on a tour)."""
        plan = list(self.cmd_names) if tour else []
        for k in range(max(n, len(plan))):
            yield self.think()
            name = plan[k] if k < len(plan) else self.pick_command()
            if shell.euid == ROOT.uid and name in ("cmd_sudo", "cmd_su"):
                name = "cmd_ls"
            yield from getattr(self, name)(shell)
            if shell.auid == ALICE.uid and self.rng.random() < 0.03:
                yield from self.screen_unlock()

    def pick_command(self) -> str:
        x = self.rng.random() * self.cmd_weights[-1]
        for name, upto in zip(self.cmd_names, self.cmd_weights, strict=True):
            if x < upto:
                return name
        return self.cmd_names[-1]

    def screen_unlock(self) -> Iterator[int]:
        lw = getattr(self, "loginwindow", None)
        if lw is None:
            return
        if self.rng.random() < 0.3:
            self.auth_text(lw, "AUE_auth_user", "Authentication failed for user <alice>",
                           "EAUTH")
            yield self.rng.randrange(1500, 5000)
        self.auth_text(lw, "AUE_auth_user", "Authentication for user <alice>")
        yield self.tick()

    # ---- running a program
    def program(self, parent: Proc, path: str, argv: Sequence[str], body: Body | None,
                *, spawn: bool | None = None, env: bool | None = None) -> Iterator[int]:
        """fork or vfork + execve, or posix_spawn; then ``body`` in the child; then exit."""
        rng = self.rng
        env = rng.random() < 0.2 if env is None else env
        if spawn if spawn is not None else rng.random() < 0.25:
            child = self.posix_spawn(parent, path, argv, env=env)
        else:
            child = self.start_child(parent, vfork=rng.random() < 0.15)
            yield self.tick()
            self.execve(child, path, argv, env=env)
        assert child is not None
        yield self.tick()
        status = (yield from body(child)) if body else 0
        self.exit(child, status or 0)
        yield self.tick()

    def rel(self, p: Proc, path: str) -> str:
        home = p.user.home + "/"
        return path[len(home):] if path.startswith(home) else path

    # ---- commands (each a generator over the shell)
    def cmd_ls(self, sh: Proc) -> Iterator[int]:
        d = self.rng.choice(DIRS)

        def body(p: Proc) -> Iterator[int]:
            self.open(p, f"{p.user.home}/{d}", O_DIRECTORY)
            yield self.tick()
            return 0
        yield from self.program(sh, "/bin/ls", ["ls", "-la", d], body)

    def cmd_cat(self, sh: Proc) -> Iterator[int]:
        f = self.some_file(sh)

        def body(p: Proc) -> Iterator[int]:
            fd = self.open(p, f, 0, at=self.rng.random() < 0.3)
            yield self.tick()
            return 1 if fd < 0 else 0
        yield from self.program(sh, "/bin/cat", ["cat", self.rel(sh, f)], body)

    def cmd_vim(self, sh: Proc) -> Iterator[int]:
        f = self.some_file(sh)
        head, _, name = f.rpartition("/")
        swap = f"{head}/.{name}.swp"

        def body(p: Proc) -> Iterator[int]:
            self.open(p, f, 0)
            yield self.tick()
            self.open(p, swap, O_RDWR | O_CREAT | O_EXCL, at=True)
            yield self.think(0.05)
            self.open(p, f, O_WRONLY | O_CREAT | O_TRUNC)
            yield self.tick()
            self.unlink(p, swap)
            yield self.tick()
            return 0
        yield from self.program(sh, "/usr/bin/vim", ["vim", self.rel(sh, f)], body)

    def cmd_cp(self, sh: Proc) -> Iterator[int]:
        src, dst = self.some_file(sh), self.some_file(sh)

        def body(p: Proc) -> Iterator[int]:
            if self.open(p, src, 0) < 0:
                return 1
            yield self.tick()
            self.open(p, dst, O_WRONLY | O_CREAT | O_TRUNC, at=self.rng.random() < 0.5)
            yield self.tick()
            return 0
        yield from self.program(sh, "/bin/cp", ["cp", self.rel(sh, src), self.rel(sh, dst)],
                                body)

    def cmd_mv(self, sh: Proc) -> Iterator[int]:
        src = self.some_file(sh)
        locked = self.rng.random() < 0.12
        dst = "/Library/Preferences/com.example.plist" if locked else src + ".bak"

        def body(p: Proc) -> Iterator[int]:
            self.rename(p, src, dst, "EACCES" if locked else "")
            yield self.tick()
            return 1 if locked else 0
        yield from self.program(sh, "/bin/mv", ["mv", self.rel(sh, src), dst], body)

    def cmd_rm(self, sh: Proc) -> Iterator[int]:
        victims = [self.some_file(sh) for _ in range(self.rng.randrange(1, 4))]

        def body(p: Proc) -> Iterator[int]:
            for v in victims:
                self.unlink(p, v)
                yield self.tick()
            return 0
        yield from self.program(sh, "/bin/rm", ["rm", "-f", *(self.rel(sh, v) for v in victims)],
                                body)

    def cmd_mkdir(self, sh: Proc) -> Iterator[int]:
        d = f"{sh.user.home}/{self.rng.choice(DIRS)}"
        if self.rng.random() < 0.7:
            d += f"/{self.rng.choice(STEMS)}"
        else:
            self.made_dirs.add(d)  # a standard folder: it is there already

        def body(p: Proc) -> Iterator[int]:
            exists = d in self.made_dirs
            self.mkdir(p, d, "EEXIST" if exists else "")
            self.made_dirs.add(d)
            yield self.tick()
            return 1 if exists else 0
        yield from self.program(sh, "/bin/mkdir", ["mkdir", self.rel(sh, d)], body)

    def cmd_chmod(self, sh: Proc) -> Iterator[int]:
        mine = self.rng.random() < 0.7 or sh.euid == 0
        f = self.some_file(sh) if mine else "/etc/hosts"

        def body(p: Proc) -> Iterator[int]:
            self.chmod(p, f, 0o755, "" if mine else "EPERM", None if mine else ROOT)
            yield self.tick()
            return 0 if mine else 1
        yield from self.program(sh, "/bin/chmod", ["chmod", "755", self.rel(sh, f)], body)

    def cmd_touch(self, sh: Proc) -> Iterator[int]:
        f = self.some_file(sh)

        def body(p: Proc) -> Iterator[int]:
            self.open(p, f, O_WRONLY | O_CREAT)
            yield self.tick()
            return 0
        yield from self.program(sh, "/usr/bin/touch", ["touch", self.rel(sh, f)], body)

    def cmd_git(self, sh: Proc) -> Iterator[int]:
        repo = f"{sh.user.home}/src/project/.git"
        argv = self.rng.choice((
            ["git", "commit", "-m", 'fix: handle "quoted" args, commas & spaces'],
            ["git", "log", "--format=%h,%an,%s", "-n", "20"],
            ["git", "commit", "-m", "Résumé: ünïcödé ✓\n\nSecond paragraph, with a comma."],
            ["git", "status"]))

        def body(p: Proc) -> Iterator[int]:
            self.open(p, f"{repo}/HEAD", 0, owner=p.user)
            yield self.tick()
            if argv[1] != "commit":
                return 0
            self.open(p, f"{repo}/index.lock", O_RDWR | O_CREAT | O_EXCL, owner=p.user)
            yield self.tick()
            self.rename(p, f"{repo}/index.lock", f"{repo}/index")
            yield self.tick()
            obj = f"{repo}/objects/{self.rng.randrange(256):02x}/tmp_obj"
            self.open(p, obj, O_WRONLY | O_CREAT | O_EXCL, at=True)
            yield self.tick()
            return 0
        yield from self.program(sh, "/usr/bin/git", argv, body)

    def cmd_grep(self, sh: Proc) -> Iterator[int]:
        files = [self.some_file(sh) for _ in range(self.rng.randrange(2, 7))]

        def body(p: Proc) -> Iterator[int]:
            for f in files:
                self.open(p, f, 0, at=True)
                yield self.tick()
            return self.rng.choice((0, 0, 1))
        yield from self.program(sh, "/usr/bin/grep", ["grep", "-rn", "hello world", "src/"],
                                body)

    def cmd_python(self, sh: Proc) -> Iterator[int]:
        script = "import os\nos.setuid(0)\nprint('done, \"ok\"')"

        def body(p: Proc) -> Iterator[int]:
            self.open(p, "/usr/lib/python3.11/os.py", 0, owner=ROOT)
            yield self.tick()
            ok = p.euid == 0
            self.m.emit(p, "AUE_SETUID", [self.arg(p, 1, "setuid", 0)], [],
                        self.ret(p, "" if ok else "EPERM"))
            yield self.tick()
            return 0 if ok else 1
        yield from self.program(sh, "/usr/bin/python3", ["python3", "-c", script], body)

    def cmd_curl(self, sh: Proc) -> Iterator[int]:
        v6 = self.rng.random() < 0.35
        addr = self.rng.choice(REMOTES_V6 if v6 else REMOTES_V4)
        errno = self.rng.choice(("", "", "", "", "", "", "ETIMEDOUT", "ECONNREFUSED"))

        def body(p: Proc) -> Iterator[int]:
            dns = self.socket(p, AF_UNIX)
            yield self.tick()
            self.connect_unix(p, dns, "/var/run/mDNSResponder")
            yield self.tick()
            fd = self.socket(p, AF_INET6 if v6 else AF_INET)
            yield self.tick()
            self.connect(p, fd, addr, 443, errno, ex=self.rng.random() < 0.3)
            yield self.rng.randrange(5, 3000) if errno != "ETIMEDOUT" else 75_000
            return {"": 0, "ETIMEDOUT": 28, "ECONNREFUSED": 7}[errno]
        url = f"https://{self.rng.choice(('example.com', 'api.github.com'))}/q?a=1,2&b=x y"
        yield from self.program(sh, "/usr/bin/curl", ["curl", "-sS", url], body)

    def cmd_psql(self, sh: Proc) -> Iterator[int]:
        addr = self.rng.choice(("127.0.0.1", "::1"))
        errno = "ECONNREFUSED" if self.rng.random() < 0.7 else ""

        def body(p: Proc) -> Iterator[int]:
            fd = self.socket(p, AF_INET6 if ":" in addr else AF_INET)
            yield self.tick()
            self.connect(p, fd, addr, 5432, errno, ex=self.rng.random() < 0.5)
            yield self.tick()
            return 2 if errno else 0
        yield from self.program(sh, "/usr/local/bin/psql",
                                ["psql", "-h", "localhost", "-c", "select 1, 'a b';"], body)

    def cmd_ssh(self, sh: Proc) -> Iterator[int]:
        v6 = self.rng.random() < 0.5
        addr = self.rng.choice(REMOTES_V6 if v6 else REMOTES_V4)

        def body(p: Proc) -> Iterator[int]:
            fd = self.socket(p, AF_INET6 if v6 else AF_INET)
            yield self.tick()
            self.connect(p, fd, addr, 22, ex=True)
            yield self.think(0.3)
            return 0
        yield from self.program(sh, "/usr/bin/ssh", ["ssh", "git@github.com"], body)

    def cmd_make(self, sh: Proc) -> Iterator[int]:
        def body(make: Proc) -> Iterator[int]:
            n = self.rng.randrange(130, 220)  # > AUDIT_MAX_ARGS: praudit shows only 128
            # the same project each time: file i has the same name in every build
            srcs = [f"src/{STEMS[i % len(STEMS)]}_{i:03d}.c" for i in range(n)]
            cc = self.posix_spawn(make, "/usr/bin/clang", ["clang", "-c", "-O2", *srcs],
                                  env=self.rng.random() < 0.5)
            assert cc is not None
            yield self.tick()
            for s in srcs[:3]:
                self.open(cc, f"{make.user.home}/src/project/{s}", 0, owner=make.user)
                yield self.tick()
            self.open(cc, f"{make.user.home}/src/project/app.o", O_WRONLY | O_CREAT | O_TRUNC)
            yield self.tick()
            self.exit(cc)
            yield self.tick()
            objs = [s.replace("src/", "build/obj/").replace(".c", ".o") for s in srcs[:40]]
            yield from self.program(make, "/bin/rm", ["rm", "-f", *objs], None, spawn=True)
            return 0
        yield from self.program(sh, "/usr/bin/make", ["make", "-j8", "all"], body, spawn=True)

    def cmd_echo(self, sh: Proc) -> Iterator[int]:
        argv = self.rng.choice((
            ["echo", "", "a b", "tab\there", 'say "hi"', "naïve café ✓", "日本語 🙂"],
            ["echo", "a,b,c", "line1\nline2", "back\\slash", "<xml> & amp"],
            ["echo", ""]))
        yield from self.program(sh, "/bin/echo", argv, None)

    def cmd_awk(self, sh: Proc) -> Iterator[int]:
        data = f"{sh.user.home}/Documents/données 3.csv"

        def body(p: Proc) -> Iterator[int]:
            fd = self.open(p, data, 0)
            yield self.tick()
            return 2 if fd < 0 else 0
        yield from self.program(sh, "/usr/bin/awk",
                                ["awk", "-F,", '{print $1 "\\n" $2}\n', self.rel(sh, data)], body)

    def cmd_tar(self, sh: Proc) -> Iterator[int]:
        out = f"{sh.user.home}/backup 2026-03-02.tar.gz"

        def body(p: Proc) -> Iterator[int]:
            self.open(p, f"{p.user.home}/Documents", O_DIRECTORY)
            yield self.tick()
            self.open(p, out, O_WRONLY | O_CREAT | O_TRUNC)
            yield self.tick()
            return 0
        yield from self.program(sh, "/usr/bin/tar",
                                ["tar", "czf", self.rel(sh, out), "Documents"], body)

    def cmd_notfound(self, sh: Proc) -> Iterator[int]:
        """A command that does not exist: execve (or posix_spawn) fails with ENOENT."""
        argv = ["nonexistent", "--version"]
        if self.rng.random() < 0.3:
            self.posix_spawn(sh, "/usr/local/bin/nonexistent", argv, "ENOENT")
            yield self.tick()
            return
        child = self.start_child(sh)
        yield self.tick()
        self.execve(child, "/usr/local/bin/nonexistent", argv, "ENOENT")
        yield self.tick()
        self.exit(child, 127)
        yield self.tick()

    def cmd_secret(self, sh: Proc) -> Iterator[int]:
        f = self.rng.choice(("/etc/master.passwd", "/var/db/sudo/ts/alice"))

        def body(p: Proc) -> Iterator[int]:
            flags = self.rng.choice((0, O_RDWR))
            fd = self.open(p, f, flags, errno="" if p.euid == 0 else "EACCES", owner=ROOT)
            yield self.tick()
            return 1 if fd < 0 else 0
        yield from self.program(sh, "/bin/cat", ["cat", f], body)

    def cmd_devserver(self, sh: Proc) -> Iterator[int]:
        """A dev web server: port 5000 is taken (macOS's AirPlay receiver holds it), so
        the first try fails with EADDRINUSE and the user retries on 8080."""
        for port in (5000, 8080) if self.rng.random() < 0.5 else (8080,):
            yield from self.program(sh, "/usr/bin/python3",
                                    ["python3", "-m", "http.server", str(port)],
                                    self._serve(port))
            yield self.think(0.05)

    def _serve(self, port: int) -> Body:
        def body(p: Proc) -> Iterator[int]:
            fd = self.socket(p, AF_INET)
            yield self.tick()
            busy = port == 5000
            self.bind(p, fd, "0.0.0.0", port, "EADDRINUSE" if busy else "")
            yield self.tick()
            if busy:
                return 1
            self.listen(p, fd)
            for _ in range(self.rng.randrange(1, 4)):
                yield self.think(0.1)
                self.accept(p, fd, "127.0.0.1", port, "127.0.0.1")
            yield self.think(0.2)
            return 130  # stopped with ^C
        return body

    def cmd_sudo(self, sh: Proc) -> Iterator[int]:
        cmd = self.rng.choice((["/bin/cat", "/etc/master.passwd"],
                               ["/bin/launchctl", "kickstart", "-k", "system/com.openssh.sshd"],
                               ["/bin/ls", "/var/root"]))
        user = sh.user
        outcome = "EPERM" if user is BOB else self.rng.choice(("", "", "", "", "EAUTH"))
        text = (f"sudo: {user.name} : TTY=ttys00{sh.tid[0] % 10} ; PWD={user.home} ; "
                f"USER=root ; COMMAND={' '.join(cmd)}")
        if outcome == "EPERM":
            text = text.replace(" : ", " : user NOT in sudoers ; ", 1)
        elif outcome == "EAUTH":
            text = text.replace(" : ", " : 3 incorrect password attempts ; ", 1)

        def body(p: Proc) -> Iterator[int]:
            p.euid = 0  # sudo is set-uid root
            p.refresh_subject()
            self.open(p, "/etc/sudoers", 0, owner=ROOT)
            yield self.think(0.02)
            self.auth_text(p, "AUE_sudo", text, outcome)
            yield self.tick()
            if outcome:
                return 1
            p.as_user(ROOT)
            yield from self.program(p, cmd[0], [cmd[0].rsplit("/", 1)[-1], *cmd[1:]],
                                    self._root_body(cmd))
            return 0
        yield from self.program(sh, "/usr/bin/sudo", ["sudo", *cmd], body, env=True)

    def _root_body(self, cmd: Sequence[str]) -> Body:
        def body(p: Proc) -> Iterator[int]:
            if cmd[0] == "/bin/cat":
                self.open(p, cmd[1], 0, errno="", owner=ROOT)
                yield self.tick()
            elif cmd[0] == "/bin/ls":
                self.open(p, cmd[1], O_DIRECTORY, errno="", owner=ROOT)
                yield self.tick()
            else:
                fd = self.socket(p, AF_UNIX)
                self.connect_unix(p, fd, "/var/run/com.apple.launchd.sock")
                yield self.tick()
            return 0
        return body

    def cmd_su(self, sh: Proc) -> Iterator[int]:
        user = sh.user
        ok = user is ALICE and self.rng.random() < 0.8
        tty = f"/dev/ttys00{sh.tid[0] % 10}"

        def body(p: Proc) -> Iterator[int]:
            p.euid = 0  # su is set-uid root
            p.refresh_subject()
            yield self.think(0.02)
            if not ok:
                self.auth_text(p, "AUE_su", f"BAD SU {user.name} to root on {tty}", "EAUTH")
                yield self.tick()
                return 1
            self.auth_text(p, "AUE_su", f"{user.name} to root on {tty}")
            yield self.tick()
            root_sh = self.start_child(p)
            yield self.tick()
            self.m.emit(root_sh, "AUE_SETUID", [self.arg(root_sh, 1, "setuid", 0)], [],
                        self.ret(root_sh))
            root_sh.as_user(ROOT)
            yield self.tick()
            self.execve(root_sh, "/bin/zsh", ["-zsh"])
            yield from self.session(root_sh, self.rng.randrange(1, 5))
            self.exit(root_sh)
            yield self.tick()
            return 0
        yield from self.program(sh, "/usr/bin/su", ["su", "-"], body)

    # ---- daemons
    def launchd_jobs(self) -> Actor:
        """launchd starts agents and periodic jobs (auid unset) all day long."""
        while True:
            yield self.think(1.5)
            job = self.rng.choice((self.job_xpc, self.job_periodic, self.job_update))
            yield from job()

    def job_xpc(self) -> Iterator[int]:
        # xpcproxy is spawned with an empty argv, then execs the real service.
        xpc = self.posix_spawn(self.launchd, "/usr/libexec/xpcproxy", [], env=False)
        assert xpc is not None
        yield self.tick()
        self.execve(xpc, "/usr/sbin/cfprefsd", ["cfprefsd", "agent"])
        yield self.tick()
        self.open(xpc, "/Library/Preferences/com.apple.loginwindow.plist", 0, owner=ROOT)
        yield self.tick()
        self.open(xpc, "/Library/Preferences/com.apple.missing.plist", 0, errno="ENOENT")
        yield self.tick()
        fd = self.socket(xpc, AF_UNIX)
        self.connect_unix(xpc, fd, "/var/run/mDNSResponder")
        yield self.tick()
        self.exit(xpc)

    def job_periodic(self) -> Iterator[int]:
        def body(p: Proc) -> Iterator[int]:
            self.open(p, "/etc/periodic.conf", 0, owner=ROOT)
            yield self.tick()
            self.open(p, "/var/log/daily.out", O_WRONLY | O_CREAT | O_APPEND, owner=ROOT)
            yield self.tick()
            self.open(p, "/var/log/daily.out", O_WRONLY | O_CREAT | O_TRUNC, at=True,
                      owner=ROOT)
            yield self.tick()
            return 0
        yield from self.program(self.launchd, "/usr/libexec/periodic-wrapper",
                                ["periodic-wrapper", "daily"], body, spawn=True, env=True)

    def job_update(self) -> Iterator[int]:
        v6 = self.rng.random() < 0.5
        addr = self.rng.choice(REMOTES_V6 if v6 else REMOTES_V4)

        def body(p: Proc) -> Iterator[int]:
            fd = self.socket(p, AF_INET6 if v6 else AF_INET)
            yield self.tick()
            self.connect(p, fd, addr, 443, self.rng.choice(("", "", "", "ETIMEDOUT")))
            yield self.tick()
            return 0
        yield from self.program(self.launchd, "/usr/sbin/softwareupdated",
                                ["softwareupdated", "--launchd"], body, spawn=True)


# --- the public entry point ----------------------------------------------------------------


def generate(out: BinaryIO, truth: TextIO | None = None, *, seed: int = 0,
             target_bytes: int | None = None, records: int | None = None,
             start: datetime = DEFAULT_START,
             hosts: Sequence[str] = DEFAULT_HOSTS) -> WorkloadStats:
    """Write a simulated day of BSM records to ``out`` and its truth sidecar to ``truth``.

    Stops after ``records`` records, else once ``target_bytes`` bytes are written (the
    last record may go past it), else after 3,000 records; auditd's startup and shutdown
    records and the file tokens at both ends are included.  ``hosts`` are the machine's
    addresses written in header32_ex tokens.  Same arguments -> same bytes.

    Example::

        with open("day.bsm", "wb") as f, open("day.truth.jsonl", "w") as t:
            stats = generate(f, t, seed=1, records=3000)
    """
    if records is not None and records < 2:
        raise UsageError(f"records={records}: at least 2 (auditd startup and shutdown)")
    if target_bytes is not None and target_bytes < 1:
        raise UsageError(f"target_bytes={target_bytes}: must be positive")
    if records is None and target_bytes is None:
        records = DEFAULT_RECORDS
    t0 = _time.perf_counter()
    rng = Random(seed)
    start_ms = int(start.timestamp() * 1000)
    machine = Machine(out, truth, rng, start_ms, hosts)
    estimate = records or max(1, (target_bytes or 0) // AVG_RECORD_BYTES)
    # mean think time: ~9 records a command, shells often idle at once; fits one workday
    pace = min(600_000.0, max(20.0, WORKDAY_MS * 1.5 / (estimate / 9)))
    sim = Workday(machine, rng, pace)
    stamp = _time.strftime("%Y%m%d%H%M%S", _time.gmtime(start_ms // 1000))
    machine.file_token(f"/var/audit/{stamp}.not_terminated")
    if records is not None:
        machine.max_records = records - 1  # the last one is auditd's shutdown record
    if target_bytes is not None:
        machine.max_bytes = target_bytes
    sim.spawn(sim.booting())
    sim.run()
    machine.max_records = machine.max_bytes = 1 << 62
    sim.shutdown()
    end = _time.strftime("%Y%m%d%H%M%S", _time.gmtime(machine.now // 1000))
    machine.file_token(f"/var/audit/{stamp}.{end}")
    machine.flush()
    stats = machine.stats
    stats.last_ms = machine.now
    stats.seconds = _time.perf_counter() - t0
    return stats


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B?|B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``300MB`` -> 300,000,000; ``64MiB`` -> 67,108,864; a bare number is bytes."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"--size {text!r}: expected a size such as 300MB, 64MiB or 1500000")
    unit = (m.group(2) or "B").upper()
    base = 1024 if "I" in unit else 1000
    power = {"B": 0, "K": 1, "M": 2, "G": 3}[unit[0]]
    return int(float(m.group(1)) * base**power)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m knox_analytics.workload --seed 1 --size 300MB -o FILE [--truth F]``."""
    ap = argparse.ArgumentParser(
        prog="python -m knox_analytics.workload",
        description="Write a deterministic simulated workday as a BSM trail.",
        epilog="Example: python -m knox_analytics.workload --seed 1 --size 300MB "
               "-o day.bsm --truth day.truth.jsonl")
    ap.add_argument("-o", "--output", required=True, help="trail file to write")
    ap.add_argument("--truth", help="also write the ground-truth sidecar (JSON lines)")
    ap.add_argument("--seed", type=int, default=0)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--size", type=parse_size, help="stop after about this many bytes")
    group.add_argument("--records", type=int, help="stop after this many records")
    args = ap.parse_args(argv)
    try:
        with open(args.output, "wb") as out, \
                (open(args.truth, "w", encoding="utf-8") if args.truth else _Null()) as truth:
            stats = generate(out, truth, seed=args.seed, target_bytes=args.size,
                             records=args.records)
    except (KnoxError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.output}: {stats.records} records, {stats.bytes} bytes, "
          f"{stats.processes} processes, {stats.reused_pids} reused pids "
          f"({stats.records_per_second:,.0f} records/s)", file=sys.stderr)
    return 0


class _Null:
    """Stands in for the sidecar file when none is asked for (``with`` yields None)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
