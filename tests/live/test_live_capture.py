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
