"""``knox capture``: rotation, restart and the kill -9 crash-safety guarantee.

Fixtures: records made by tests/live/live_helpers.py with the project's encoder, and
tests/data/trails/synthetic-workload.bsm (see tests/data/trails/README.md).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from knoxtest import TRAILS
from live_helpers import KNOX_LIVE_ARGV, numbered_stream

from knox_analytics.bsm.reader import record_boundary
from knox_analytics.errors import InputError
from knox_analytics.live import capture as capture_module
from knox_analytics.live.capture import Capture, CaptureConfig
from knox_analytics.live.source import open_source

WRITER = r"""
import os, random, sys, time
fifo, blob, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(blob, "rb").read()
fd = os.open(fifo, os.O_RDWR)  # O_RDWR: the pipe (and its contents) outlive each killed reader
rng = random.Random(seed)
pos = 0
while pos < len(data):
    n = rng.randint(1, 20000)
    view = memoryview(data)[pos:pos + n]
    while view:
        view = view[os.write(fd, view):]
    pos += n
    time.sleep(rng.uniform(0, 0.003))  # a paced stream, so that kills land mid-stream
print("done", flush=True)
sys.stdin.readline()  # the test says when to close (EOF for the final capture)
os.close(fd)
"""


def read_dataset(root: Path) -> pa.Table:
    return ds.dataset(root / "dataset", format="parquet", partitioning="hive").to_table(
        columns=["source", "offset", "texts"])


def record_numbers(table: pa.Table) -> list[int]:
    return sorted(int(texts[0][4:]) for texts in table.column("texts").to_pylist())


def seg_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in (out / "segments").glob("*.bsm")) if out.exists() else 0


def has_open(pid: int, path: Path) -> bool:
    """True once process ``pid`` holds ``path`` open (Linux /proc)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "read-write"])
def test_capture_fifo_rotates_on_record_boundaries(tmp_path: Path, splice: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_module, "HAVE_SPLICE", splice and capture_module.HAVE_SPLICE)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = (TRAILS / "synthetic-workload.bsm").read_bytes()
    trail = str(TRAILS / "synthetic-workload.bsm")
    feed = f"open({str(fifo)!r}, 'wb').write(open({trail!r}, 'rb').read())"
    writer = subprocess.Popen([sys.executable, "-c", feed])
    cap = Capture(tmp_path / "out", CaptureConfig(rotate_bytes=100_000))
    summary = cap.run(open_source(str(fifo)), install_signals=False)
    writer.wait(timeout=10)
    assert summary.records == 3006 and summary.damaged == 0
    segments = sorted((tmp_path / "out" / "segments").glob("*.bsm"))
    assert len(segments) >= 4  # 426 kB at 100 kB per segment (+ the last read's overshoot)
    assert summary.segments == len(segments)  # the last one too (issue 23 item 15)
    for seg in segments:  # each segment is whole records
        raw = seg.read_bytes()
        boundary, need = record_boundary(raw)
        assert (boundary, need) == (len(raw), 0)
    # every segment is whole records: concatenated they are the trail again
    assert b"".join(p.read_bytes() for p in segments) == data
    assert read_dataset(tmp_path / "out").num_rows == 3006


def test_capture_from_file_resumes_where_it_stopped(tmp_path: Path) -> None:
    trail = TRAILS / "synthetic-workload.bsm"
    out = tmp_path / "out"
    first = Capture(out).run(open_source(str(trail)), install_signals=False)
    again = Capture(out).run(open_source(str(trail)), install_signals=False)
    assert (first.records, again.records) == (3006, 0)
    assert read_dataset(out).num_rows == 3006


def test_one_capture_per_directory(tmp_path: Path) -> None:
    first = Capture(tmp_path / "out")
    with pytest.raises(InputError, match="another knox capture is writing here"):
        Capture(tmp_path / "out")
    first.close()
    Capture(tmp_path / "out").close()


def test_damaged_stream_keeps_every_good_record(tmp_path: Path) -> None:
    data = (TRAILS / "synthetic-workload.bsm").read_bytes()
    noisy = tmp_path / "noisy.bsm"
    cut = record_boundary(data[:5000])[0]  # a record boundary: junk between two records
    noisy.write_bytes(data[:cut] + b"\x14\x00\x00\x00\x50junk" + data[cut:])
    summary = Capture(tmp_path / "out").run(open_source(str(noisy)), install_signals=False)
    assert summary.records == 3006 and summary.damaged == 1


@pytest.mark.slow
def test_capture_survives_kill_9_exactly_once(tmp_path: Path) -> None:
    """A writer feeds N numbered records through a FIFO; capture is SIGKILLed 6 times."""
    n, seed = 20_000, 6
    rng = random.Random(seed)
    blob = tmp_path / "records.bsm"
    blob.write_bytes(numbered_stream(n, seed))
    fifo, out = tmp_path / "fifo", tmp_path / "out"
    os.mkfifo(fifo)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(fifo), str(blob), str(seed)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    argv = [*KNOX_LIVE_ARGV, "capture", "--source", str(fifo), "--out", str(out),
            "--rotate", "300KiB", "--flush", "0.1s"]
    for _ in range(6):
        before = seg_bytes(out)
        cap = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 3
        while seg_bytes(out) == before and time.monotonic() < deadline:
            time.sleep(0.01)  # wait until this run is copying, then kill at a random moment
        time.sleep(rng.uniform(0.0, 0.4))
        cap.send_signal(signal.SIGKILL)
        cap.wait()
    # the kills landed mid-stream: some bytes were captured, some are still to come
    assert 0 < seg_bytes(out) < blob.stat().st_size
    final = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdin is not None
    assert writer.stdout.readline().strip() == "done"
    deadline = time.monotonic() + 30
    while not has_open(final.pid, fifo) and time.monotonic() < deadline:
        time.sleep(0.01)  # the writer may close only once a reader holds the pipe's data
    writer.stdin.write("\n")
    writer.stdin.close()
    _, err = final.communicate(timeout=60)
    writer.wait(timeout=10)
    assert final.returncode == 0, err
    table = read_dataset(out)
    assert record_numbers(table) == list(range(n))
    keys = set(zip(table.column("source").to_pylist(), table.column("offset").to_pylist(),
                   strict=True))
    assert len(keys) == n
    assert b"".join(p.read_bytes() for p in sorted((out / "segments").glob("*.bsm"))) == \
        blob.read_bytes()


def test_captured_records_share_identity_with_converted_trails(tmp_path: Path) -> None:
    """A capture dataset and a trail of the same records converted into it later: each
    record once (the capture indexes what it writes, issue 11)."""
    from knox_analytics.convert import convert

    trail = TRAILS / "synthetic-workload.bsm"
    out = tmp_path / "cap"
    Capture(out).run(open_source(str(trail)), install_signals=False)
    dataset = out / "dataset"
    assert ds.dataset(dataset, format="parquet", partitioning="hive").count_rows() == 3006
    assert convert([trail], dataset).records == 0
    assert ds.dataset(dataset, format="parquet", partitioning="hive").count_rows() == 3006


def test_every_segment_closed_is_counted(tmp_path: Path) -> None:
    """Issue 23 item 15: every summary said "0 segments closed" (the last one, closed at
    the end, was never counted)."""
    trail = TRAILS / "synthetic-workload.bsm"
    one = Capture(tmp_path / "one").run(open_source(str(trail)), install_signals=False)
    assert one.segments == 1 and "1 segment closed" in one.line()
    many = Capture(tmp_path / "many", CaptureConfig(rotate_bytes=100_000)).run(
        open_source(str(trail)), install_signals=False)
    written = [p for p in (tmp_path / "many" / "segments").glob("*.bsm") if p.stat().st_size]
    assert many.segments == len(written) >= 1 and f"{many.segments} segment" in many.line()


def _boundary_near(data: bytes, n: int) -> int:
    return record_boundary(data[:n])[0]


def _captured_all(out: Path, size: int, cap: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while seg_bytes(out) < size and time.monotonic() < deadline and cap.poll() is None:
        time.sleep(0.05)


def _stop(cap: subprocess.Popen) -> str:
    cap.send_signal(signal.SIGTERM)
    _, err = cap.communicate(timeout=60)
    assert cap.returncode == 0, err
    return err


def _writer(fifo: Path, cap: subprocess.Popen) -> int:
    """Open the FIFO for writing once the capture reads it (never blocking: a capture
    that has ended fails the test instead of hanging it)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader (yet, or any more)
            assert cap.poll() is None, f"the capture ended: {cap.communicate()[1]}"
            assert time.monotonic() < deadline
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)
        return fd


def test_follow_a_fifo_across_its_writers(tmp_path: Path) -> None:
    """Issue 23 item 15: `capture --source FIFO` stopped at the first writer's EOF;
    --follow FIFO keeps reading, writer after writer, until SIGTERM."""
    data = (TRAILS / "synthetic-workload.bsm").read_bytes()
    cut = 150_001  # mid-record: the second writer completes it
    fifo, out = tmp_path / "fifo", tmp_path / "out"
    os.mkfifo(fifo)
    cap = subprocess.Popen([*KNOX_LIVE_ARGV, "capture", "--follow", str(fifo), "--out",
                            str(out), "--flush", "0.2s"], stderr=subprocess.PIPE, text=True)
    try:
        for piece in (data[:cut], data[cut:]):
            with os.fdopen(_writer(fifo, cap), "wb") as fh:  # a writer comes, writes, goes
                fh.write(piece)
            time.sleep(1.0)  # the capture outlives the writer's EOF
        _captured_all(out, len(data), cap)
        err = _stop(cap)
    finally:
        if cap.poll() is None:
            cap.kill()
    assert "3006 records converted, 1 segment closed" in err
    assert "0 damaged spans" in err
    assert read_dataset(out).num_rows == 3006


def test_follow_a_growing_trail_across_rotation(tmp_path: Path) -> None:
    """Issue 23 item 15: `capture --source current` exited at its end; --follow tails it
    as `commands --follow` does: growth, then auditd's rotation (rename + a new file)."""
    data = (TRAILS / "synthetic-workload.bsm").read_bytes()
    rotated = _boundary_near(data, 300_000)
    current, out = tmp_path / "current", tmp_path / "out"
    current.write_bytes(data[:100_001])  # the last record is still being written
    cap = subprocess.Popen([*KNOX_LIVE_ARGV, "capture", "--follow", str(current), "--out",
                            str(out), "--flush", "0.2s"], stderr=subprocess.PIPE, text=True)
    try:
        _captured_all(out, 100_001, cap)  # it holds the trail open, then waits at its end
        time.sleep(1.0)
        assert cap.poll() is None, cap.communicate()[1]
        with open(current, "ab") as fh:
            fh.write(data[100_001:rotated - 5000])
        time.sleep(0.6)
        with open(current, "ab") as fh:  # written just before the rotation: still read
            fh.write(data[rotated - 5000:rotated])
        current.rename(tmp_path / "20260101000000.20260102000000")
        current.write_bytes(data[rotated:])
        _captured_all(out, len(data), cap)
        err = _stop(cap)
    finally:
        if cap.poll() is None:
            cap.kill()
    assert "3006 records converted, 2 segments closed" in err, err
    assert "0 damaged spans" in err and "was rotated" in err
    assert read_dataset(out).num_rows == 3006
