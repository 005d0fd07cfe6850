"""Filter values that can match nothing knox knows are usage errors, not empty answers.

The exit-code rule (README): an event name not in the event table, a user name when no
``--users`` file was given or one that file does not name, is exit 2 with a did-you-mean
or the option to add; a value that is known but absent from the data is an empty answer
(exit 0, the reason on stderr).  Class expressions are checked where they are parsed
(:mod:`knox_analytics.bsm.classes`).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from knox_analytics.errors import UsageError

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog
    from knox_analytics.questions import Filters


def check_filters(cat: Catalog, filters: Filters) -> None:
    """Raise :class:`UsageError` for a ``--user`` or ``--event`` value nothing can match."""
    if filters.user and not filters.user.isdigit():
        check_user(cat, filters.user)
    if filters.events:
        check_events(cat, filters.events)


def check_user(cat: Catalog, name: str) -> None:
    """A user name must be one the catalog's uid → name table knows."""
    names = [r[0] for r in cat.sql("SELECT name FROM users ORDER BY uid").fetchall()]
    if name in names:
        return
    if len(names) <= 1:  # only root is named without --users
        raise UsageError(f"--user {name}: user names are known only from --users FILE (the "
                         "passwd file of the machine that wrote the trail); add it, or "
                         "give a uid")
    raise UsageError(f"--user {name}: no such user in --users{_did_you_mean(name, names)}"
                     " (or give a uid)")


def check_events(cat: Catalog, given: tuple[str, ...]) -> None:
    """Each ``--event`` name must name an event of the table (numbers may be any); the
    names are resolved as the filter resolves them (:func:`.questions.resolve_events`)."""
    from knox_analytics.questions import event_numbers, resolve_events

    known = event_numbers(cat)
    for value in (p.strip() for item in given for p in item.split(",")):
        if not value or value.isdigit() or resolve_events((value,), known):
            continue
        upper = {n.upper(): n for n in known}
        name = value.upper() if value.upper().startswith("AUE_") else "AUE_" + value.upper()
        hint = _did_you_mean(name, list(upper), shown=upper)
        raise UsageError(f"--event {value}: no such audit event{hint} (knox events "
                         "--list shows them)")


def _did_you_mean(word: str, choices: list[str], shown: dict[str, str] | None = None
                  ) -> str:
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    if not close:
        return ""
    names = [shown[c] if shown else c for c in close]
    return f"; did you mean {' or '.join(names)}?"
