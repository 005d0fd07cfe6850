"""The manifest: which inputs a dataset holds, up to which byte, in which part files.

One JSON document, ``_knox_manifest.json`` at the dataset root (the leading underscore
makes pyarrow, polars and Spark ignore it), replaced atomically on every checkpoint so a
crash leaves either the old or the new manifest, never half of one.  Part files that the
manifest does not list are leftovers of an interrupted run; the writer removes them.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from knox_analytics.errors import InputError

MANIFEST_NAME = "_knox_manifest.json"
MANIFEST_FORMAT = 1


@dataclass
class SourceEntry:
    """One converted trail, identified by content (see :mod:`.fingerprint`)."""

    id: str
    paths: list[str]
    head_len: int
    head_sha: str
    end_offset: int
    tail_sha: str
    records: int = 0
    damaged: int = 0
    conversions: int = 1
    converted_at: str = ""

    @property
    def path(self) -> str:
        """The most recent path the trail was seen under."""
        return self.paths[-1]


@dataclass
class Manifest:
    """Everything the dataset remembers between runs (one serialisable object)."""

    schema_version: int
    sources: list[SourceEntry] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """Serialise (stable key order, one part per line for readable diffs)."""
        doc = {"format": MANIFEST_FORMAT, **asdict(self)}
        return json.dumps(doc, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Manifest:
        """Parse a manifest; a foreign or corrupt file raises :class:`InputError`."""
        try:
            doc = json.loads(text)
            if doc.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {MANIFEST_FORMAT}")
            sources = [SourceEntry(**s) for s in doc["sources"]]
            return cls(doc["schema_version"], sources, list(doc["parts"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{where}: not a knox manifest ({exc})") from exc


def load_manifest(root: Path) -> Manifest | None:
    """The manifest of the dataset at ``root``, or None if there is none."""
    path = root / MANIFEST_NAME
    if not path.exists():
        return None
    return Manifest.from_json(path.read_text(encoding="utf-8"), str(path))


def save_manifest(root: Path, manifest: Manifest) -> None:
    """Write the manifest atomically: temp file in the same directory, fsync, rename."""
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(manifest.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / MANIFEST_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
