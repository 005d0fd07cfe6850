"""Output protection follows the input, and root writes through no planted link.

The second-user tests convert / capture a root-only trail as root (in a directory any
user can reach, under /tmp) and then try, as ``nobody`` (a child that calls
``os.setuid``), to read every file and list every directory knox left: nothing may be
readable.  They skip when not run as root.  Trail: sample_trails/generated-workday.bsm.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st
from knoxtest import WORKDAY
from test_store import TRUTH, truth_table

from knox_analytics.convert import convert
from knox_analytics.derived.build import copy
from knox_analytics.errors import InputError, UsageError
from knox_analytics.store import DatasetWriter
from knox_analytics.store.safefs import (
    PRIVATE,
    Protection,
    check_owner,
    protection_of,
)
from knox_analytics.store.writer import LOCK_NAME

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a second user)")
NOBODY = 65534


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A directory every user may enter (the pytest tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="knox-protection-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def trail_with_mode(directory: Path, mode: int, name: str = "trail.bsm",
                    gid: int | None = None) -> Path:
    directory.mkdir(exist_ok=True)
    directory.chmod(0o755)
    trail = directory / name
    trail.write_bytes(WORKDAY.read_bytes())
    trail.chmod(mode)
    if gid is not None:
        os.chown(trail, -1, gid)
    return trail


def everything(root: Path) -> list[Path]:
    out = [root]
    for top, dirs, files in os.walk(root):
        out += [Path(top) / n for n in dirs + files]
    return out


READ_AS_NOBODY = """
import os, sys, json
os.setgroups([]); os.setgid(65534); os.setuid(65534)
readable = []
for path in json.loads(sys.stdin.read()):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as fh:
                fh.read(1)
        readable.append(path)
    except OSError:
        pass
print(json.dumps(readable))
"""


def readable_by_nobody(paths: list[Path]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", READ_AS_NOBODY], check=True, text=True,
                          input=json.dumps([str(p) for p in paths]), capture_output=True)
    return json.loads(done.stdout)


def knox(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "knox_analytics", *args], env=env,
                          capture_output=True, text=True)


@ROOT_ONLY
def test_a_root_only_trail_converts_into_nothing_another_user_can_read(reachable: Path) -> None:
    trail = trail_with_mode(reachable / "audit", 0o600)
    out = reachable / "ds"
    done = knox("convert", str(trail), "-o", str(out), "--derive", "-q")
    assert done.returncode == 0, done.stderr
    left = everything(out)
    assert any(p.name.endswith(".parquet") for p in left)
    assert any("_knox_ids" in str(p) for p in left)
    assert readable_by_nobody(left) == []
    # every file and directory as protected as the dataset, its derived state included
    assert any("_knox_cache" in str(p) for p in left)
    assert [p for p in left if os.lstat(p).st_mode & 0o077] == []


@ROOT_ONLY
def test_a_fresh_capture_of_a_root_only_trail_leaves_nothing_readable(reachable: Path) -> None:
    trail = trail_with_mode(reachable / "audit", 0o600)
    out = reachable / "cap"
    done = knox("capture", "--source", str(trail), "--out", str(out), "--no-derive")
    assert done.returncode == 0, done.stderr
    left = everything(out)
    assert any(p.name.startswith("seg-") for p in left)
    assert any(p.name.endswith(".parquet") for p in left)
    assert readable_by_nobody(left) == []
    assert all(os.lstat(p).st_mode & 0o077 == 0 for p in left)


def modes(root: Path) -> set[int]:
    return {stat.S_IMODE(os.lstat(p).st_mode) for p in everything(root)
            if p.name.endswith(".parquet") or (p.is_dir() and p.name.startswith(("host=",
                                                                               "date=")))}


def test_a_world_readable_trail_gives_a_readable_dataset_and_a_stricter_one_tightens_it(
        reachable: Path) -> None:
    out = reachable / "ds"
    convert([trail_with_mode(reachable / "a", 0o644)], out)
    assert modes(out) == {0o644, 0o755}
    convert([trail_with_mode(reachable / "b", 0o600, "other.bsm")], out, derive=False)
    assert modes(out) == {0o600, 0o700}
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    convert([trail_with_mode(reachable / "c", 0o644, "third.bsm")], out, derive=False)
    assert modes(out) == {0o600, 0o700}  # nothing ever loosens


@ROOT_ONLY
def test_group_bits_only_when_every_input_shares_the_group(reachable: Path) -> None:
    out = reachable / "ds"
    convert([trail_with_mode(reachable / "a", 0o640, gid=NOBODY)], out)
    assert modes(out) == {0o640, 0o750}
    part = next(out.glob("host=*/date=*/*.parquet"))
    assert part.stat().st_gid == NOBODY
    convert([trail_with_mode(reachable / "b", 0o640, "x.bsm", gid=0)], out, derive=False)
    assert modes(out) == {0o600, 0o700}


def test_stdin_counts_as_private() -> None:
    assert protection_of(["-"]) == PRIVATE


@given(st.integers(0, 0o777), st.integers(0, 0o777), st.sampled_from([0, 5, 20]),
       st.sampled_from([0, 5, 20]))
def test_combining_never_loosens(a: int, b: int, ga: int, gb: int) -> None:
    pa_, pb = Protection(a, ga), Protection(b, gb)
    both = pa_ & pb
    assert both == pb & pa_ and both & both == both
    assert not both.looser_than(pa_) and not both.looser_than(pb)
    assert both.file_mode & 0o733 == 0o600  # never group/other write, never execute
    assert both.dir_mode & 0o700 == 0o700


# --- no write through a planted link ----------------------------------------------------

def test_a_planted_copy_temp_link_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    target = tmp_path / "cache" / "commands.parquet-cache"
    target.parent.mkdir()
    # the old temporary name, and the one DuckDB's COPY writes first (then renames)
    (target.parent / f".{target.name}.tmp").symlink_to(victim)
    (target.parent / f"tmp_.{target.name}.tmp").symlink_to(victim)
    copy(duckdb.connect(), "SELECT 1 AS x", target)
    assert victim.read_text() == "root's file\n"
    assert duckdb.sql(f"SELECT x FROM read_parquet('{target}')").fetchall() == [(1,)]
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".copy-")] == []


def test_a_planted_lock_link_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with DatasetWriter(root) as w:
        w.write(truth_table("t", TRUTH[:10]))
    (root / LOCK_NAME).unlink()
    victim = tmp_path / "created-by-root"
    (root / LOCK_NAME).symlink_to(victim)
    with pytest.raises(InputError, match="cannot write the dataset"):
        DatasetWriter(root)
    assert not victim.exists()


def test_a_planted_capture_state_temp_link_is_not_written_through(tmp_path: Path) -> None:
    from knox_analytics.live.capture import STATE_NAME, Capture, CaptureConfig
    from knox_analytics.live.source import open_source

    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    out = tmp_path / "cap"
    out.mkdir(mode=0o700)
    (out / f"{STATE_NAME}.tmp").symlink_to(victim)  # the old temporary name
    trail = tmp_path / "t.bsm"
    trail.write_bytes(WORKDAY.read_bytes())
    src = open_source(str(trail), None, None)
    try:
        Capture(out, CaptureConfig(derive=False)).run(src, install_signals=False)
    finally:
        src.close()
    assert victim.read_text() == "root's file\n"
    assert json.loads((out / STATE_NAME).read_text())["segments"]


def test_a_planted_segment_link_is_refused(tmp_path: Path) -> None:
    from knox_analytics.live.capture import Capture, CaptureConfig
    from knox_analytics.live.source import open_source

    trail = tmp_path / "t.bsm"
    trail.write_bytes(WORKDAY.read_bytes()[:200_000])
    out = tmp_path / "cap"

    def capture() -> None:
        src = open_source(str(trail), None, None)
        try:
            Capture(out, CaptureConfig(derive=False)).run(src, install_signals=False)
        finally:
            src.close()

    capture()
    segment = out / "segments" / "seg-00000001.bsm"
    victim = tmp_path / "victim"
    victim.write_bytes(segment.read_bytes())
    segment.unlink()
    segment.symlink_to(victim)  # the restart reopens it to append the trail's growth
    with open(trail, "ab") as fh:
        fh.write(WORKDAY.read_bytes()[200_000:])
    with pytest.raises((OSError, InputError)):
        capture()
    assert victim.read_bytes() == WORKDAY.read_bytes()[:200_000]


@ROOT_ONLY
def test_root_refuses_a_dataset_directory_another_user_owns(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    out.mkdir()
    os.chown(out, NOBODY, NOBODY)
    with pytest.raises(UsageError, match=r"owned by nobody, not root.*--allow-foreign-owner"):
        convert([WORKDAY], out)
    assert list(out.iterdir()) == []
    check_owner(out, allow_foreign_owner=True)
    summary = convert([WORKDAY], out, allow_foreign_owner=True, derive=False)
    assert summary.records == 3000  # 3,002 rows: 2 of them stand-alone file tokens
    done = knox("convert", str(WORKDAY), "-o", str(tmp_path / "ds"), "-q")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
