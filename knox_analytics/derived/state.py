"""``DerivedState``: the one public object of derived process state (docs/derived-state.md).

    >>> state = DerivedState(Path("audit-parquet"))     # doctest: +SKIP
    >>> state.update()          # derive what the dataset added; merge segments
    >>> state.segments()        # what a question reads

It reads the dataset's manifest once per call (a snapshot: the parts of that version,
where they are now), plans with :mod:`.plan`, derives and merges with :mod:`.build`, and
books in ``state.json`` with :mod:`.files`.
"""

from __future__ import annotations

import inspect
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from knox_analytics.derived import build, files
from knox_analytics.derived import plan as planner
from knox_analytics.derived.plan import Epoch, State
from knox_analytics.derived.settings import Settings
from knox_analytics.store.cache import CACHE_DIR, cache_key, spill_dir
from knox_analytics.store.machines import names_of
from knox_analytics.store.snapshot import Snapshot

#: ``progress(done_epochs, total_epochs, done_records, total_records)``: called before
#: a derivation's first epoch and after each one, the counts growing to (total, total);
#: records are estimated as the planner estimates them (:func:`.plan.records`).  A
#: callback that takes a keyword ``merging`` is then called before each merge of
#: segments that follows, with the final counts and ``merging``: how many segments are
#: merged (at 28 M records the merges took two minutes).  Not called when there is
#: nothing to derive.  A plain callback: what shows it (the CLI's bar on a terminal)
#: is not this package's business.
Progress = Callable[..., None]


class DerivedState:
    """The derived process state of the dataset at ``root`` for ``settings``."""

    def __init__(self, root: str | Path, settings: Settings | None = None) -> None:
        self.root = Path(root)
        self.settings = settings or Settings()
        self.key = _key(self.settings)
        if self.settings.spill is None:
            self.settings = replace(self.settings, spill=self._spill_dir())
        #: parts each derivation of this object read (tests and benchmarks look at it)
        self.derived_parts: list[list[str]] = []
        #: what each epoch derived by this object held (records, carried rows)
        self.held: list[build.Held] = []
        #: the final progress counts of the latest derivation (what merges report)
        self._counts = (0, 0, 0, 0)

    @classmethod
    def of(cls, root: str | Path, *, users: Mapping[int, str] | str | Path | None = None,
           tables: str = "auto", threads: int | None = None) -> DerivedState:
        """The state a question with these settings reads (``users`` and ``tables`` as
        for :class:`~knox_analytics.catalog.Catalog`)."""
        from knox_analytics.engine import load_users

        return cls(root, Settings(load_users(users), tables, threads))

    # -- the public face -----------------------------------------------------------
    def exists(self) -> bool:
        """Is a state kept for these settings (nothing is created)?"""
        return files.has_state(self.root, self.key)

    def directory(self) -> Path | None:
        """Where the state lives (created); None if nowhere is writable."""
        return files.derived_dir(self.root, self.key)

    def update(self, merge: bool = True, progress: Progress | None = None
               ) -> list[Path] | None:
        """Derive what the dataset added since the state was last brought up to date in
        epochs of bounded size (``progress(done_epochs, total_epochs, done_records,
        total_records)`` before the first and after each: :data:`Progress`), then, if anything
        was derived and ``merge``, merge segments (:meth:`merge`: the one merge policy,
        which every writer runs after its commit).  The segments to read, in time order
        (None: nowhere to keep a state)."""
        directory = self.directory()
        if directory is None:
            return None
        derived = len(self.derived_parts)
        state = self._refresh(directory, progress)
        if merge and len(self.derived_parts) > derived:
            counts = self._counts
            state = self._compact(directory, None if not _hears_merges(progress) else
                                  lambda n: progress(*counts, merging=n))
        files.collect(directory, state)
        return [directory / s for s in state.segments()]

    def merge(self) -> int:
        """Merge segments as the upkeep does, deriving nothing; the segments left."""
        directory = self.directory()
        if directory is None:
            return 0
        return len(self._compact(directory).segments())

    def segments(self) -> list[Path]:
        """The segments as they are (no derivation), in time order."""
        directory = self.directory()
        if directory is None:
            return []
        return [directory / s for s in files.load_state(directory, self.key).segments()]

    def _spill_dir(self) -> Path:
        """DuckDB's spill directory for this dataset: in its cache, or the user's."""
        return spill_dir(self.root)

    # -- deriving ------------------------------------------------------------------
    def _refresh(self, directory: Path, progress: Progress | None) -> State:
        snap = Snapshot.take(self.root)
        state = files.load_state(directory, self.key)
        before = state.parts()
        first, parts = planner.plan(state, snap.stamps(), snap.time_range, snap.compactions())
        if (not parts and first == len(state.epochs)
                and not planner.machines_moved(state.machines, _machines(snap))):
            if state.parts() != before:  # compacted: the same records in other parts
                self._save_if_free(directory, state)
            return state
        with files.locked(directory):  # one process at a time; the others then see it
            snap = Snapshot.take(self.root)
            state = files.load_state(directory, self.key)
            old = state.segments()
            first, parts = planner.plan(state, snap.stamps(), snap.time_range,
                                        snap.compactions())
            machines = _machines(snap)
            if state.epochs and planner.machines_moved(state.machines, machines):
                first, parts = planner.plan(State(self.key), snap.stamps(), snap.time_range,
                                            snap.compactions())
            state.machines = machines
            kept = state.epochs[:first]
            if parts:
                after = planner.last_time(kept)
                pieces = planner.cut(parts, snap.time_range, after)
                carry = [directory / s / f"{files.CARRY}.parquet-cache"
                         for e in kept for s in e.segments]
                stamps = snap.stamps()
                sizes = planner.records(pieces, snap.time_range)
                total = sum(sizes)
                self._counts = (len(pieces), len(pieces), total, total)
                if progress is not None:
                    progress(0, len(pieces), 0, total)
                new: list[Epoch] = []
                for n, (read, tmin, tmax) in enumerate(pieces):
                    segment = files.new_segment(directory)
                    last = n == len(pieces) - 1
                    self.held.append(build.derive_epoch(
                        self.settings, machines, [snap.path(p) for p in read], carry,
                        directory / segment, tmin, tmax, untimed=last))
                    carry.append(directory / segment / f"{files.CARRY}.parquet-cache")
                    new.append(Epoch(read, [stamps[p] for p in read], tmin, tmax, [segment]))
                    if progress is not None:
                        progress(n + 1, len(pieces), sum(sizes[:n + 1]), total)
                state.epochs = [*kept, *new]
                self.derived_parts.append(parts)
            else:  # parts vanished and nothing replaced them
                state.epochs = kept
            files.save_state(directory, state)
            files.let_go(directory, old, state)
        return state

    def _save_if_free(self, directory: Path, state: State) -> None:
        """Save a relabelled state unless another process holds the lock (it will)."""
        with files.locked(directory, wait=False) as held:
            if held and files.load_state(directory, self.key).segments() == state.segments():
                files.save_state(directory, state)

    # -- merging -------------------------------------------------------------------
    def _compact(self, directory: Path, merging: Callable[[int], None] | None = None
                 ) -> State:
        from knox_analytics.engine import Engine

        def merge(segments: list[Path], out: Path) -> None:
            with Engine(threads=self.settings.threads,
                        memory_limit=self.settings.memory_limit,
                        spill=self.settings.spill) as cat:
                build.merge_segments(cat.con, segments, out)

        return compact(directory, self.key, merge, merging)


def _hears_merges(progress: Progress | None) -> bool:
    """Does ``progress`` take the keyword ``merging`` (a 4-argument one still works)?"""
    if progress is None:
        return False
    try:
        params = inspect.signature(progress).parameters.values()
    except (TypeError, ValueError):  # no signature to read: told nothing more
        return False
    return any(p.name == "merging" or p.kind is p.VAR_KEYWORD for p in params)


def after_commit(root: str | Path, derive: bool | None = None,
                 progress: Progress | None = None) -> float:
    """The rule every writer (``knox convert``, ``--jobs``, Spark) runs after its commit:
    extend the dataset's state by the new records and merge segments.  ``derive`` None:
    only when the dataset already keeps a state (a process question was asked of it);
    a first derivation is left to the first process question.  False: nothing.  The
    seconds it took (0.0 when it did nothing).  ``progress``: as for
    :meth:`DerivedState.update`."""
    if derive is False:
        return 0.0
    state = DerivedState.of(root)
    if derive is None and not state.exists():
        return 0.0
    started = time.perf_counter()
    state.update(progress=progress)
    return time.perf_counter() - started


def compact(directory: Path, key: str, merge: Callable[[list[Path], Path], None],
            merging: Callable[[int], None] | None = None) -> State:
    """Merge segments as :func:`~knox_analytics.derived.plan.merge_plan` says until it
    says none (``merge(segments, out)`` writes one segment of their rows; ``merging(n)``
    is told before each merge of n segments); the state after.

    The newest epoch is left alone.  A merge runs without the lock (segments never
    change once written); the state takes the merged segment only if the merged ones are
    still there, consecutive, when the lock is taken again."""
    while True:
        state = files.load_state(directory, key)
        # not the newest epoch: the next derivation may start there again (its last
        # millisecond may go on in the next part, or a late record reach into it)
        names = [s for e in state.epochs[:-1] for s in e.segments]
        lo, hi = planner.merge_plan([files.segment_size(directory / s) for s in names])
        if hi - lo < 2:
            return state
        group = names[lo:hi]
        segment = files.new_segment(directory)
        if merging is not None:
            merging(len(group))
        merge([directory / s for s in group], directory / segment)
        with files.locked(directory):
            state = files.load_state(directory, key)
            names = state.segments()
            if not planner.replace_segments(state, group, segment):
                shutil.rmtree(directory / segment, ignore_errors=True)
                return state
            files.save_state(directory, state)
            files.let_go(directory, names, state)


def _machines(snap: Snapshot) -> dict[str, str] | None:
    """The machine of each host of the snapshot (:mod:`knox_analytics.store.machines`)."""
    return names_of([snap.manifest])


def _key(settings: Settings) -> str:
    """What the rows depend on besides the records: the SQL, uid names, lookup tables."""
    from knox_analytics.engine import sql_files
    from knox_analytics.schema import SCHEMA

    users = ",".join(f"{k}={v}" for k, v in sorted(settings.users.items()))
    return cache_key(*(f.text for f in sql_files()), build.derived_sql("carry_out"),
                     build.derived_sql("carry_pids"), users, settings.tables, str(SCHEMA))


__all__ = ["CACHE_DIR", "DerivedState", "Progress", "Settings", "after_commit"]
