"""The dataset's cache directory, ``ROOT/_knox_cache``: state derived from the records.

Nothing in it is needed to read the dataset; the leading underscore keeps it out of every
hive reader, and no file in it is named ``*.parquet`` (a reader globbing
``ROOT/**/*.parquet`` must see only the records).  ``knox convert --overwrite`` removes
it with the partitions.  What lives there: :mod:`knox_analytics.derived` and DuckDB's
spill directory (``spill/``, one directory per open catalog).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CACHE_DIR = "_knox_cache"
#: DuckDB's spill directory inside a cache.
SPILL = "spill"


def cache_key(*texts: str) -> str:
    """A short key for derived state that depends on ``texts`` (SQL, uid names, ...)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def user_cache() -> Path:
    """``$XDG_CACHE_HOME/knox-analytics`` (``~/.cache/knox-analytics`` by default)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "knox-analytics"


def can_write(root: Path) -> bool:
    """May knox keep its cache inside the dataset ``root``?  Not when it cannot write
    there, nor as root in a dataset another user owns (its owner could redirect root's
    writes through a link): then the cache lives in this user's own cache directory."""
    try:
        if os.geteuid() == 0 and os.lstat(root).st_uid != 0:
            return False
    except OSError:
        return False
    if not os.access(root, os.W_OK):
        return False
    cache = root / CACHE_DIR
    return not cache.exists() or os.access(cache, os.W_OK)


def spill_dir(root: Path | None) -> Path:
    """DuckDB's spill directory for questions on ``root``: in the dataset's cache, or in
    the user's (a dataset this user may not write, trails, several datasets)."""
    if root is not None and can_write(root):
        return root / CACHE_DIR / SPILL
    return user_cache() / SPILL
