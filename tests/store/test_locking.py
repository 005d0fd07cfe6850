"""The dataset lock: taken before the manifest is read (no commit lost to a stale
manifest), never held by `--jobs` workers, and gone with a process killed by -9.

Tables come from the truth sidecar of tests/data/trails/synthetic-workload.bsm
(test_store.py); the kill tests run a pool in a child process and kill it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from test_store import TRUTH, truth_table

from knox_analytics import workers
from knox_analytics.store import DatasetWriter
from knox_analytics.store.writer import LOCK_NAME


def rows(root: Path) -> int:
    return ds.dataset(root, format="parquet", partitioning="hive").count_rows()


def test_a_commit_made_while_a_writer_waits_for_the_lock_is_kept(tmp_path: Path,
                                                                   monkeypatch) -> None:
    root = tmp_path / "ds"
    with DatasetWriter(root, host="mac1") as w:
        w.write(truth_table("first", TRUTH))
    original = DatasetWriter._lock
    raced = []

    def lock_after_another_commit(self: DatasetWriter) -> None:
        if not raced:  # the second writer, between opening and locking
            raced.append(True)
            with DatasetWriter(root, host="mac2") as other:
                other.write(truth_table("second", TRUTH[:100]))
        original(self)

    monkeypatch.setattr(DatasetWriter, "_lock", lock_after_another_commit)
    with DatasetWriter(root, host="mac1") as late:
        assert len(late.manifest.parts) == 2
    assert raced and rows(root) == len(TRUTH) + 100


def lock_descriptors(pid: int) -> list[str]:
    """Which descriptors of process ``pid`` name a dataset lock file."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").endswith(LOCK_NAME):
                found.append(fd)
        except OSError:
            pass
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_pool_workers_do_not_keep_the_dataset_lock(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    writer = DatasetWriter(root)
    with workers.worker_pool(2, inherited=(writer.lock_fd,)) as pool:
        pool.submit(os.getpid).result()  # the workers are forked
        pids = list(pool._processes)
        for _ in range(100):  # each closes its copy in its initializer, soon after the fork
            if not any(lock_descriptors(p) for p in pids):
                break
            time.sleep(0.1)
        assert [lock_descriptors(p) for p in pids] == [[], []]
        writer.close()
        with DatasetWriter(root):  # the workers are alive: the lock is free all the same
            pass


CHILD = """
import sys, time
from pathlib import Path
from knox_analytics import workers
from knox_analytics.store import DatasetWriter
workers.USE_PDEATHSIG = sys.argv[2] == "prctl"
writer = DatasetWriter(Path(sys.argv[1]))
with workers.worker_pool(2, inherited=(writer.lock_fd,)) as pool:
    futures = [pool.submit(time.sleep, 600) for _ in range(2)]
    print(" ".join(str(p) for p in pool._processes), flush=True)
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("watch", ["prctl", "pipe"])
def test_workers_die_with_a_killed_parent_and_the_next_run_proceeds(tmp_path: Path,
                                                                    watch: str) -> None:
    root = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), watch],
                             stdout=subprocess.PIPE, text=True, env=env)
    pids = [int(p) for p in child.stdout.readline().split()]
    assert len(pids) == 2 and all(alive(p) for p in pids)
    child.send_signal(signal.SIGKILL)
    child.wait()
    for _ in range(100):  # bounded wait for the kernel / the watch thread
        if not any(alive(p) for p in pids):
            break
        time.sleep(0.1)
    survivors = [p for p in pids if alive(p)]
    for p in survivors:  # leave no stray process behind a failing test
        os.kill(p, signal.SIGKILL)
    assert survivors == []
    with DatasetWriter(root):
        pass
