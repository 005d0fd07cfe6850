"""``knox capture``: a long-running, crash-safe capture into raw segments and Parquet.

Layout of the output directory::

    OUT/capture.json                 state: one entry per segment (source, source offset)
    OUT/segments/seg-00000001.bsm    raw records, append-only, rotated by size/time
    OUT/dataset/                     a knox dataset, written by the store's DatasetWriter

Crash safety (``kill -9`` at any moment, then a restart):

* Bytes go from a FIFO/stdin straight into the segment with ``splice(2)``: the kernel
  moves them, so no byte is ever held only in our memory.  (A read/write pair would lose
  what was read when the kill lands between the two calls.)  For a regular file the
  restart finds where the segments end *by content* (:mod:`knox_analytics.live.resume`);
  the audit pipe may hand out part of a record or several per read, and the capture never
  assumes otherwise (records are found by walking the segment).
* The segment files are the truth.  The converter (live/converter.py) decodes what they
  gained, commits it to the dataset (parts fsynced and renamed in, manifest written) and
  only then records the converted offset in ``capture.json``; a state one commit behind is
  caught up from the committed rows, so every record is in the dataset exactly once.
* On restart a FIFO segment keeps its partial last record: the rest of it is still in the
  pipe.  A restarted ``-`` (stdin) is a new stream: the old segment is finished (its
  partial record, if any, reported as damage) and a new one begins.  An audit pipe
  segment is truncated to its last whole record (the rest died with the clone's queue).
* Rotation happens only on a record boundary; the closed segment is fsynced first, then
  converted in full and the small parts of the partitions it touched are compacted.
  ``capture.json`` lists the partitions written since the last full compaction (on
  stop): a run killed before or during that compaction leaves them to the next run's
  stop, which compacts them even if it writes nothing new to them.
* Disk full: one line, a clean stop, and nothing lost (the bytes stay in the segments or
  in the source); run the same command again once there is space.
"""

from __future__ import annotations

import contextlib
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

from knox_analytics.bsm.reader import record_boundary
from knox_analytics.derived.upkeep import DerivedUpkeep
from knox_analytics.errors import DiskFullError, InputError
from knox_analytics.live import resume
from knox_analytics.live.converter import SegmentConverter, converted_in_parts
from knox_analytics.live.source import Source
from knox_analytics.store import MANIFEST_NAME, DatasetWriter
from knox_analytics.store.commit import fsync_dir
from knox_analytics.store.safefs import (
    PRIVATE,
    Protection,
    check_owner,
    make_dir,
    open_append,
    open_lock,
    protection_of,
    protection_of_dataset,
    require_parent,
    tighten_tree,
    write_atomic,
)
from knox_analytics.words import plural

STATE_NAME = "capture.json"
LOCK_NAME = "capture.lock"
STATE_VERSION = 2
SEGMENT_DIR = "segments"
DATASET_DIR = "dataset"
PUMP_SIZE = 1 << 20  # bytes per splice/read
#: Linux only; elsewhere (macOS FIFOs) a read/write pair copies: a kill between the two
#: loses what was read, which the audit pipe (a per-open queue) loses anyway.
HAVE_SPLICE = hasattr(os, "splice")
WAIT_SECONDS = 0.5  # longest wait for input between checks of the stop flag and stats
FOLLOW_POLL = 0.25  # a followed trail at its end is looked at again this often
#: Free space kept on the segments' file system: below it the capture stops *before*
#: reading more from a stream, so the bytes stay in the pipe instead of in our memory.
RESERVE_BYTES = 4 * PUMP_SIZE


@dataclass
class CaptureConfig:
    """Rotation and conversion settings of a capture."""

    rotate_bytes: int = 64 << 20
    rotate_seconds: float = 3600.0
    flush_seconds: float = 1.0  # convert the complete records of the open segment this often
    host: str | None = None
    stats_seconds: float = 60.0  # report pipe drops this often (0 = never)
    derive: bool = True  # keep the derived process state up to date (derived/upkeep.py)
    #: At the end of a file or FIFO source, wait for more until SIGINT/SIGTERM: a trail
    #: as it grows, across auditd's rotation of ``current`` (as ``commands --follow``);
    #: a FIFO across its writers (False: the end of the file or the first writer's EOF
    #: ends the capture).
    follow: bool = False


@dataclass
class CaptureSummary:
    """What one run of the capture did."""

    records: int = 0
    bytes: int = 0
    segments: int = 0
    damaged: int = 0
    drops: int | None = None
    truncates: int | None = None
    #: every run of this capture directory, this one included (kept in capture.json)
    total_drops: int | None = None
    total_truncates: int | None = None
    messages: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The one-line summary the CLI prints at the end."""
        # numbers as they were (no separators): scripts read this line
        text = (f"{self.records} {plural(self.records, 'record')} converted, "
                f"{self.segments} {plural(self.segments, 'segment')} closed, "
                f"{self.bytes} raw {plural(self.bytes, 'byte')}, "
                f"{self.damaged} damaged {plural(self.damaged, 'span')}")
        if self.drops is not None:
            text += f", {self.drops} dropped, {self.truncates} truncated by the audit pipe"
            if self.total_drops is not None and (self.total_drops, self.total_truncates) \
                    != (self.drops, self.truncates):
                text += (f" ({self.total_drops} dropped, {self.total_truncates} truncated "
                         "since the capture began)")
        return text


class _Stop(Exception):
    """Raised by the SIGINT/SIGTERM handler while the capture waits for input."""


def segment_name(index: int) -> str:
    """``seg-00000001.bsm``."""
    return f"seg-{index:08d}.bsm"


def is_disk_full(exc: BaseException) -> bool:
    """True for the errors of a full file system (or an exhausted quota)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full(out: Path, exc: OSError, what: str) -> DiskFullError:
    """The one line for a full file system: the path, what happened, what to do."""
    where = f" writing {exc.filename}" if exc.filename else ""
    return DiskFullError(f"{out}: disk full ({exc.strerror}{where}); {what}, nothing is "
                         "lost: free some space and run the same command again")


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace a state file, as protected as the directory it is in."""
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode(),
                 protection_of_dataset(path.parent))
    fsync_dir(path.parent)


def protection_of_source(source: Source) -> Protection:
    """What the captured records may be readable by: a trail file's own protection; the
    audit pipe, a FIFO or stdin: the owner only."""
    return protection_of([source.name]) if source.kind == "file" else PRIVATE


def _lock(path: Path, protection: Protection) -> int:
    """Hold an exclusive lock on ``path`` for the life of the process (a kill releases it)."""
    import fcntl

    fd = open_lock(path, protection)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise InputError(f"{path.parent}: another knox capture is writing here") from exc
    return fd


def parts_since(manifest: Any, version: int | None) -> list[str]:
    """Committed parts added after dataset ``version`` (all of them: ``None``) — the
    parts a state saved at that version may not account for."""
    oldest = manifest.commits[0].version if manifest.commits else 1
    if version is None or version < oldest - 1:  # older than the log the manifest keeps
        return list(manifest.parts)
    added = {p for c in manifest.commits if c.version > version for p in c.added}
    return [p for p in manifest.parts if p in added]


class Capture:
    """Capture from a :class:`Source` into ``out`` (see module docstring).

    >>> cap = Capture(Path("cap"))                   # doctest: +SKIP
    >>> summary = cap.run(open_source("/tmp/fifo"))  # doctest: +SKIP
    """

    def __init__(self, out: Path, config: CaptureConfig | None = None,
                 on_message: Callable[[str], None] | None = None, *,
                 protection: Protection | None = None,
                 allow_foreign_owner: bool = False) -> None:
        """``protection``: the source's (:func:`protection_of_source`); a new capture
        directory takes it, an existing one is tightened to it, never loosened (None:
        private when new).  As root, a directory another user owns is refused unless
        ``allow_foreign_owner``."""
        self.out = Path(out)
        self.config = config or CaptureConfig()
        self._lock_fd = -1
        check_owner(self.out, allow_foreign_owner=allow_foreign_owner)
        try:
            self.protection = self._protect(protection)
            self.seg_dir = self.out / SEGMENT_DIR
            make_dir(self.seg_dir, self.protection)
            self._lock_fd = _lock(self.out / LOCK_NAME, self.protection)
            self.state = self._load_state()
            self.writer = DatasetWriter(self.out / DATASET_DIR, host=self.config.host,
                                        protection=self.protection,
                                        allow_foreign_owner=allow_foreign_owner)
            # partitions a killed run wrote and never compacted: this run's stop
            # compacts them too, even when it has nothing new for them
            self.writer.touched.update(self.state.get("uncompacted", []))
        except BaseException as exc:
            self.close()
            if is_disk_full(exc):
                raise disk_full(self.out, exc, "capture did not start") from None
            raise
        self.summary = CaptureSummary()
        self._loss_base: dict[str, int] | None = None  # pipe_loss before this run
        self._say = on_message or (lambda _m: None)
        self._state_lock = threading.Lock()
        self._compacted = False  # set once the stop has compacted all this run touched
        self.converter = SegmentConverter(self.writer, self.seg_path,
                                          self._converted_on_disk(), self._committed,
                                          self._say, version=self.writer.manifest.version,
                                          before_compact=self._derive_now)
        self.upkeep = (DerivedUpkeep(self.writer.root, self._say) if self.config.derive
                       else None)
        self.seg_fd = -1
        self.walk_pos = 0  # the open segment is known to be whole records up to here
        self.seg_index = 0
        self.seg_size = 0
        self.seg_opened = 0.0
        self._waiting = False
        self._stop = False
        self._keeper = -1  # a followed FIFO's own write end: its writers' EOF is not ours

    def _protect(self, protection: Protection | None) -> Protection:
        """Make the capture directory, or tighten an existing one to ``protection``."""
        if not os.path.lexists(self.out):
            require_parent(self.out)
            make_dir(self.out, protection or PRIVATE)
            return protection or PRIVATE
        make_dir(self.out, PRIVATE)  # refuses a link or a file
        current = protection_of_dataset(self.out)
        tighter = current if protection is None else current & protection
        if tighter != current:
            tighten_tree(self.out, tighter)
        return tighter

    # --- state ---------------------------------------------------------------------------
    def _load_state(self) -> dict[str, Any]:
        path = self.out / STATE_NAME
        if not path.exists():
            return {"version": STATE_VERSION, "segments": {}, "converted": {}}
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: unreadable capture state ({exc})") from exc
        if state.get("version") not in (1, STATE_VERSION):
            raise InputError(f"{path}: capture state version {state.get('version')}, "
                             f"expected {STATE_VERSION}")
        if state["version"] == 1:
            self._from_version_1(state)
        state["version"] = STATE_VERSION
        return state

    def _from_version_1(self, state: dict[str, Any]) -> None:
        """A capture directory of the knox before the dataset writer: its segments are
        kept and converted again into the current layout, once its old dataset (parts
        without a manifest) has been moved aside by the user."""
        old = self.out / DATASET_DIR
        if old.is_dir() and not (old / MANIFEST_NAME).exists() and any(old.iterdir()):
            raise InputError(
                f"{old}: written by an older knox capture; every record in it is also in "
                f"{self.out / SEGMENT_DIR}: move {old} aside (e.g. to {old}.v1) and run "
                "again to convert the segments into the current layout")
        state["converted"] = {}


    def _converted_on_disk(self) -> dict[int, int]:
        """Converted end per segment: the state, caught up with what the dataset committed
        after the state was last saved (a kill between the two)."""
        converted = {int(k): v for k, v in self.state.get("converted", {}).items()}
        since = parts_since(self.writer.manifest, self.state.get("dataset_version"))
        ends = converted_in_parts(self.writer.root, since)
        for index in self._segments():
            end = ends.get(str(self.seg_path(index).resolve()))
            if end is not None and end > converted.get(index, 0):
                converted[index] = end
        return converted

    def _save_state(self) -> None:
        """Write capture.json; called only after the dataset committed what it names.

        The converted offsets and the dataset version are taken together (one snapshot
        of the converter): a state never names a version whose rows it does not count.
        """
        with self._state_lock:
            converted, version = self.converter.snapshot_with_version()
            self.state["converted"] = {str(k): v for k, v in sorted(converted.items())}
            self.state["dataset_version"] = version
            # (a C-level copy of a set of str: atomic against the converter's adds)
            self.state["uncompacted"] = [] if self._compacted else sorted(self.writer.touched)
            _write_json_atomic(self.out / STATE_NAME, self.state)

    def _committed(self) -> None:
        """The converter committed (rows or a compaction): save the state that counts
        them, then let the upkeep derive what questions will need."""
        self._save_state()
        if self.upkeep is not None:
            self.upkeep.poke()

    def _derive_now(self) -> None:
        """Bring the derived state up to date before a compaction (see the upkeep)."""
        if self.upkeep is not None:
            self.upkeep.run_once()

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
            entry = {"source": source.name, "kind": source.kind,
                     "source_offset": source_offset, "created": time.time()}
            if source.kind == "file":
                entry.update(resume.identity(source.fd, source.name))
            with self._state_lock:  # the converter thread saves the state too
                self.state["segments"][key] = entry
            self._save_state()
        self.seg_fd = open_append(self.seg_path(index), self.protection)
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
        boundary, need = record_boundary(data)
        self.walk_pos += boundary
        return need if self.walk_pos < self.seg_size else 0

    def _rotate(self, source: Source, next_offset: int | None = None) -> None:
        """Close the open segment, open the next (``next_offset``: where it starts in the
        source; default: continuing the open one; 0 starts a new stream)."""
        entry = self.state["segments"][str(self.seg_index)]
        if next_offset is None:
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
        if not self._same_source(last, source) or source.kind == "stdin":
            # another source, or a restarted pipeline: a new stream, never glued on
            self.convert(last, final=True)
            self._open_segment(last + 1, source, 0)
            return
        self._open_segment(last, source, self.state["segments"][str(last)]["source_offset"])
        self._resume(source)

    def _resume(self, source: Source) -> None:
        if source.kind == "device":  # the rest of a partial record died with the queue
            self.convert(self.seg_index)
            boundary = self.converter.snapshot().get(self.seg_index, 0)
            if boundary < self.seg_size:
                os.ftruncate(self.seg_fd, boundary)
                self.seg_size = boundary
                self.converter.forget(self.seg_index)
                self._say(f"truncated a partial record at byte {boundary}")
        elif source.kind == "file":
            self._resume_file(source)

    def _resume_file(self, source: Source) -> None:
        """Continue a file where the segments end, found by content (auditd's rotation
        of ``current``, a repointed symlink): finish the old file first, then the new."""
        entry = self.state["segments"][str(self.seg_index)]
        consumed = entry["source_offset"] + self.seg_size
        tail = resume.captured_tail(self._chain_paths(), resume.TAIL_BYTES)
        found = resume.locate(source, consumed, tail, entry)
        if found.same:
            os.lseek(source.fd, consumed, os.SEEK_SET)
            return
        if found.old_fd is not None:
            self._say(f"{source.name} was rotated: finishing {found.old_name} "
                      f"from byte {consumed}")
            old = Source(found.old_fd, "file", found.old_name)
            os.lseek(old.fd, consumed, os.SEEK_SET)
            try:
                while self._pump(old, PUMP_SIZE):
                    pass
            finally:
                os.close(old.fd)
        else:
            self._say(f"{source.name}: the {consumed} bytes captured before are not in it "
                      "nor in a rotated file next to it; starting it from byte 0")
        self._rotate(source, next_offset=0)

    def _chain_paths(self) -> list[Path]:
        """Segments of the open segment's stream, oldest first (offsets continue)."""
        paths = [self.seg_path(self.seg_index)]
        index = self.seg_index
        while self.state["segments"][str(index)]["source_offset"] > 0 and \
                str(index - 1) in self.state["segments"] and self.seg_path(index - 1).exists():
            index -= 1
            paths.insert(0, self.seg_path(index))
        return paths

    # --- the pump ------------------------------------------------------------------------
    def _room(self) -> None:
        """Stop before reading a stream onto a file system that cannot take it."""
        st = os.statvfs(self.seg_dir)
        if st.f_bavail * st.f_frsize < RESERVE_BYTES:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.seg_dir))

    def _pump(self, source: Source, limit: int) -> int:
        if source.is_stream:
            self._room()
        if source.is_stream and HAVE_SPLICE:
            try:
                n = os.splice(source.fd, self.seg_fd, limit, offset_dst=self.seg_size)
                self.seg_size += n
                return n
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                source.kind = "stdin-copy"  # not a real pipe: copy instead (no retry)
        if source.kind == "file":  # re-readable: nothing is lost if the write fails
            data = os.pread(source.fd, limit, self._file_offset())
        else:
            data = source.read(max(limit, source.read_size) if source.kind == "device"
                               else limit)
        if data:
            os.pwrite(self.seg_fd, data, self.seg_size)
            self.seg_size += len(data)
        return len(data)

    def _file_offset(self) -> int:
        entry = self.state["segments"][str(self.seg_index)]
        return entry["source_offset"] + self.seg_size

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
        """Capture until end of input or SIGINT/SIGTERM; convert everything; summarise.

        A full file system raises :class:`DiskFullError` after a clean stop.
        """
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._handle_signal)
        try:
            self.recover(source)
            if self.config.follow and source.kind == "fifo":
                # held open, the FIFO never reads as ended: the next writer is waited for
                self._keeper = os.open(source.name, os.O_WRONLY | os.O_NONBLOCK)
            self.converter.start(lambda: self.seg_index, self.config.flush_seconds)
            if self.upkeep is not None:
                self.upkeep.start()
            with contextlib.suppress(_Stop):
                self._loop(source)
            self._finish(source)
        except OSError as exc:
            if not is_disk_full(exc):
                self._abandon()
                raise
            self._abandon()
            raise disk_full(self.out, exc, "capture stopped cleanly") from None
        except BaseException:
            self._abandon()
            raise
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
                if not (self.config.follow and source.kind == "file"):
                    return  # end of input
                self._follow(source)
            self.converter.check()
            if self._rotation_due(time.time()):
                need = self._need()  # rotate on a record boundary only
                if need == 0 and self.walk_pos == self.seg_size:
                    self._rotate(source)
                limit = need or PUMP_SIZE
            if time.monotonic() >= next_stats:
                self._report_stats(source)
                next_stats = time.monotonic() + self.config.stats_seconds

    def _follow(self, source: Source) -> None:
        """At the end of a followed trail: wait, then go on with what was added, or with
        the new trail when auditd rotated it (the old one read to its end first) or it
        was truncated in place (each starts a segment: a new stream)."""
        self._sleep(FOLLOW_POLL)
        try:
            now = os.stat(source.name)
        except OSError:  # between auditd's rename and the new file (or stdin: no name)
            return
        held = os.fstat(source.fd)
        if (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
            while self._pump(source, PUMP_SIZE):
                pass
            fd = os.open(source.name, os.O_RDONLY)
            os.close(source.fd)
            source.fd = fd
            self._say(f"{source.name} was rotated: following the new trail")
            self._rotate(source, next_offset=0)
        elif now.st_size < self._file_offset():
            self._say(f"{source.name} was truncated: following it from byte 0")
            self._rotate(source, next_offset=0)

    def _sleep(self, seconds: float) -> None:
        """Sleep; SIGINT/SIGTERM end it at once."""
        self._waiting = True
        try:
            if self._stop:
                raise _Stop
            time.sleep(seconds)
        finally:
            self._waiting = False

    def _release_keeper(self) -> None:
        if self._keeper >= 0:
            os.close(self._keeper)
            self._keeper = -1

    def close(self) -> None:
        """Release the capture directory (run() does this when it ends)."""
        writer = self.__dict__.get("writer")
        if writer is not None:
            writer.abort()  # everything worth keeping was committed already
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _abandon(self) -> None:
        """An error ends the run: keep the segments (the truth), drop what is uncommitted."""
        self._release_keeper()
        self.converter.join()
        if self.upkeep is not None:
            self.upkeep.stop(final=False)
        if self.seg_fd >= 0:
            with contextlib.suppress(OSError):
                os.fsync(self.seg_fd)
            os.close(self.seg_fd)
            self.seg_fd = -1
        self.close()

    def _report_stats(self, source: Source) -> None:
        """Say the audit pipe's drop counters, and keep them with the capture: this
        clone's (its counters start at 0) added to the earlier runs' (``pipe_loss`` in
        capture.json, saved with the next state)."""
        stats = source.stats()
        if stats is not None:
            self.summary.drops, self.summary.truncates = stats.drops, stats.truncates
            with self._state_lock:
                if self._loss_base is None:
                    self._loss_base = dict(self.state.get("pipe_loss") or
                                           {"drops": 0, "truncates": 0, "runs": 0})
                base = self._loss_base
                loss = {"drops": base["drops"] + stats.drops,
                        "truncates": base["truncates"] + stats.truncates,
                        "runs": base["runs"] + 1}
                self.state["pipe_loss"] = loss
            self.summary.total_drops = loss["drops"]
            self.summary.total_truncates = loss["truncates"]
            self._say(f"audit pipe: {stats.drops} dropped, {stats.truncates} truncated")

    def _finish(self, source: Source) -> None:
        self._release_keeper()
        if self.seg_fd >= 0:
            os.fsync(self.seg_fd)
            os.close(self.seg_fd)
            self.seg_fd = -1
            if self.seg_size:  # the last segment is closed too (it was never counted)
                self.summary.segments += 1
        self.converter.stop(self.seg_index)
        self._compacted = True  # the stop compacted every partition this run touched
        if self.upkeep is not None:  # the first question after the capture: no derivation
            self.upkeep.stop()
        self.summary.records = self.converter.records
        self.summary.damaged = self.converter.damaged
        self._report_stats(source)
        self.summary.bytes = sum(self.seg_path(i).stat().st_size for i in self._segments()
                                 if self.seg_path(i).exists())
        self._save_state()
        self.close()
