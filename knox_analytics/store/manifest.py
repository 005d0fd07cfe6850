"""The manifest: which inputs a dataset holds, up to which byte, in which part files.

One JSON document, ``_knox_manifest.json`` at the dataset root (the leading underscore
makes pyarrow, polars and Spark ignore it), replaced atomically on every commit so a
crash leaves either the old or the new manifest, never half of one.  It is the commit
point of the protocol in :mod:`.commit`: ``pending`` lists the moves a commit still has
to make visible (a crash between the manifest and the moves is rolled forward by the
next writer), and ``commits`` logs every version: which parts each one added or removed
(``append`` adds records, ``compact`` only rewrites them), for readers that derive state
incrementally.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from knox_analytics.errors import InputError
from knox_analytics.store.commit import fsync_dir
from knox_analytics.store.safefs import PRIVATE, Protection, apply_fd

MANIFEST_NAME = "_knox_manifest.json"
MANIFEST_FORMAT = 3
#: Versions the manifest's commit log keeps.
COMMITS_KEPT = 1000
#: Older manifests this knox reads (and upgrades on the next commit).
READABLE_FORMATS = (1, 2, 3)


@dataclass
class SourceEntry:
    """One converted input, identified by content (see :mod:`.plan`): ``prefix_sha``
    is the SHA-256 of every byte conversion read (``[0, end_offset)``), ``head_sha`` of
    the first ``head_len`` of them (only to rule candidates out cheaply)."""

    id: str
    paths: list[str]
    head_len: int
    head_sha: str
    end_offset: int
    prefix_sha: str = ""
    #: Its occurrence counts (``_knox_ids/inputs/…``, see :mod:`.identity`): a grown
    #: input numbers its repeated records on from them.
    occurrences: str = ""
    records: int = 0
    damaged: int = 0
    conversions: int = 1
    converted_at: str = ""
    #: the damaged byte ranges (offset, length, reason, kind) in the trail (damage_log.py)
    damage: list[dict] = field(default_factory=list)
    #: When conversion read past ``end_offset`` (a record cut at the end, left to be
    #: read whole if the trail grows): the content size read and the SHA-256 of all of
    #: it, so that the same bytes are not read again, nor their damage an error again.
    seen_size: int = 0
    seen_sha: str = ""
    #: The ``--host`` label it was converted with ("" for none): its records without a
    #: header_ex address have that host, so the same bytes under another label are
    #: other records (a copy of one trail labelled for a second machine is read).
    host: str = ""

    @property
    def path(self) -> str:
        """The most recent path the trail was seen under."""
        return self.paths[-1]


@dataclass
class CommitEntry:
    """One version of the dataset: the parts it made visible and those it retired."""

    version: int
    kind: str  # "append" (new records) or "compact" (the same records, fewer files)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    at: str = ""
    #: A compaction's retired parts now live under this directory (relative to the root,
    #: ``_retired/<version>``: outside every hive glob) for a grace period, so a reader of
    #: an older version still opens them (:mod:`.snapshot`).
    retired: str = ""


@dataclass
class Manifest:
    """Everything the dataset remembers between runs (one serialisable object)."""

    schema_version: int
    sources: list[SourceEntry] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    commits: list[CommitEntry] = field(default_factory=list)
    #: The id index of record identity (:mod:`.identity`): files under ``_knox_ids/``.
    id_files: list[str] = field(default_factory=list)
    #: Moves of a commit not yet known to be done: ``{"staged": rel, "final": rel,
    #: "kind": "file"|"exchange", "part": rel}`` (see :mod:`.commit`).
    pending: list[dict[str, str]] = field(default_factory=list)
    #: part -> [first time, last time, records] (ms; times None when no record has one),
    #: recorded at commit: derived state plans its epochs from them without reading parts.
    ranges: dict[str, list[int | None]] = field(default_factory=dict)
    #: The hosts each machine writes under ({"hosts": [...], "labels": [...]} groups,
    #: :mod:`.machines`); None in a dataset written before machines were kept.
    machines: list[dict[str, list[str]]] | None = field(default_factory=list)

    @property
    def version(self) -> int:
        """The number of the latest committed version (0: nothing committed yet)."""
        return self.commits[-1].version if self.commits else 0

    def log_commit(self, kind: str, added: list[str], removed: list[str], at: str) -> None:
        """Append the next version to the log, keeping the last :data:`COMMITS_KEPT`
        (a capture commits every second: the manifest must not grow with every one).
        A reader that derived state at a version older than the log's first entry must
        derive it afresh."""
        self.commits.append(CommitEntry(self.version + 1, kind, added, removed, at))
        del self.commits[:-COMMITS_KEPT]

    def to_json(self) -> str:
        """Serialise (stable key order, one part per line for readable diffs)."""
        doc = {"format": MANIFEST_FORMAT, **asdict(self)}
        return json.dumps(doc, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Manifest:
        """Parse a manifest; a foreign or corrupt file raises :class:`InputError`."""
        try:
            doc = json.loads(text)
            if doc.get("format") not in READABLE_FORMATS:
                raise ValueError(f"format {doc.get('format')!r}, expected {MANIFEST_FORMAT}")
            known = set(SourceEntry.__dataclass_fields__)
            # older formats: their fields this one dropped are left out (such a dataset
            # is refused by its schema version, with its own message)
            sources = [SourceEntry(**{k: v for k, v in s.items() if k in known})
                       for s in doc["sources"]]
            commits = [CommitEntry(**c) for c in doc.get("commits", [])]
            return cls(doc["schema_version"], sources, list(doc["parts"]), commits,
                       list(doc.get("id_files", [])), list(doc.get("pending", [])),
                       dict(doc.get("ranges", {})), doc.get("machines"))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{where}: not a knox manifest ({exc})") from exc


def load_manifest(root: Path) -> Manifest | None:
    """The manifest of the dataset at ``root``, or None if there is none."""
    path = root / MANIFEST_NAME
    if not path.exists():
        return None
    return Manifest.from_json(path.read_text(encoding="utf-8"), str(path))


def save_manifest(root: Path, manifest: Manifest, protection: Protection = PRIVATE) -> None:
    """Write the manifest atomically: temp file in the same directory (mkstemp: O_EXCL,
    never through a link), fsync, rename."""
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=root)
    try:
        apply_fd(fd, protection)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(manifest.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / MANIFEST_NAME)
        fsync_dir(root)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
