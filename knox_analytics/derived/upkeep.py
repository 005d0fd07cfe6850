"""Keep a growing dataset's derived process state up to date, in threads beside capture.

A question derives what was committed since the derived state was last brought up to
date (docs/derived-state.md).  While ``knox capture`` commits every second, that would
be every question: its time would follow the capture's, and the merges that keep the
segments few would land in whichever question came next.  So the capture does that work
itself, in two threads with one DuckDB thread each (the pump, the converter and the
questions keep the rest of the machine):

* the **derive** thread wakes on each commit (many commits while it works count as
  one) and derives the new records' epoch: a question then finds the state up to date,
  or at most one commit behind, and reads it without waiting for the lock;
* the **merge** thread, woken after each derivation, merges segments as a log-structured
  store does.  A merge of the whole state can take seconds; running it beside the
  derivations (a merge is booked only if its segments are still there) means it never
  holds up the state of the newest records.  On Linux it runs at a lower priority
  (nice 10: a thread has its own there), so that questions and the capture's own
  threads come first; on macOS and FreeBSD a nice value is per process, and it is left.

The state kept is the one of the default question settings (``--users`` and
``--tables`` not given); a question with other settings derives a state of its own.
The derived state is a cache: a failure here is reported once and capture goes on.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

#: DuckDB threads of each upkeep thread (capture's own work and the questions keep the rest).
UPKEEP_THREADS = 1


#: Nice value of the merge thread: nobody waits for a merge, while a question may wait
#: for a derivation (so that one keeps the capture's priority).
MERGE_NICE = 10


def lower_priority(nice: int) -> bool:
    """Give the calling thread at least this nice value (never a higher priority), where
    threads have their own (Linux); elsewhere (macOS, FreeBSD: per process) leave it.
    True if it was set."""
    if not sys.platform.startswith("linux"):
        return False
    me = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, me, max(nice, os.getpriority(os.PRIO_PROCESS, me)))
    except OSError:
        return False
    return True


class _Worker:
    """A thread that runs ``job`` whenever it was poked since its last run."""

    def __init__(self, name: str, job: Callable[[], None], nice: int = 0) -> None:
        self._job = job
        self._nice = nice
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        if self._nice:
            lower_priority(self._nice)
        while True:
            self._wake.wait()
            if self._stopping:
                return
            self._wake.clear()
            self._job()

    def stop(self) -> None:
        """Stop after the current run (a run not started yet is dropped)."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()


class DerivedUpkeep:
    """Derives and merges the derived state of the dataset at ``root`` after commits.

    >>> upkeep = DerivedUpkeep(Path("cap/dataset"))   # doctest: +SKIP
    >>> upkeep.start(); upkeep.poke(); upkeep.stop()  # doctest: +SKIP
    """

    def __init__(self, root: Path, on_message: Callable[[str], None] | None = None,
                 update: Callable[[Path], object] | None = None,
                 merge: Callable[[Path], object] | None = None) -> None:
        self.root = Path(root)
        self._say = on_message or (lambda _m: None)
        self._update = update or _update
        self._merge = merge or _merge
        self._deriver = _Worker("knox-derive", self._derive_pass)
        self._merger = _Worker("knox-merge", self._merge_pass, nice=MERGE_NICE)
        self._started = False
        self.passes = 0  # derivation passes run (tests and the benchmark look at it)
        self.merges = 0  # merge passes run
        self.failed: str | None = None  # the first failure, reported once

    def start(self) -> None:
        """Start the threads (they wait for :meth:`poke`)."""
        self._deriver.start()
        self._merger.start()
        self._started = True

    def poke(self) -> None:
        """Something was committed: derive it when the derive thread is free."""
        self._deriver.poke()

    def _derive_pass(self) -> None:
        self.run_once()
        self._merger.poke()

    def _merge_pass(self) -> None:
        self._guarded(self._merge)
        self.merges += 1

    def run_once(self) -> None:
        """Derive what is new, in the caller's thread (capture calls it before a
        compaction); a failure is reported (once), not raised."""
        self._guarded(self._update)
        self.passes += 1

    def _guarded(self, job: Callable[[Path], object]) -> None:
        try:
            job(self.root)
        except Exception as exc:
            if self.failed is None:
                self.failed = f"{type(exc).__name__}: {exc}"
                self._say(f"derived process state not kept up to date ({self.failed}); "
                          "questions derive it themselves")

    def stop(self, final: bool = True) -> None:
        """Stop the threads after their current runs; ``final``: then derive once more,
        so that the first question after the capture finds the state up to date (the
        merging is left to the next upkeep: a question reads a few more segments)."""
        if self._started:
            self._deriver.stop()
            self._merger.stop()
        if final:
            self.run_once()


def _update(root: Path) -> object:
    from knox_analytics.derived.state import DerivedState
    from knox_analytics.store.manifest import MANIFEST_NAME

    if not (root / MANIFEST_NAME).exists():
        return []
    state = DerivedState.of(root, threads=UPKEEP_THREADS)
    state.update(merge=False)
    return [p for parts in state.derived_parts for p in parts]


def _merge(root: Path) -> object:
    from knox_analytics.derived.state import DerivedState
    from knox_analytics.store.manifest import MANIFEST_NAME

    if not (root / MANIFEST_NAME).exists():
        return 0
    return DerivedState.of(root, threads=UPKEEP_THREADS).merge()
