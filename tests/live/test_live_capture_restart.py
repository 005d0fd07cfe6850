"""``knox capture`` restarts: resume a file by content across auditd's rotation, a
restarted stdin is a new stream, disk full stops cleanly and loses nothing, and the
state file never names data that is not on disk (power-loss ordering).

Fixture: tests/data/trails/synthetic-workload.bsm (3006 records, see its README).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from knoxtest import TRAILS

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.bsm.reader import record_boundary
from knox_analytics.errors import DiskFullError, InputError
from knox_analytics.live import capture as capture_module
from knox_analytics.live.capture import STATE_NAME, Capture, CaptureConfig
from knox_analytics.live.source import Source, open_source
from knox_analytics.store import load_manifest

DATA = (TRAILS / "synthetic-workload.bsm").read_bytes()
RECORDS = 3006


def boundary_near(fraction: float) -> int:
    """A record boundary near ``fraction`` of the workload."""
    return record_boundary(DATA[: int(len(DATA) * fraction)])[0]


def dataset(out: Path) -> pa.Table:
    return ds.dataset(out / "dataset", format="parquet", partitioning="hive").to_table(
        columns=["time", "event", "pid", "argv", "offset", "source"])


def segments(out: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((out / "segments").glob("*.bsm")))


def same_records(table: pa.Table, data: bytes) -> bool:
    """The dataset holds exactly the records of ``data``, each once."""
    want = decode_bytes(data, "<x>").table.select(["time", "event", "pid", "argv"])
    got = table.select(["time", "event", "pid", "argv"])
    key = [("time", "ascending"), ("event", "ascending"), ("pid", "ascending")]
    return got.num_rows == want.num_rows and got.sort_by(key).equals(want.sort_by(key))


def run(out: Path, source: str | Source, config: CaptureConfig | None = None) -> object:
    src = open_source(source) if isinstance(source, str) else source
    try:
        return Capture(out, config).run(src, install_signals=False)
    finally:
        src.close()


# --- resume a file by content ------------------------------------------------------------
def test_rotation_of_a_symlinked_current_is_followed(tmp_path: Path) -> None:
    audit, out = tmp_path / "audit", tmp_path / "out"
    audit.mkdir()
    first, second = boundary_near(0.3), boundary_near(0.6)
    trail = audit / "20260301090000.not_terminated"
    trail.write_bytes(DATA[:first])
    (audit / "current").symlink_to(trail.name)
    run(out, str(audit / "current"))
    # auditd goes on writing, then rotates: renames the trail, points current elsewhere
    with open(trail, "ab") as fh:
        fh.write(DATA[first:second])
    trail.rename(audit / "20260301090000.20260301100000")
    (audit / "20260301100000.not_terminated").write_bytes(DATA[second:])
    (audit / "current").unlink()
    (audit / "current").symlink_to("20260301100000.not_terminated")
    run(out, str(audit / "current"))
    assert segments(out) == DATA  # the old file's rest first, then the new one from 0
    assert same_records(dataset(out), DATA)


def test_a_replaced_file_is_finished_from_its_new_name(tmp_path: Path) -> None:
    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    cut, more = boundary_near(0.5), boundary_near(0.8)
    path.write_bytes(DATA[:cut])
    run(out, str(path))
    with open(path, "ab") as fh:
        fh.write(DATA[cut:more])
    path.rename(tmp_path / "trail.bsm.1")
    path.write_bytes(DATA[more:])
    run(out, str(path))
    assert segments(out) == DATA
    assert same_records(dataset(out), DATA)


def test_a_file_that_grew_resumes_without_rereading(tmp_path: Path) -> None:
    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    cut = boundary_near(0.5) + 100  # the first run ends inside a record
    path.write_bytes(DATA[:cut])
    run(out, str(path))
    with open(path, "ab") as fh:
        fh.write(DATA[cut:])
    summary = run(out, str(path))
    assert segments(out) == DATA
    assert same_records(dataset(out), DATA)
    assert summary.damaged == 0  # the straddling record was completed, not damaged


def test_gone_old_content_is_said_and_the_new_file_read_from_its_start(
        tmp_path: Path) -> None:
    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    cut = boundary_near(0.5)
    path.write_bytes(DATA[:cut])
    run(out, str(path))
    path.unlink()
    path.write_bytes(DATA[cut:])  # a new trail (here: the rest) under the old name
    said: list[str] = []
    src = open_source(str(path))
    try:
        Capture(out, on_message=said.append).run(src, install_signals=False)
    finally:
        src.close()
    assert any("not in it nor in a rotated file" in m for m in said)
    assert segments(out) == DATA
    assert same_records(dataset(out), DATA)


# --- stdin -------------------------------------------------------------------------------
def pipe_source(data: bytes) -> Source:
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as fh:
            fh.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return Source(r, "stdin", "<stdin>")


def test_a_restarted_stdin_pipeline_is_a_new_stream(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cut = boundary_near(0.5)
    src = pipe_source(DATA[: cut + 50])  # ends inside a record: the pipeline died
    run(out, src)
    os.close(src.fd)
    rest = DATA[cut:]
    src = pipe_source(rest)  # a new pipeline: starts over with whole records
    summary = run(out, src)
    os.close(src.fd)
    table = dataset(out)
    assert summary.damaged == 1  # the first stream's cut record, reported, never glued
    assert table.num_rows == len(decode_bytes(DATA[:cut], "<x>").table) + \
        len(decode_bytes(rest, "<x>").table)
    assert sorted((out / "segments").glob("*.bsm"))[-1].read_bytes() == rest


# --- disk full ---------------------------------------------------------------------------
def test_disk_full_on_a_segment_write_stops_cleanly_and_loses_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    path.write_bytes(DATA)
    real, writes = os.pwrite, []

    def full(fd: int, data: bytes, offset: int) -> int:
        writes.append(len(data))
        if sum(writes) > 100_000:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, offset)

    monkeypatch.setattr(capture_module, "PUMP_SIZE", 32 << 10)
    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(DiskFullError, match=r"disk full .*nothing is lost"):
        run(out, str(path))
    monkeypatch.setattr(os, "pwrite", real)
    run(out, str(path))
    assert segments(out) == DATA
    assert same_records(dataset(out), DATA)


def test_disk_full_while_writing_parquet_stops_cleanly_and_loses_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    path.write_bytes(DATA)
    real = pq.ParquetWriter

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq, "ParquetWriter", full)  # how every part file is written
    with pytest.raises(DiskFullError):
        run(out, str(path))
    monkeypatch.setattr(pq, "ParquetWriter", real)
    run(out, str(path))
    assert same_records(dataset(out), DATA)


@pytest.mark.parametrize("where", ["make_dir", "_lock", "write_atomic"])
def test_disk_full_at_start_names_the_path_and_loses_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    # minor item: a full disk before the first record said neither where nor what to do
    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    path.write_bytes(DATA)
    if where == "write_atomic":  # a capture that stopped before: its state file
        run(out, str(path))
    real = getattr(capture_module, where)

    def full(target: Path, *args: object, **kwargs: object) -> object:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr(capture_module, where, full)
    if where == "write_atomic":
        monkeypatch.setattr(capture_module.Capture, "_load_state",
                            lambda self: full(self.out / STATE_NAME))
    with pytest.raises(DiskFullError) as info:
        Capture(out, CaptureConfig())
    message = str(info.value)
    assert message.startswith(f"{out}: disk full (No space left on device writing {out}")
    assert message.endswith("capture did not start, nothing is lost: free some space and "
                            "run the same command again")
    monkeypatch.setattr(capture_module, where, real)
    monkeypatch.undo()
    run(out, str(path))  # and the next run proceeds (the lock was released)
    assert same_records(dataset(out), DATA)


ENOSPC_CLI = """
import errno, os, sys
real, done = os.pwrite, [0]
def full(fd, data, offset):
    done[0] += len(data)
    if done[0] > 100_000:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(fd, data, offset)
os.pwrite = full
from knox_analytics.live import capture
capture.PUMP_SIZE = 32 << 10
from knox_analytics.cli.main import run
sys.argv = ["knox", *sys.argv[1:]]
run()
"""


def test_disk_full_is_one_line_on_stderr(tmp_path: Path) -> None:
    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    path.write_bytes(DATA)
    r = subprocess.run([sys.executable, "-c", ENOSPC_CLI, "capture", "--source", str(path),
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"knox: {out}: disk full (No space left on device")


def test_disk_full_on_a_real_small_file_system(tmp_path: Path) -> None:
    """Where this test may mount a tmpfs (root on Linux): a real ENOSPC, then more room."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                        capture_output=True).returncode == 0 if shutil.which("mount") \
        and os.geteuid() == 0 else False
    if not ok:
        pytest.skip("cannot mount a tmpfs here (needs root on Linux)")
    try:
        path = tmp_path / "trail.bsm"
        path.write_bytes(DATA * 4)  # 1.7 MB of raw segments: more than the 1 MiB there is
        with pytest.raises(DiskFullError):
            run(mnt / "out", str(path))
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
        run(mnt / "out", str(path))
        assert segments(mnt / "out") == DATA * 4
        assert dataset(mnt / "out").num_rows == 4 * RECORDS
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# --- power loss --------------------------------------------------------------------------
def test_parts_are_fsynced_before_the_state_that_names_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every os.replace of capture.json comes after an fsync of each part the dataset
    holds at that moment and of its directory (the commit is complete: no pending moves),
    and of every segment whose converted offset it moves, so a power loss cannot leave a
    state that claims data the disk does not have."""
    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    path.write_bytes(DATA)
    synced: set[tuple[int, int]] = set()  # (device, inode): parts are fsynced staged
    # (device, inode) -> size at its latest fsync: the bytes known to be on disk (two
    # threads write the state, so "fsynced since the last state" would race)
    durable: dict[tuple[int, int], int] = {}
    converted: dict[str, int] = {}
    checked: list[int] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        real_fsync(fd)
        st = os.fstat(fd)
        synced.add((st.st_dev, st.st_ino))
        durable[(st.st_dev, st.st_ino)] = st.st_size

    def replace(src: object, dst: object, **kw: object) -> None:
        if Path(str(dst)).name == STATE_NAME:
            manifest = load_manifest(out / "dataset")
            assert manifest is not None and not manifest.pending
            for part in manifest.parts:
                for path in (out / "dataset" / part, (out / "dataset" / part).parent):
                    st = path.stat()
                    assert (st.st_dev, st.st_ino) in synced, path
            state = json.loads(Path(str(src)).read_text())
            for seg, end in state["converted"].items():
                if end != converted.get(seg):  # newly claimed segment bytes are on disk
                    st = (out / "segments" / f"seg-{int(seg):08d}.bsm").stat()
                    assert end <= durable.get((st.st_dev, st.st_ino), -1), seg
            converted.update(state["converted"])
            checked.append(len(manifest.parts))
        real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    run(out, str(path), CaptureConfig(rotate_bytes=100_000))
    assert checked and max(checked) >= 1  # the state was written with parts to check
    assert same_records(dataset(out), DATA)


def test_a_state_one_commit_behind_is_caught_up_from_the_dataset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after the dataset committed but before capture.json said so: the restart
    takes the converted ends from the committed rows, so nothing is added twice."""
    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    cut = boundary_near(0.5)
    path.write_bytes(DATA[:cut])
    real = capture_module._write_json_atomic

    def killed(target: Path, state: dict) -> None:
        manifest = load_manifest(out / "dataset")
        if manifest is not None and manifest.parts:
            raise KeyboardInterrupt  # the moment between commit() and the state file
        real(target, state)

    monkeypatch.setattr(capture_module, "_write_json_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        run(out, str(path))
    monkeypatch.setattr(capture_module, "_write_json_atomic", real)
    assert dataset(out).num_rows > 0  # committed, yet not in the state
    with open(path, "ab") as fh:
        fh.write(DATA[cut:])
    run(out, str(path))
    assert same_records(dataset(out), DATA)


def test_an_older_capture_directory_is_converted_again_once_moved_aside(
        tmp_path: Path) -> None:
    import json

    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    path.write_bytes(DATA)
    (out / "segments").mkdir(parents=True)
    (out / "segments" / "seg-00000001.bsm").write_bytes(DATA)
    old = out / "dataset" / "host=unknown" / "date=2026-03-01"
    old.mkdir(parents=True)
    (old / "part-s00000001-000000000000-000000426133-1of1.parquet").write_bytes(b"PAR1")
    (out / STATE_NAME).write_text(json.dumps({"version": 1, "converted": {"1": len(DATA)},
                                              "segments": {"1": {
                                                  "source": str(path), "kind": "file",
                                                  "source_offset": 0, "created": 0.0}}}))
    with pytest.raises(InputError, match=r"older knox capture.*move"):
        Capture(out)
    (out / "dataset").rename(out / "dataset.v1")
    run(out, str(path))
    assert segments(out) == DATA
    assert same_records(dataset(out), DATA)


def test_the_state_names_the_dataset_version_its_offsets_account_for(tmp_path: Path) -> None:
    import json

    from knox_analytics.live.capture import parts_since

    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    path.write_bytes(DATA)
    run(out, str(path), CaptureConfig(rotate_bytes=100_000))
    state = json.loads((out / STATE_NAME).read_text())
    manifest = load_manifest(out / "dataset")
    assert manifest is not None and state["dataset_version"] == manifest.version > 0
    assert parts_since(manifest, state["dataset_version"]) == []
    assert len(parts_since(manifest, None)) == len(manifest.parts)


def test_a_state_older_than_the_kept_commit_log_checks_every_part() -> None:
    from knox_analytics.live.capture import parts_since
    from knox_analytics.store.manifest import CommitEntry, Manifest

    m = Manifest(1, parts=["a", "b", "c"],
                 commits=[CommitEntry(50, "append", ["b"]), CommitEntry(51, "append", ["c"])])
    assert parts_since(m, 50) == ["c"]
    assert parts_since(m, 49) == ["b", "c"]
    assert parts_since(m, 10) == ["a", "b", "c"]  # commits 11..49 were dropped from the log


def test_audit_pipe_drops_are_kept_with_the_capture(tmp_path: Path) -> None:
    # minor item: the drop counters were printed, then forgotten
    import json

    from knox_analytics.live.device import PipeStats
    from knox_analytics.live.source import Source

    class CountingSource(Source):
        drops = 0

        def stats(self) -> PipeStats:
            return PipeStats(inserts=0, reads=0, drops=self.drops, truncates=1)

    out, path = tmp_path / "out", tmp_path / "trail.bsm"
    path.write_bytes(DATA)
    lines = []
    for drops in (3, 4):
        src = CountingSource(os.open(path, os.O_RDONLY), "file", str(path))
        src.drops = drops
        with src:
            summary = Capture(out, CaptureConfig(derive=False)).run(src,
                                                                    install_signals=False)
        lines.append(summary.line())
    state = json.loads((out / STATE_NAME).read_text())
    assert state["pipe_loss"] == {"drops": 7, "truncates": 2, "runs": 2}
    assert lines[0].endswith(", 3 dropped, 1 truncated by the audit pipe")
    assert lines[1].endswith(", 4 dropped, 1 truncated by the audit pipe (7 dropped, "
                             "2 truncated since the capture began)")
