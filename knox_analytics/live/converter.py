"""Convert raw capture segments into the dataset, in a thread beside the pump.

Ingestion (moving bytes from the source into segments) never waits for conversion: the
converter thread wakes every ``interval`` seconds, converts the complete records the open
segment gained, and finishes segments the pump has closed.  Decoding and Parquet writing
spend most of their time in numpy/pyarrow with the GIL released, so the pump keeps
draining the source meanwhile (the audit pipe's queue would otherwise fill and drop).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path

from knox_analytics.live.decoding import decode_chunk
from knox_analytics.live.framer import complete_prefix
from knox_analytics.live.sink import PartSink

CONVERT_CHUNK = 64 << 20  # at most this many bytes decoded at once


class SegmentConverter:
    """Tracks how far each segment is converted and converts the rest.

    ``converted`` maps segment index -> converted end offset (always a record boundary).
    """

    def __init__(self, sink: PartSink, seg_path: Callable[[int], Path],
                 converted: dict[int, int], on_progress: Callable[[], None],
                 on_message: Callable[[str], None]) -> None:
        self.sink = sink
        self.seg_path = seg_path
        self.converted = converted
        self.records = 0
        self.damaged = 0
        self._progress = on_progress
        self._say = on_message
        self._closed: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def convert(self, index: int, final: bool = False) -> int:
        """Convert segment ``index`` up to its last whole record; return the bytes needed.

        ``need`` is how many more bytes the partial record at the end needs in all (0 when
        the segment ends on a record boundary).  ``final``: convert the tail too (the
        decoder reports a truncated record as damage, never as a row).
        """
        path = self.seg_path(index)
        start = self.converted.get(index, 0)
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read()
        boundary, _records, need = complete_prefix(data)
        stop = len(data) if final else boundary
        lo = 0
        while lo < stop:
            hi = min(stop, lo + CONVERT_CHUNK)
            if hi < stop:  # cut a big backlog on a record boundary too
                cut = complete_prefix(data, lo, hi)[0]
                hi = cut if cut > lo else stop
            self._convert_range(index, path, data[lo:hi], start + lo)
            lo = hi
        return 0 if final else need

    def _convert_range(self, index: int, path: Path, data: bytes, start: int) -> None:
        result = decode_chunk(data, str(path.resolve()), start)
        self.sink.write(index, start, start + len(data), result.table)
        with self._lock:
            self.converted[index] = start + len(data)
        self.records += result.table.num_rows
        self.damaged += len(result.damage)
        for d in result.damage:
            self._say(f"damaged: {d}")
        if result.table.num_rows == 0:
            self._progress()  # nothing written: the state file remembers the progress

    def snapshot(self) -> dict[int, int]:
        """A copy of ``converted`` that is safe to take from another thread."""
        with self._lock:
            return dict(self.converted)

    # --- the thread ----------------------------------------------------------------------
    def start(self, active: Callable[[], int], interval: float) -> None:
        """Run conversions every ``interval`` s; ``active()`` names the open segment."""
        self._thread = threading.Thread(target=self._run, args=(active, interval),
                                        name="knox-convert", daemon=True)
        self._thread.start()

    def segment_closed(self, index: int) -> None:
        """The pump closed (and fsynced) segment ``index``: convert all of it."""
        self._closed.put(index)
        self._wake.set()

    def _pass(self, active: int) -> None:
        while not self._closed.empty():
            self.convert(self._closed.get(), final=True)
        self.convert(active)

    def _run(self, active: Callable[[], int], interval: float) -> None:
        try:
            while not self._stopping:
                self._wake.wait(interval)
                self._wake.clear()
                self._pass(active())
        except BaseException as exc:  # handed to the pump thread by check()/stop()
            self._error = exc

    def check(self) -> None:
        """Re-raise an error of the converter thread in the caller's thread."""
        if self._error is not None:
            raise self._error

    def stop(self, active: int) -> None:
        """Final pass: closed segments in full, the open one up to its last whole record."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.check()
        self._pass(active)
