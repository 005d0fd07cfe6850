"""Where derived state lives and how its files are written: the directory (beside the
dataset or in the user's cache), ``state.json``, the lock, the segments.

Every file is written under a fresh name (never through a link:
:mod:`knox_analytics.store.safefs`) and renamed into place, so a reader sees a whole
file or none, and nothing of the user's is overwritten; beside a dataset, every file and
directory is as protected as the dataset.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from knox_analytics.derived.plan import Epoch, State
from knox_analytics.errors import InputError
from knox_analytics.store import safefs
from knox_analytics.store.cache import CACHE_DIR, can_write, user_cache
from knox_analytics.store.safefs import make_dirs, protection_of_dataset

#: The views stored per segment, and the carried state (``<name>.parquet-cache``: no
#: file there ends in ``.parquet``, so a reader globbing the dataset never sees them).
VIEWS = ("process_instances", "execs", "commands", "record_process", "processes")
CARRY = "carry"
#: The column of a segment's ``processes`` rows that says the row continues an instance
#: of an earlier segment (it replaces that segment's row: :func:`build.latest_processes`).
CONTINUED = "_continued"
STATE_NAME = "state.json"
#: 3: epochs cut by time from the first pass on; 4: ``processes`` rows say whether they
#: continue an instance of an earlier segment; 5: ``processes`` has ``machine`` and is
#: sorted by pid (a state of another format is derived again: it is a cache).
STATE_FORMAT = 5
#: Segments no state names any more are removed once this old (a reader may still use them).
STALE_AFTER_S = 600.0


def derived_dir(root: Path, key: str) -> Path | None:
    """Where the derived state of ``root`` lives (created); None if nowhere is writable.
    Beside the dataset it is as protected as the dataset
    (:mod:`knox_analytics.store.safefs`); in this user's cache, private."""
    if can_write(root):
        try:
            beside = make_dirs(root, f"{CACHE_DIR}/derived-{key}", protection_of_dataset(root))
            if os.access(beside, os.W_OK):
                _drop_other_keys(beside)
                return beside
        except (OSError, InputError):
            pass
    mine = user_dir(root, key)
    try:
        mine.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(mine, os.W_OK):
        return None
    _drop_other_keys(mine)
    return mine


def user_dir(root: Path, key: str) -> Path:
    """The user-cache place of the derived state of a dataset this user cannot write."""
    ident = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return user_cache() / f"{root.resolve().name}-{ident}" / f"derived-{key}"


def has_state(root: Path, key: str) -> bool:
    """Is a derived state of ``key`` kept for ``root`` (beside it or in the user cache)?
    Nothing is created."""
    return any((d / STATE_NAME).is_file()
               for d in (root / CACHE_DIR / f"derived-{key}", user_dir(root, key)))


def _drop_other_keys(directory: Path) -> None:
    for other in directory.parent.glob("derived-*"):
        if other != directory and other.is_dir() and older_than(other, STALE_AFTER_S):
            shutil.rmtree(other, ignore_errors=True)


def older_than(path: Path, seconds: float) -> bool:
    """Was ``path`` last modified more than ``seconds`` ago (False if it is gone)?"""
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def load_state(directory: Path, key: str) -> State:
    """The state in ``directory`` (an empty one if absent, unreadable, of another format
    or of another key: derived state is a cache, derived again rather than upgraded)."""
    try:
        doc = json.loads((directory / STATE_NAME).read_text(encoding="utf-8"))
        if doc.get("format") != STATE_FORMAT or doc.get("key") != key:
            return State(key)
        return State(key, [Epoch(**e) for e in doc["epochs"]], doc.get("machines"))
    except (OSError, ValueError, KeyError, TypeError):
        return State(key)


def save_state(directory: Path, state: State) -> None:
    """Replace ``state.json`` atomically (written after every file it names)."""
    doc = {"format": STATE_FORMAT, "key": state.key,
           "epochs": [asdict(e) for e in state.epochs], "machines": state.machines}
    write_atomic(directory / STATE_NAME, json.dumps(doc, indent=1).encode())


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a fresh file beside it, never through a link,
    as protected as its directory), fsynced, renamed into place."""
    safefs.write_atomic(path, data, protection_of_dataset(path.parent))


@contextlib.contextmanager
def locked(directory: Path, wait: bool = True) -> Iterator[bool]:
    """Hold the directory's lock (one process derives or books at a time); with
    ``wait=False`` yield False at once when another process holds it."""
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "r+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def new_segment(directory: Path) -> str:
    """A fresh ``seg-<n>`` directory (mkdir decides between two processes)."""
    n = max((int(p.name[4:]) for p in directory.glob("seg-*") if p.name[4:].isdigit()),
            default=-1) + 1
    while True:
        try:
            (directory / f"seg-{n}").mkdir(mode=0o700)
            safefs.apply_path(directory / f"seg-{n}", protection_of_dataset(directory))
            return f"seg-{n}"
        except FileExistsError:
            n += 1


def view_files(segment: Path, view: str) -> list[Path]:
    """The files of ``view`` in ``segment``: ``<view>.parquet-cache`` (the rows the
    segment's epoch derived, or a merge rewrote) and ``<view>-<n>.parquet-cache`` (files
    a merge took as they were: :data:`.build.LINK_BYTES`)."""
    return [*segment.glob(f"{view}.parquet-cache"),
            *sorted(segment.glob(f"{view}-*.parquet-cache"))]


def segment_size(segment: Path) -> int:
    """Bytes of a segment's files."""
    return sum(f.stat().st_size for f in segment.glob("*.parquet-cache"))


def let_go(directory: Path, before: list[str], state: State) -> None:
    """Mark the segments of ``before`` that ``state`` no longer names as let go now, so
    that :func:`collect` leaves them to running readers for STALE_AFTER_S."""
    now = set(state.segments())
    for segment in before:
        if segment not in now:
            with contextlib.suppress(OSError):
                os.utime(directory / segment)


def collect(directory: Path, state: State) -> None:
    """Remove segments no epoch names once they have been let go for STALE_AFTER_S (a
    reader that loaded an older state may still read them)."""
    live = set(state.segments())
    for seg in directory.glob("seg-*"):
        if seg.name not in live and older_than(seg, STALE_AFTER_S):
            shutil.rmtree(seg, ignore_errors=True)
