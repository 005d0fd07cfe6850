"""Counted nouns in messages, so that one of a thing is never "1 failed records".

Every message that puts a number before a noun goes through :func:`count` (or
:func:`plural` when the number is said elsewhere in the sentence).
"""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``word`` as it reads after the number ``n``: itself for one, else ``many``
    (``word`` + "s" unless given: "process" needs "processes")."""
    return word if n == 1 else (many or word + "s")


def count(n: int, word: str, many: str | None = None) -> str:
    """``n`` (thousands separated) and its noun: "1 failed record", "1,234 failed records"."""
    return f"{n:,} {plural(n, word, many)}"
