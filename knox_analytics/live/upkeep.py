"""Keep a growing dataset's derived process state up to date, in a thread beside capture.

A question derives what was committed since the derived state was last brought up to
date (docs/derived-state.md).  While ``knox capture`` commits every second, that would
be every question: its time would follow the capture's, and the merges that keep the
segments few would land in whichever question came next.  So the capture does that work
itself, after its commits: a thread that wakes on each commit (many commits while it
works count as one), derives the new epoch and merges segments (the log-structured
merge a question never does), with one DuckDB thread so that the pump, the converter
and the questions keep the other core.  A question then finds the state up to date, or
at most one commit behind, and reads it without waiting for the lock.

The state kept is the one of the default question settings (``--users`` and
``--tables`` not given); a question with other settings derives a state of its own.
The derived state is a cache: a failure here is reported once and capture goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

#: DuckDB threads of the upkeep (capture's own work and the questions keep the rest).
UPKEEP_THREADS = 1


class DerivedUpkeep:
    """Brings the derived state of the dataset at ``root`` up to date after commits.

    >>> upkeep = DerivedUpkeep(Path("cap/dataset"))   # doctest: +SKIP
    >>> upkeep.start(); upkeep.poke(); upkeep.stop()  # doctest: +SKIP
    """

    def __init__(self, root: Path, on_message: Callable[[str], None] | None = None,
                 update: Callable[[Path], object] | None = None) -> None:
        self.root = Path(root)
        self._say = on_message or (lambda _m: None)
        self._update = update or _update
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.passes = 0  # passes run (tests and the benchmark look at it)
        self.seconds = 0.0  # time spent in them
        self.failed: str | None = None  # the first failure, reported once

    def start(self) -> None:
        """Start the thread (it waits for :meth:`poke`)."""
        self._thread = threading.Thread(target=self._run, name="knox-derive", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Something was committed: bring the state up to date when the thread is free."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stopping:
                return
            self._wake.clear()
            self.run_once()

    def run_once(self) -> None:
        """One pass, in the caller's thread; a failure is reported (once), not raised."""
        started = time.perf_counter()
        try:
            self._update(self.root)
        except Exception as exc:
            if self.failed is None:
                self.failed = f"{type(exc).__name__}: {exc}"
                self._say(f"derived process state not kept up to date ({self.failed}); "
                          "questions derive it themselves")
        finally:
            self.passes += 1
            self.seconds += time.perf_counter() - started

    def stop(self, final: bool = True) -> None:
        """Stop the thread after its current pass; ``final``: then one last pass, so that
        the first question after the capture finds the state up to date."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if final:
            self.run_once()


def _update(root: Path) -> object:
    from knox_analytics.catalog import update_derived
    from knox_analytics.store.manifest import MANIFEST_NAME

    if not (root / MANIFEST_NAME).exists():
        return []
    return update_derived(root, threads=UPKEEP_THREADS)
