"""Derived tables cached next to a dataset: ``ROOT/_knox_cache/<key>/<view>.parquet-cache``.

Some views (process instances, exec attribution, processes) need a pass over every record
with as-of joins; computing them once per dataset version instead of once per query is
what makes ``knox commands`` and ``processes`` fast.  The key hashes everything the
answer depends on: the dataset's committed part files, the SQL text, the uid → name
table.  A conversion changes the part list and so the key; stale keys are removed when a
new one is written.  The leading underscore keeps the cache out of every hive reader.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from knox_analytics.store.manifest import load_manifest

CACHE_DIR = "_knox_cache"


def cache_key(roots: list[Path], *extra: str) -> str | None:
    """Key for derived tables of the datasets at ``roots``; None if one has no manifest."""
    digest = hashlib.sha256()
    for root in roots:
        manifest = load_manifest(root)
        if manifest is None:
            return None
        digest.update(str(root.resolve()).encode())
        digest.update("\n".join(manifest.parts).encode())
    for text in extra:
        digest.update(text.encode())
    return digest.hexdigest()[:20]


def cached_path(root: Path, key: str, view: str) -> Path:
    """Where the cached copy of ``view`` lives (it may not exist yet)."""
    # Not *.parquet: a reader globbing ROOT/**/*.parquet must see only the records.
    return root / CACHE_DIR / key / f"{view}.parquet-cache"


def writable(root: Path) -> bool:
    """Can derived tables be stored beside this dataset?"""
    return os.access(root, os.W_OK)


def prepare(root: Path, key: str) -> Path:
    """Create the key's directory and drop other keys' (stale) directories."""
    base = root / CACHE_DIR
    for old in base.glob("*"):
        if old.name != key and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    (base / key).mkdir(parents=True, exist_ok=True)
    return base / key
