"""``knox capture``: a long-running, crash-safe capture into raw segments and Parquet.

Layout of the output directory::

    OUT/capture.json                 state: one entry per segment (source, source offset)
    OUT/segments/seg-00000001.bsm    raw records, append-only, rotated by size/time
    OUT/dataset/host=…/date=…/part-….parquet   converted ranges (see live/sink.py)

Crash safety (``kill -9`` at any moment, then a restart):

* Bytes go from a FIFO/stdin straight into the segment with ``splice(2)``: the kernel
  moves them, so no byte is ever held only in our memory.  (A read/write pair would lose
  what was read when the kill lands between the two calls.)  For a regular file the
  restart seeks to where the segments end; the audit pipe hands out whole records.
* The segment files are the truth; a conversion covers ``[converted end, last record
  boundary)`` of a segment and is committed by atomic renames (live/sink.py), so a range
  is in the dataset exactly once and a partial record never is.
* On restart a FIFO/stdin segment keeps its partial last record: the rest of it is still
  in the pipe.  An audit pipe segment is truncated to its last whole record (the rest died
  with the killed clone's queue).
* Rotation happens only on a record boundary; the closed segment is fsynced first.
* Conversion runs in a thread beside the pump (live/converter.py): ingestion never waits
  for decoding or Parquet writing.
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knox_analytics.errors import InputError
from knox_analytics.live.converter import SegmentConverter
from knox_analytics.live.framer import complete_prefix
from knox_analytics.live.sink import PartSink
from knox_analytics.live.source import Source

STATE_NAME = "capture.json"
LOCK_NAME = "capture.lock"
STATE_VERSION = 1
SEGMENT_DIR = "segments"
DATASET_DIR = "dataset"
PUMP_SIZE = 1 << 20  # bytes per splice/read
#: Linux only; elsewhere (macOS FIFOs) a read/write pair copies: a kill between the two
#: loses what was read, which the audit pipe (whole records, a per-open queue) loses anyway.
HAVE_SPLICE = hasattr(os, "splice")
WAIT_SECONDS = 0.5  # longest wait for input between checks of the stop flag and stats


@dataclass
class CaptureConfig:
    """Rotation and conversion settings of a capture."""

    rotate_bytes: int = 64 << 20
    rotate_seconds: float = 3600.0
    flush_seconds: float = 1.0  # convert the complete records of the open segment this often
    host: str | None = None
    stats_seconds: float = 60.0  # report pipe drops this often (0 = never)


@dataclass
class CaptureSummary:
    """What one run of the capture did."""

    records: int = 0
    bytes: int = 0
    segments: int = 0
    damaged: int = 0
    drops: int | None = None
    truncates: int | None = None
    messages: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The one-line summary the CLI prints at the end."""
        text = (f"{self.records} records converted, {self.segments} segments closed, "
                f"{self.bytes} raw bytes, {self.damaged} damaged spans")
        if self.drops is not None:
            text += f", {self.drops} dropped, {self.truncates} truncated by the audit pipe"
        return text


class _Stop(Exception):
    """Raised by the SIGINT/SIGTERM handler while the capture waits for input."""


def segment_name(index: int) -> str:
    """``seg-00000001.bsm``."""
    return f"seg-{index:08d}.bsm"


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(path: Path) -> int:
    """Hold an exclusive lock on ``path`` for the life of the process (a kill releases it)."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise InputError(f"{path.parent}: another knox capture is writing here") from exc
    return fd


class Capture:
    """Capture from a :class:`Source` into ``out`` (see module docstring).

    >>> cap = Capture(Path("cap"))                   # doctest: +SKIP
    >>> summary = cap.run(open_source("/tmp/fifo"))  # doctest: +SKIP
    """

    def __init__(self, out: Path, config: CaptureConfig | None = None,
                 on_message: Callable[[str], None] | None = None) -> None:
        self.out = Path(out)
        self.config = config or CaptureConfig()
        self.seg_dir = self.out / SEGMENT_DIR
        self.seg_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock(self.out / LOCK_NAME)
        self.sink = PartSink(self.out / DATASET_DIR, self.config.host)
        self.summary = CaptureSummary()
        self._say = on_message or (lambda _m: None)
        self.state = self._load_state()
        converted = self.sink.scan()
        for key, end in self.state.get("converted", {}).items():
            converted[int(key)] = max(converted.get(int(key), 0), end)
        self._state_lock = threading.Lock()
        self.converter = SegmentConverter(self.sink, self.seg_path, converted,
                                          self._save_state, self._say)
        self.seg_fd = -1
        self.walk_pos = 0  # the open segment is known to be whole records up to here
        self.seg_index = 0
        self.seg_size = 0
        self.seg_opened = 0.0
        self._waiting = False
        self._stop = False

    # --- state ---------------------------------------------------------------------------
    def _load_state(self) -> dict[str, Any]:
        path = self.out / STATE_NAME
        if not path.exists():
            return {"version": STATE_VERSION, "segments": {}, "converted": {}}
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: unreadable capture state ({exc})") from exc
        if state.get("version") != STATE_VERSION:
            raise InputError(f"{path}: capture state version {state.get('version')}, "
                             f"expected {STATE_VERSION}")
        return state

    def _save_state(self) -> None:
        with self._state_lock:
            converted = self.converter.snapshot()
            self.state["converted"] = {str(k): v for k, v in sorted(converted.items())}
            _write_json_atomic(self.out / STATE_NAME, self.state)

    def _segments(self) -> list[int]:
        found = {int(p.name[4:12]) for p in self.seg_dir.glob("seg-*.bsm")}
        return sorted(found | {int(k) for k in self.state["segments"]})

    def seg_path(self, index: int) -> Path:
        """Path of segment ``index``."""
        return self.seg_dir / segment_name(index)

    def convert(self, index: int, final: bool = False) -> int:
        """Convert segment ``index`` now (see :meth:`SegmentConverter.convert`)."""
        return self.converter.convert(index, final)

    # --- segments ------------------------------------------------------------------------
    def _open_segment(self, index: int, source: Source, source_offset: int) -> None:
        key = str(index)
        if key not in self.state["segments"]:
            self.state["segments"][key] = {"source": source.name, "kind": source.kind,
                                           "source_offset": source_offset,
                                           "created": time.time()}
            self._save_state()
        self.seg_fd = os.open(self.seg_path(index), os.O_RDWR | os.O_CREAT, 0o640)
        self.seg_index = index
        self.seg_size = os.fstat(self.seg_fd).st_size
        self.walk_pos = self.converter.snapshot().get(index, 0)
        self.seg_opened = self.state["segments"][key]["created"]

    def _close_segment(self) -> None:
        os.fsync(self.seg_fd)
        os.close(self.seg_fd)
        self.seg_fd = -1
        self.converter.segment_closed(self.seg_index)
        self.summary.segments += 1

    def _need(self) -> int:
        """Bytes the partial record at the end of the open segment still needs (0 = none)."""
        data = os.pread(self.seg_fd, self.seg_size - self.walk_pos, self.walk_pos)
        boundary, _records, need = complete_prefix(data)
        self.walk_pos += boundary
        return need

    def _rotate(self, source: Source) -> None:
        entry = self.state["segments"][str(self.seg_index)]
        next_offset = entry["source_offset"] + self.seg_size
        self._close_segment()
        self._open_segment(self.seg_index + 1, source, next_offset)
        self._say(f"rotated to {segment_name(self.seg_index)}")

    def _same_source(self, index: int, source: Source) -> bool:
        entry = self.state["segments"].get(str(index))
        return bool(entry) and entry["source"] == source.name and entry["kind"] == source.kind

    def _next_offset(self, index: int, source: Source) -> int:
        """Source offset where segment ``index`` starts when it continues ``index - 1``."""
        prev = self.state["segments"].get(str(index - 1))
        if not self._same_source(index - 1, source) or not self.seg_path(index - 1).exists():
            return 0
        return prev["source_offset"] + self.seg_path(index - 1).stat().st_size

    def recover(self, source: Source) -> None:
        """Finish what a killed run left: convert closed segments, reopen or close the last."""
        segments = self._segments()
        for index in segments[:-1]:
            if not self.seg_path(index).exists():
                continue
            self.convert(index, final=True)
        if not segments:
            self._open_segment(1, source, 0)
            return
        last = segments[-1]
        if not self.seg_path(last).exists():  # killed between state entry and file
            self.state["segments"].pop(str(last), None)
            self._open_segment(last, source, self._next_offset(last, source))
            return
        if not self._same_source(last, source):
            self.convert(last, final=True)
            self._open_segment(last + 1, source, 0)
            return
        self._open_segment(last, source, self.state["segments"][str(last)]["source_offset"])
        self._resume(source)

    def _resume(self, source: Source) -> None:
        if source.kind == "device":  # the rest of a partial record died with the queue
            need = self.convert(self.seg_index)
            if need:
                boundary = self.converter.snapshot().get(self.seg_index, 0)
                os.ftruncate(self.seg_fd, boundary)
                self.seg_size = boundary
                self._say(f"truncated a partial record at byte {boundary}")
        elif source.kind == "file":
            entry = self.state["segments"][str(self.seg_index)]
            os.lseek(source.fd, entry["source_offset"] + self.seg_size, os.SEEK_SET)

    # --- the pump ------------------------------------------------------------------------
    def _pump(self, source: Source, limit: int) -> int:
        if source.is_stream and HAVE_SPLICE:
            try:
                n = os.splice(source.fd, self.seg_fd, limit, offset_dst=self.seg_size)
                self.seg_size += n
                return n
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                source.kind = "stdin-copy"  # not a real pipe: copy instead (no retry)
        data = source.read(max(limit, source.read_size) if source.kind == "device" else limit)
        if data:
            os.pwrite(self.seg_fd, data, self.seg_size)
            self.seg_size += len(data)
        return len(data)

    def _wait(self, fd: int, timeout: float) -> bool:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        self._waiting = True
        try:
            if self._stop:
                raise _Stop
            return bool(poller.poll(max(0, int(timeout * 1000))))
        finally:
            self._waiting = False

    def _handle_signal(self, _signum: int, _frame: Any) -> None:
        self._stop = True
        if self._waiting:
            raise _Stop

    def run(self, source: Source, *, install_signals: bool = True) -> CaptureSummary:
        """Capture until end of input or SIGINT/SIGTERM; convert everything; summarise."""
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._handle_signal)
        self.recover(source)
        self.converter.start(lambda: self.seg_index, self.config.flush_seconds)
        try:
            self._loop(source)
        except _Stop:
            pass
        finally:
            self._finish(source)
        return self.summary

    def _rotation_due(self, now: float) -> bool:
        cfg = self.config
        return (self.seg_size >= cfg.rotate_bytes
                or (self.seg_size > 0 and now - self.seg_opened >= cfg.rotate_seconds))

    def _loop(self, source: Source) -> None:
        next_stats = time.monotonic() + (self.config.stats_seconds or float("inf"))
        limit = PUMP_SIZE
        while not self._stop:
            readable = source.kind == "file" or self._wait(source.fd, WAIT_SECONDS)
            if readable and self._pump(source, limit) == 0:
                return  # end of input
            self.converter.check()
            if self._rotation_due(time.time()):
                need = self._need()  # rotate on a record boundary only
                if need == 0:
                    self._rotate(source)
                limit = need or PUMP_SIZE
            if time.monotonic() >= next_stats:
                self._report_stats(source)
                next_stats = time.monotonic() + self.config.stats_seconds

    def close(self) -> None:
        """Release the capture directory (run() does this when it ends)."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _report_stats(self, source: Source) -> None:
        stats = source.stats()
        if stats is not None:
            self.summary.drops, self.summary.truncates = stats.drops, stats.truncates
            self._say(f"audit pipe: {stats.drops} dropped, {stats.truncates} truncated")

    def _finish(self, source: Source) -> None:
        if self.seg_fd >= 0:
            os.fsync(self.seg_fd)
            os.close(self.seg_fd)
            self.seg_fd = -1
        self.converter.stop(self.seg_index)
        self.summary.records = self.converter.records
        self.summary.damaged = self.converter.damaged
        self._report_stats(source)
        self.summary.bytes = sum(self.seg_path(i).stat().st_size for i in self._segments()
                                 if self.seg_path(i).exists())
        self._save_state()
        self.close()
