"""Questions on raw trails go through a dataset in the user's cache.

``knox summary /var/audit`` or ``knox commands a.bsm b.bsm`` convert the trails once, as
``knox convert`` would (same records, counted once: record identity), into a dataset under
``$XDG_CACHE_HOME/knox/raw/<key>`` (``~/.cache/knox/raw``; ``KNOX_CACHE_DIR`` moves it),
and ask it.  The key is a hash of the trails' contents and of the paths they were given
under (the records' ``source`` column names them), so the next question on the same
inputs reuses the dataset and its derived process state, and a trail that changed is
converted anew.  Memory stays that of ``knox convert`` and of a question on
a dataset, whatever the trails' size, where decoding them in memory grew with them.

The cache is bounded: after a new entry is written, the least recently used entries are
removed until the whole cache is at most :data:`DEFAULT_LIMIT` bytes (``KNOX_RAW_CACHE_LIMIT``,
e.g. ``20G``; ``0`` turns the cache off: trails are then decoded in memory, as before).
The entry just used is never removed.  A trail's content hash is remembered by its path,
device, inode, size and modification time, so a warm question reads no trail byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from knox_analytics.bsm.damage import Damage
from knox_analytics.errors import UsageError
from knox_analytics.schema import SCHEMA_VERSION

#: Bytes the raw-trail cache may hold (all entries, derived state included).
DEFAULT_LIMIT = 10 << 30
ENV_DIR = "KNOX_CACHE_DIR"
ENV_LIMIT = "KNOX_RAW_CACHE_LIMIT"
#: Written into an entry once it is complete; its modification time is the entry's last
#: use.  The leading underscore keeps it out of every hive reader.
ENTRY_FILE = "_knox_raw.json"
DIGESTS_FILE = "digests.json"
#: Bumped when the decoder's output for the same bytes may change.
ENTRY_FORMAT = 1
#: An unfinished entry older than this was left by a process that died.
STALE_BUILD_SECONDS = 24 * 3600


@dataclass
class RawDataset:
    """The cached dataset of some trails, and the damage their conversion skipped."""

    path: Path
    damage: list[Damage] = field(default_factory=list)
    reused: bool = False


def cache_dir() -> Path:
    """Where raw-trail datasets are kept: ``$KNOX_CACHE_DIR/raw``, else
    ``$XDG_CACHE_HOME/knox/raw``, else ``~/.cache/knox/raw``."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]) / "raw"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "knox" / "raw"


def cache_limit() -> int:
    """The cache's size bound in bytes (``KNOX_RAW_CACHE_LIMIT``: bytes, or with a K, M,
    G or T suffix); 0: no cache."""
    text = os.environ.get(ENV_LIMIT, "").strip()
    if not text:
        return DEFAULT_LIMIT
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    scale = units.get(text[-1].upper(), 1)
    number = text[:-1] if text[-1].upper() in units else text
    try:
        value = int(float(number) * scale)
    except ValueError:
        raise UsageError(f"{ENV_LIMIT}={text!r}: expected bytes, e.g. 10G or 0 "
                         "(no cache)") from None
    if value < 0:
        raise UsageError(f"{ENV_LIMIT}={text!r}: expected 0 or more bytes")
    return value


def is_raw_entry(root: Path) -> bool:
    """Is ``root`` a dataset of this cache (its damage is reported from the entry)?"""
    return (Path(root) / ENTRY_FILE).is_file()


def raw_dataset(trails: Sequence[Path], *, root: Path | None = None,
                limit: int | None = None,
                announce: Callable[[Path], None] | None = None,
                on_bytes: Callable[[int], None] | None = None) -> RawDataset:
    """The dataset holding ``trails`` (files, in any order), converted now or reused;
    ``announce(entry)`` is called before a conversion (a terminal says what it waits for),
    ``on_bytes(n)`` as it reads (a progress bar)."""
    from knox_analytics.convert import convert

    root = Path(root) if root is not None else cache_dir()
    limit = cache_limit() if limit is None else limit
    # The entries hold other users' records when root asks: only this user reads them.
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    digests = _Digests(root / DIGESTS_FILE)
    by_path = {str(t): digests.of(Path(t)) for t in trails}
    digests.save()
    key = _key(sorted(f"{d} {p}" for p, d in by_path.items()))
    entry = root / key
    with contextlib.suppress(FileNotFoundError):  # (an eviction may remove it meanwhile)
        os.utime(entry / ENTRY_FILE)
        return RawDataset(entry, _damage(entry, by_path), reused=True)
    if announce is not None:
        announce(entry)
    building = root / f".building-{key}-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        summary = convert([str(t) for t in trails], building, derive=False,
                          on_bytes=on_bytes)
        doc = {"format": ENTRY_FORMAT,
               "inputs": [{"digest": d, "path": p} for p, d in by_path.items()],
               "damage": [asdict(x) for x in summary.damage]}
        (building / ENTRY_FILE).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        try:
            os.rename(building, entry)
        except OSError:  # another knox finished the same entry first: use theirs
            if not (entry / ENTRY_FILE).is_file():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    evict(root, limit, keep=entry)
    return RawDataset(entry, _damage(entry, by_path))


def evict(root: Path, limit: int, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used entries until the cache holds at most ``limit``
    bytes (``keep`` stays); also unfinished entries left by a process that died.
    Returns the entries removed."""
    now = time.time()
    for stale in root.glob(".building-*"):
        with contextlib.suppress(OSError):
            if now - stale.stat().st_mtime > STALE_BUILD_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
    entries = []
    for entry in root.iterdir():
        marker = entry / ENTRY_FILE
        with contextlib.suppress(OSError):
            entries.append((marker.stat().st_mtime, entry, _size(entry)))
    total = sum(size for _, _, size in entries)
    removed = []
    for _, entry, size in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        if keep is not None and entry == keep:
            continue
        # the marker goes first: a half-removed entry is never taken for a whole one
        (entry / ENTRY_FILE).unlink(missing_ok=True)
        shutil.rmtree(entry, ignore_errors=True)
        total -= size
        removed.append(entry)
    return removed


def _size(directory: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _key(digests: list[str]) -> str:
    text = "\n".join([f"format {ENTRY_FORMAT} schema {SCHEMA_VERSION}", *digests])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _damage(entry: Path, by_path: dict[str, str]) -> list[Damage]:
    """The entry's damage, named by the paths the trails were given under this time."""
    doc = json.loads((entry / ENTRY_FILE).read_text(encoding="utf-8"))
    now = {d: p for p, d in by_path.items()}
    then = {item["path"]: now.get(item["digest"], item["path"]) for item in doc["inputs"]}
    return [Damage(**{**d, "source": then.get(d["source"], d["source"])})
            for d in doc["damage"]]


class _Digests:
    """Content hashes of trails, remembered by path and stat (one JSON file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.known: dict[str, list] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.known = {}
        self.changed = False

    def of(self, trail: Path) -> str:
        st = trail.stat()
        real = os.path.realpath(trail)
        stamp = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]
        known = self.known.get(real)
        if known is not None and known[:4] == stamp:
            return known[4]
        digest = hashlib.sha256()
        with open(trail, "rb") as fh:
            while chunk := fh.read(4 << 20):
                digest.update(chunk)
        self.known[real] = [*stamp, digest.hexdigest()]
        self.changed = True
        return digest.hexdigest()

    def save(self) -> None:
        if not self.changed:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.known), encoding="utf-8")
        os.replace(tmp, self.path)
