"""The commit protocol: nothing is visible before its commit, a crash at any step leaves
readers on the previous version (or rolls a commit forward), compaction swaps a partition
in one step, and data reaches the disk before the manifest names it.

Tables are built from the truth sidecar of tests/data/trails/synthetic-workload.bsm (see
test_store.py); the kill -9 tests convert the real trail in a child process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest
from knoxtest import TRAILS, WORKDAY
from test_store import TRUTH, truth_table

from knox_analytics.store import MANIFEST_NAME, PART_GLOB, DatasetWriter, load_manifest
from knox_analytics.store import commit as commit_steps
from knox_analytics.store import parts as parts_module
from knox_analytics.store import writer as writer_module


def visible(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.glob(PART_GLOB)}


def rows(root: Path) -> int:
    return ds.dataset(root, format="parquet", partitioning="hive").count_rows()


def write_days(root: Path, n_parts: int, *, host: str = "mac1") -> None:
    """Commit the truth rows in ``n_parts`` separate commits (many parts per partition)."""
    size = -(-len(TRUTH) // n_parts)
    for i in range(n_parts):
        with DatasetWriter(root, host=host) as w:
            w.write(truth_table("t", TRUTH[i * size:(i + 1) * size]))


def test_nothing_is_visible_before_commit(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with DatasetWriter(root) as w:
        w.write(truth_table("t", TRUTH))
        w._parts.flush(next(iter(w._parts._tables)))
        assert visible(root) == set()
        assert list(root.glob("**/*.parquet")) == []
        assert load_manifest(root).parts == []
        added = w.commit()
        assert visible(root) == set(added) == set(load_manifest(root).parts)
    assert rows(root) == len(TRUTH)
    assert load_manifest(root).commits[-1].kind == "append"


def test_crash_after_commit_point_is_rolled_forward(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "ds"
    w = DatasetWriter(root)
    w.write(truth_table("t", TRUTH))

    def power_cut(*_args: object) -> None:
        raise KeyboardInterrupt  # the process dies between the manifest and the moves

    monkeypatch.setattr(writer_module, "move_into_place", power_cut)
    with pytest.raises(KeyboardInterrupt):
        w.commit()
    w._lock_fh.close()
    monkeypatch.undo()
    manifest = load_manifest(root)
    assert manifest.pending and visible(root) == set()
    with DatasetWriter(root):  # the next writer finishes the commit
        pass
    assert visible(root) == set(load_manifest(root).parts)
    assert load_manifest(root).pending == []
    assert rows(root) == len(TRUTH)


def test_crash_before_commit_point_leaves_previous_version(tmp_path: Path,
                                                           monkeypatch) -> None:
    root = tmp_path / "ds"
    write_days(root, 1)
    before = visible(root)
    w = DatasetWriter(root)
    w.write(truth_table("t2", TRUTH[:100]))

    def crash(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_module, "save_manifest", crash)
    with pytest.raises(KeyboardInterrupt):
        w.commit()
    w._lock_fh.close()
    monkeypatch.undo()
    assert visible(root) == before
    with DatasetWriter(root):
        pass
    assert visible(root) == before and rows(root) == len(TRUTH)


def test_data_is_durable_before_the_manifest_names_it(tmp_path: Path, monkeypatch) -> None:
    """Power-loss ordering: each staged part is fsynced before the manifest that names it
    replaces the old one, and the manifest before any part is moved into sight."""
    root = tmp_path / "ds"
    calls: list[tuple[str, str]] = []
    real_fsync_file, real_replace = commit_steps.fsync_file, os.replace

    def spy_fsync(path: Path) -> None:
        calls.append(("fsync", Path(path).name))
        real_fsync_file(path)

    def spy_replace(src: object, dst: object) -> None:
        calls.append(("replace", Path(os.fsdecode(dst)).name))
        real_replace(src, dst)

    monkeypatch.setattr(parts_module, "fsync_file", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    with DatasetWriter(root) as w:
        w.write(truth_table("t", TRUTH))
        calls.clear()
        added = w.commit()
    names = [a.rsplit("/", 1)[1] for a in added]
    manifest_at = calls.index(("replace", MANIFEST_NAME))
    for name in names:
        staged_fsync = next(i for i, c in enumerate(calls)
                            if c[0] == "fsync" and c[1].startswith(f".{name}.staged"))
        moved = calls.index(("replace", name))
        assert staged_fsync < manifest_at < moved


def test_compaction_swaps_whole_partitions(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    write_days(root, 5)
    before = rows(root)
    keys = {p.rsplit("/", 1)[0] for p in load_manifest(root).parts}
    assert len(load_manifest(root).parts) == 5 * len(keys)
    with DatasetWriter(root, host="mac1") as w:
        retired = w.compact(keys)
    manifest = load_manifest(root)
    assert retired == 5 * len(keys)
    assert len(manifest.parts) == len(keys) == len(visible(root))
    assert visible(root) == set(manifest.parts)
    assert rows(root) == before
    assert manifest.commits[-1].kind == "compact" and len(manifest.commits[-1].removed) == 5
    assert not (root / "_staging").exists()


@pytest.mark.parametrize("step", ["before_exchange", "after_exchange"])
def test_crash_during_compaction(tmp_path: Path, monkeypatch, step: str) -> None:
    root = tmp_path / "ds"
    write_days(root, 3)
    keys = {p.rsplit("/", 1)[0] for p in load_manifest(root).parts}
    real_exchange = writer_module.exchange_dirs

    def crash(new: Path, current: Path) -> None:
        if step == "after_exchange":
            real_exchange(new, current)
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_module, "exchange_dirs", crash)
    w = DatasetWriter(root, host="mac1")
    with pytest.raises(KeyboardInterrupt):
        w.compact(keys)
    w._lock_fh.close()
    monkeypatch.undo()
    # whatever a reader sees now holds every record exactly once
    assert rows(root) == len(TRUTH)
    with DatasetWriter(root):
        pass
    assert visible(root) == set(load_manifest(root).parts)
    assert rows(root) == len(TRUTH)


CHILD = """
import sys
from knox_analytics.convert import convert
from knox_analytics.store import parts
# Flush part files often, so that kills land between a flush and its commit.
parts.PARTITION_FLUSH_BYTES, parts.TOTAL_FLUSH_BYTES = 1 << 15, 1 << 16
convert([sys.argv[1]], sys.argv[2], chunk_size=1 << 16)
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_convert_shows_previous_version(tmp_path: Path, sig: int) -> None:
    """Kill `knox convert` at random moments: every reader sees exactly a committed
    version (glob == manifest), and a re-run ends with every record once."""
    trails = tmp_path / "trails"
    trails.mkdir()
    for i in range(6):  # several inputs: several commits inside one run
        (trails / f"t{i}.bsm").write_bytes(WORKDAY.read_bytes() if i % 2 else
                                           (TRAILS / "synthetic-workload.bsm").read_bytes())
    out = tmp_path / "ds"
    rng = random.Random(sig)
    for _ in range(5):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(trails), str(out)],
                                 stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 2.5))
        child.send_signal(sig)
        child.wait()
        manifest = load_manifest(out) if (out / MANIFEST_NAME).exists() else None
        if manifest is not None and not manifest.pending:
            assert visible(out) == set(manifest.parts)
    subprocess.run([sys.executable, "-c", CHILD, str(trails), str(out)], check=True)
    assert visible(out) == set(load_manifest(out).parts)
    total = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/{PART_GLOB}')").fetchall()[0][0]
    # the copies of a trail hold the same records: each is kept once
    workday = WORKDAY.with_suffix(".truth.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in workday[:1])
    expected = len(TRUTH) + len(workday)
    assert total == expected


def test_the_commit_log_is_bounded(tmp_path: Path, monkeypatch) -> None:
    """A capture commits every second: the manifest keeps the last versions only, and
    versions keep counting."""
    from knox_analytics.store import manifest as manifest_module

    monkeypatch.setattr(manifest_module, "COMMITS_KEPT", 3)
    root = tmp_path / "ds"
    write_days(root, 5)
    commits = load_manifest(root).commits
    assert [c.version for c in commits] == [3, 4, 5]


def test_compacting_small_parts_keeps_the_big_ones(tmp_path: Path) -> None:
    """A capture merges its per-second parts without rewriting the big ones: those stay
    the same files (hard links into the swapped-in directory)."""
    root = tmp_path / "ds"
    write_days(root, 1)
    with DatasetWriter(root, host="mac1") as w:
        w.write(truth_table("more", TRUTH[:40]))
        w.commit()
        w.write(truth_table("more2", TRUTH[40:80]))
        w.commit()
        counts = w.parts_per_partition()
        key = max(counts, key=counts.get)
        big = max((root / key).iterdir(), key=lambda p: p.stat().st_size)
        inode = big.stat().st_ino
        before = counts[key]
        w.compact([key], small_bytes=big.stat().st_size)  # all but the big one merge
        assert w.parts_per_partition()[key] == 2 < before
    assert (root / key / big.name).stat().st_ino == inode
    assert visible(root) == set(load_manifest(root).parts)
    assert rows(root) == len(TRUTH) + 80
