"""Convert raw capture segments into the dataset, in a thread beside the pump.

Ingestion (moving bytes from the source into segments) never waits for conversion: the
converter thread wakes every ``interval`` seconds, pushes the bytes the open segment
gained through the streaming decoder (:class:`knox_analytics.bsm.reader.StreamDecoder`),
and finishes segments the pump has closed.  Decoding and Parquet writing spend most of
their time in numpy/pyarrow with the GIL released, so the pump keeps draining the source
meanwhile (the audit pipe's queue would otherwise fill and drop).

Rows go to the dataset through :class:`knox_analytics.store.DatasetWriter` (the writer,
layout, Parquet options and commit protocol of ``knox convert``).  The order that makes
a kill or a power loss at any moment harmless: decode -> ``write`` -> ``commit()`` (the
parts are fsynced and renamed in, the manifest written) -> only then the converted
offset is saved in ``capture.json`` (``on_progress``).  A state that lags the dataset by
one commit is caught up on restart from the committed rows themselves (their ``source``
and ``offset``): :func:`converted_in_parts`.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from knox_analytics.bsm.reader import StreamDecoder
from knox_analytics.store.commit import fsync_file

READ_CHUNK = 8 << 20  # bytes of a segment pushed into the decoder at once


def commit(writer: Any) -> list[str]:
    """Make everything written durable and visible (the store's commit protocol: parts
    fsynced, then the manifest, then moved in); return the parts committed."""
    return list(writer.commit())


#: Parts below this size are merged between rotations and at rotation; bigger ones stay.
SMALL_PART_BYTES = 32 << 20
#: A partition with more parts than this has its small ones merged without waiting for
#: the rotation (a commit every second would otherwise leave 3,600 of them an hour).
MAX_PARTS = 24


def compact(writer: Any, small_only: bool = False) -> int:
    """Merge the parts of the partitions this writer touched: all of them into one per
    partition, or (``small_only``) just the small ones, keeping the big parts as they are."""
    if small_only:
        return int(writer.compact(small_bytes=SMALL_PART_BYTES))
    return int(writer.compact())


def crowded(writer: Any, limit: int | None = None) -> bool:
    """Has a partition this writer touched more parts than ``limit`` (default
    :data:`MAX_PARTS`)?"""
    limit = MAX_PARTS if limit is None else limit
    counts = writer.parts_per_partition()
    return any(counts.get(key, 0) > limit for key in writer.touched)


def converted_in_parts(root: Path, parts: Iterable[str]) -> dict[str, int]:
    """Source -> end of the last record the given committed parts hold from it."""
    ends: dict[str, int] = {}
    for part in parts:
        table = pq.read_table(root / part, columns=["source", "offset", "length"])
        if table.num_rows == 0:
            continue
        ranges = pa.table({"source": table.column("source").cast(pa.string()),
                           "end": pc.add(table.column("offset").cast(pa.int64()),
                                         table.column("length").cast(pa.int64()))})
        for row in ranges.group_by("source").aggregate([("end", "max")]).to_pylist():
            ends[row["source"]] = max(ends.get(row["source"], 0), int(row["end_max"]))
    return ends


class SegmentConverter:
    """Tracks how far each segment is converted and converts the rest.

    ``converted`` maps segment index -> converted end offset (always the end of a batch:
    whole records, file tokens and damaged spans).
    """

    def __init__(self, writer: Any, seg_path: Callable[[int], Path],
                 converted: dict[int, int], on_progress: Callable[[], None],
                 on_message: Callable[[str], None], version: int = 0,
                 before_compact: Callable[[], None] | None = None) -> None:
        self.writer = writer
        self.version = version  # the dataset version ``converted`` accounts for
        self.seg_path = seg_path
        self.converted = converted
        self.records = 0
        self.damaged = 0
        self._decoders: dict[int, StreamDecoder] = {}
        self._read: dict[int, int] = {}  # segment -> bytes of it fed to its decoder
        self._progress = on_progress
        self._before_compact = before_compact
        self._say = on_message
        self._closed: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._work = threading.Lock()  # one conversion at a time (thread, stop, recover)

    def _decoder(self, index: int) -> StreamDecoder:
        if index not in self._decoders:
            start = self.converted.get(index, 0)
            self._decoders[index] = StreamDecoder(str(self.seg_path(index).resolve()),
                                                  offset=start, keep_data=True)
            self._read[index] = start
        return self._decoders[index]

    def convert(self, index: int, final: bool = False) -> int:
        """Convert segment ``index`` up to its last whole record and commit it; return the
        bytes the unfinished record at its end still needs (0: none, or unknown).

        ``final``: the segment is closed: its tail is decoded too (a truncated record is
        reported as damage, never a row) and the segment is done.
        """
        with self._work:
            decoder = self._decoder(index)
            with open(self.seg_path(index), "rb") as fh:
                while data := os.pread(fh.fileno(), READ_CHUNK, self._read[index]):
                    self._read[index] += len(data)
                    self._take(decoder.feed(data))
            if final:
                self._take(decoder.close())
            need = 0 if final else decoder.needed
            if decoder.offset != self.converted.get(index, 0):
                # the raw bytes first: a state naming rows whose segment bytes a power
                # loss took would make the restart skip what the pump writes again there
                fsync_file(self.seg_path(index))
                commit(self.writer)
                with self._lock:
                    self.converted[index] = decoder.offset
                    self.version = self.writer.manifest.version
                self._progress()
            if final:
                del self._decoders[index], self._read[index]
            return need

    def forget(self, index: int) -> None:
        """Drop what the decoder of segment ``index`` holds (the segment was truncated)."""
        with self._work:
            self._decoders.pop(index, None)
            self._read.pop(index, None)

    def _take(self, batches: list[Any]) -> None:
        for batch in batches:
            # the segment's bytes: captured records share record identity with trails
            # converted into the same dataset (docs/dataset.md)
            self.writer.write(batch.table, batch.data or None, batch.offset)
            self.records += batch.records
            self.damaged += len(batch.damage)
            for d in batch.damage:
                self._say(f"damaged: {d}")

    def compact(self, small_only: bool = False) -> int:
        """Merge parts: the small ones (at rotation, or when a partition is crowded) or
        all of them (on stop); returns parts removed."""
        with self._work:
            if self._before_compact is not None and crowded(self.writer, 1):
                # the derived state must cover every part a compaction retires: its
                # commit log then says where their records went, and nothing is derived
                # again (docs/derived-state.md)
                self._before_compact()
            removed = compact(self.writer, small_only)
            with self._lock:  # the same records in fewer parts: nothing to catch up
                self.version = self.writer.manifest.version
            return removed

    def snapshot(self) -> dict[int, int]:
        """A copy of ``converted`` that is safe to take from another thread."""
        with self._lock:
            return dict(self.converted)

    def snapshot_with_version(self) -> tuple[dict[int, int], int]:
        """``converted`` and the dataset version it accounts for, taken together."""
        with self._lock:
            return dict(self.converted), self.version

    # --- the thread ----------------------------------------------------------------------
    def start(self, active: Callable[[], int], interval: float) -> None:
        """Run conversions every ``interval`` s; ``active()`` names the open segment."""
        self._thread = threading.Thread(target=self._run, args=(active, interval),
                                        name="knox-convert", daemon=True)
        self._thread.start()

    def segment_closed(self, index: int) -> None:
        """The pump closed (and fsynced) segment ``index``: convert all of it, compact."""
        self._closed.put(index)
        self._wake.set()

    def _pass(self, active: int) -> None:
        rotated = False
        while not self._closed.empty():
            self.convert(self._closed.get(), final=True)
            rotated = True
        self.convert(active)
        if rotated or crowded(self.writer):
            removed = self.compact(small_only=True)
            if removed:
                self._progress()

    def _run(self, active: Callable[[], int], interval: float) -> None:
        try:
            while not self._stopping:
                self._wake.wait(interval)
                self._wake.clear()
                self._pass(active())
        except BaseException as exc:  # handed to the pump thread by check()/stop()
            self._error = exc

    @property
    def failed(self) -> BaseException | None:
        """The error that ended the converter thread, if any."""
        return self._error

    def check(self) -> None:
        """Re-raise an error of the converter thread in the caller's thread."""
        if self._error is not None:
            raise self._error

    def join(self) -> None:
        """Stop the thread after its current pass (nothing more is converted)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def stop(self, active: int) -> None:
        """Final pass: closed segments in full, the open one up to its last whole record,
        then compact what this run touched."""
        self.join()
        self.check()
        self._pass(active)
        if self.compact():
            self._progress()
