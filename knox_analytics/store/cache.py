"""The dataset's cache directory, ``ROOT/_knox_cache``: state derived from the records.

Nothing in it is needed to read the dataset; the leading underscore keeps it out of every
hive reader, and no file in it is named ``*.parquet`` (a reader globbing
``ROOT/**/*.parquet`` must see only the records).  ``knox convert --overwrite`` removes
it with the partitions.  What lives there: :mod:`knox_analytics.derived` and DuckDB's
spill directory (``spill/``, one directory per open catalog).
"""

from __future__ import annotations

import hashlib

CACHE_DIR = "_knox_cache"


def cache_key(*texts: str) -> str:
    """A short key for derived state that depends on ``texts`` (SQL, uid names, ...)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]
