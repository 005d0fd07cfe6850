"""The day: who does what.  Daemons, three users' sessions (console and ssh logins with
a mistyped password, su and sudo) and the commands their shells run, with the token
variants and failures real Macs show.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from knox_analytics.testing.host import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    O_APPEND,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    SOCK_DGRAM,
)
from knox_analytics.testing.machine import ALICE, BOB, MDNS, ROOT, Proc, User
from knox_analytics.testing.simulation import (
    DIRS,
    HOME_V4,
    HOME_V6,
    REMOTES_V4,
    REMOTES_V6,
    STEMS,
    Actor,
    Simulation,
)

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

