"""bsmtrace's five example sequences (bsmtrace.conf) as knox rules, matching what
bsmtrace.conf(5) says they match."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sigma")

from detect_scenarios import login_shell, run, write_trail

from knox_analytics.catalog import Catalog
from knox_analytics.detect import detect, load_ruleset
from knox_analytics.detect.rules import pack_dir
from knox_analytics.testing.machine import ALICE, ROOT
from knox_analytics.testing.simulation import Simulation


@pytest.fixture(scope="module")
def bsmtrace():
    return load_ruleset([pack_dir() / "bsmtrace"], cache=False)


def _story(sim: Simulation) -> Iterator[int]:
    shell = login_shell(sim, ALICE)
    yield 100
    run(sim, shell, "/sbin/pfctl", "-d")  # firewall change by a non-admin
    yield 100
    run(sim, shell, "/opt/local/bin/tool")  # outside the trusted dirs
    yield 100
    run(sim, shell, "/usr/bin/true")  # trusted
    yield 100
    ln = run(sim, shell, "/bin/ln", "-s", "/etc/passwd", "/tmp/x")
    sim.m.emit(ln, "AUE_SYMLINK", [], [], sim.ret(ln))  # no path: not in $opendirs
    yield 100
    login = sim.m.new_proc(None, "login", user=ROOT)
    for _ in range(2):
        sim.auth_text(login, "AUE_login", "authentication failed", "EAUTH")
        yield 1000
    sim.auth_text(login, "AUE_login", "successful login alice")
    yield 100


def test_the_five_sequences(tmp_path: Path, bsmtrace):
    assert all(r.compiled for r in bsmtrace.rules), [r.reason for r in bsmtrace.rules]
    trail = write_trail(tmp_path / "t.bsm", _story)
    with Catalog([trail]) as cat:
        alerts = detect(cat, bsmtrace).to_pylist()
    by = {}
    for a in alerts:
        by.setdefault(a["title"], []).append(a)
    assert [a["command_line"] for a in by["firewall.change.attempt"]] == ["pfctl -d"]
    untrusted = {a["command_line"].split()[0] for a in by["non.trusted.exec"]}
    assert "tool" in untrusted and "true" not in untrusted
    assert "mktemp.race" not in by
    assert len(by["login"]) == 1
    [brute] = by["login.brute.force"]
    assert len(brute["evidence"]) == 3  # two failures, then the success
    assert "bsmtrace two login failures" not in by  # generate: false


def test_one_failure_is_no_brute_force(tmp_path: Path, bsmtrace):
    def story(sim: Simulation) -> Iterator[int]:
        login = sim.m.new_proc(None, "login", user=ROOT)
        sim.auth_text(login, "AUE_login", "authentication failed", "EAUTH")
        yield 1000
        sim.auth_text(login, "AUE_login", "successful login alice")
        yield 100

    with Catalog([write_trail(tmp_path / "t.bsm", story)]) as cat:
        titles = detect(cat, bsmtrace).column("title").to_pylist()
    assert titles == ["login"]
