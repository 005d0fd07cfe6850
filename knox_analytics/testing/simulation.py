"""What processes do: the system calls of the simulated Mac as records, and the scheduler
that interleaves the actors.

An actor is a generator that yields the milliseconds until it acts again;
:class:`Simulation` runs them in time order on one :class:`~.machine.Machine`.  Each helper
(``execve``, ``open``, ``connect``, ...) writes the record the macOS kernel writes for that
call, with the failures it reports (ENOENT for a missing file, ...).  Who calls what, and
when, is :mod:`workday`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import zlib
from collections.abc import Iterator, Sequence
from random import Random
from typing import Any

from knox_analytics.testing.host import AT_FDCWD, O_CREAT, O_TRUNC, SOCK_STREAM
from knox_analytics.testing.machine import ALICE, BOB, ROOT, Machine, Proc, TargetReached, User
from knox_analytics.testing.toks import (
    Tok,
    arg_tok,
    attr_tok,
    exec_args_tok,
    exec_env_tok,
    exit_tok,
    path_tok,
    return_tok,
    sock_inet_tok,
    sock_unix_tok,
    socket_ex_tok,
    text_tok,
)

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


