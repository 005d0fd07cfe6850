"""One root for every error knox-analytics raises on purpose.

Each error also inherits the builtin it resembles, so callers may catch either
``KnoxError`` or e.g. ``ValueError``.  Messages name the file, the byte offset and what
was expected versus found; the CLI prints them as one line, never a traceback.
"""

from __future__ import annotations


class KnoxError(Exception):
    """Root of all knox-analytics errors."""


class NotBSMError(KnoxError, ValueError):
    """The input holds no BSM record at all (not an audit trail)."""

    def __init__(self, source: str, detail: str = "") -> None:
        self.source, self.detail = source, detail
        msg = f"{source}: not a BSM audit trail"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class DamagedTrailError(KnoxError, ValueError):
    """Raised in strict mode when a trail has damaged byte ranges."""

    def __init__(self, source: str, offset: int, length: int, reason: str) -> None:
        self.source, self.offset, self.length, self.reason = source, offset, length, reason
        super().__init__(f"{source}: damaged at byte {offset} ({length} bytes): {reason}")


class InputError(KnoxError, OSError):
    """An input path cannot be read (missing, unreadable, bad compression)."""


class OutputExistsError(KnoxError, FileExistsError):
    """The output exists and the caller did not ask to overwrite it."""


class UsageError(KnoxError, ValueError):
    """Arguments that do not fit together (bad class expression, bad filter, ...)."""


class NoAnswerError(KnoxError, LookupError):
    """A well-formed question with no answer (no such pid in the data): the CLI says why
    on stderr and exits 0, as an empty table does."""


class OutputError(KnoxError, OSError):
    """The output file cannot be written where it was asked."""


class DiskFullError(KnoxError, OSError):
    """A file system is full: the conversion or capture stopped cleanly, nothing is
    lost (one line naming it, and what to do)."""


class AuditonError(KnoxError, OSError):
    """auditon(2) failed or does not exist here."""


class ProcessListError(KnoxError, OSError):
    """The platform's process list cannot be read here."""


class SqlGenError(KnoxError, RuntimeError):
    """A view uses DuckDB SQL that has no Spark rule (a bug to fix in spark/sqlgen.py)."""
