"""The simulated Mac: its users, its process table, and the trail writer.

:class:`Machine` owns the output: it writes each record (through
:class:`knox_analytics.bsm.encode.RecordEncoder`) and its truth-sidecar line, allocates pids
the way a wrapping pid counter does (so a later process may reuse a pid), and stops at the
record or byte target.  The actors that decide what happens are in :mod:`simulation` and
:mod:`workday`.
"""

from __future__ import annotations

import itertools
import json
import time as _time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any, BinaryIO, TextIO

from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.encode import RecordEncoder, encode_file_token
from knox_analytics.testing.host import EVENTS
from knox_analytics.testing.toks import LIST_KEYS, Tok, subject_tok


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
    head: RecordEncoder | None = None  # set by the Machine on the first record

    def refresh_subject(self) -> None:
        """Re-encode the subject token (after exec, setuid, ...)."""
        self.head = None  # the style may have changed
        self.subject = subject_tok(self.style.subject, self.auid, self.euid, self.egid,
                                   self.ruid, self.rgid, self.pid, self.sid, *self.tid)

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
        self.headers: dict[tuple[str, str | None], RecordEncoder] = {}
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
            proc = Proc(next(self.instances), pid, 1, T.UNSET_AUID if auid is None else auid,
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
    def _header_writer(self, proc: Proc) -> RecordEncoder:
        """The record encoder of a process's style (the _ex host alternates by pid)."""
        style = proc.style
        host = self.hosts[proc.pid % len(self.hosts)] if style.header.endswith("_ex") else None
        key = (style.header, host)
        writer = self.headers.get(key)
        if writer is None:
            writer = self.headers[key] = RecordEncoder(style.header, host)
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
        head = proc.head or self._header_writer(proc)
        number = self.events[event]
        record = head.encode(parts, event=number, time_ms=self.now)
        length = len(record)
        sec, msec = divmod(self.now, 1000)
        self.buf.append(record)
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

    def _truth_record(self, proc: Proc, event: str, number: int, head: RecordEncoder,
                      length: int, sec: int, msec: int, toks: Sequence[Tok],
                      extra: dict[str, Any] | None) -> None:
        rec: dict[str, Any] = {
            "i": self.row, "offset": self.offset, "length": length, "event": number,
            "event_name": event, "emod": 0, "header": head.header}
        if head.host:
            rec["host"] = head.host
        rec.update(time=_iso(sec, msec), sec=sec, msec=msec,
                   user=USER_NAMES.get(proc.euid, str(proc.euid)),
                   tokens=[head.header, *(t.name for t in toks), "trailer"])
        rec["subject"] = proc.subject.value  # type: ignore[union-attr]
        rec["return"] = toks[-1].value
        rec["paths"] = []
        for t in toks[:-1]:
            if t.key in LIST_KEYS:
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

