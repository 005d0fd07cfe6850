"""DuckDB over knox records: a dataset or trail files, with the question views defined.

    >>> with Catalog(["audit-parquet"]) as cat:          # doctest: +SKIP
    ...     cat.query("SELECT command, count(*) FROM commands GROUP BY 1").to_pylist()

The catalog is the :class:`~knox_analytics.engine.Engine` (the DuckDB connection and the
views) over its inputs, with their snapshots and derived state.  Its inputs become one
relation, ``records`` (exactly :data:`knox_analytics.schema.SCHEMA` plus ``date``):
Parquet datasets written by :class:`knox_analytics.store.DatasetWriter` are attached
lazily with ``read_parquet`` (hive partitions), trail files are decoded in memory.
Lookup tables (``audit_events``, ``audit_classes``, ``bsm_errnos``, ``users``) are
registered next to it, then every ``knox_analytics/sql/*.sql`` file runs in name order;
each defines one view (or macro) and starts with a comment stating its question.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pyarrow as pa

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.reader import read_trail
from knox_analytics.derived import DerivedState, Progress, Settings
from knox_analytics.derived.build import segments_sql
from knox_analytics.derived.files import VIEWS
from knox_analytics.engine import Engine, parquet_sql
from knox_analytics.inputs import Given, Inputs, discover
from knox_analytics.schema import SCHEMA
from knox_analytics.store import MANIFEST_NAME, dataset_glob
from knox_analytics.store.cache import spill_dir
from knox_analytics.store.damage_log import damage_table
from knox_analytics.store.machines import names_of
from knox_analytics.store.snapshot import Snapshot

#: Views computed once (as-of joins over every record) and then reused: per catalog, or
#: kept with a dataset as derived state that grows with it (knox_analytics.derived).
MATERIALIZED = VIEWS
#: What shows a derivation's progress: entered around each derivation the catalog runs,
#: it gives the :data:`~knox_analytics.derived.Progress` callback (or None) and is left
#: however the derivation ends (done, an error, Ctrl-C): ``knox``'s bar on a terminal.
ProgressDisplay = Callable[[], AbstractContextManager[Progress | None]]


class Catalog(Engine):
    """An in-memory DuckDB database with the knox views over the given inputs.

    ``inputs``: dataset directories, trail files (.gz/.bz2/.xz too) or directories of
    trails, in any mix, or those inputs discovered already (an
    :class:`~knox_analytics.inputs.Inputs`: then they are not looked at again); none gives
    empty views (the lookup tables still answer).
    ``users``: uid → name for the ``user`` columns — a mapping, or a passwd(5)-format
    file (e.g. a copy of the audited Mac's ``dscl . -list /Users UniqueID`` turned into
    passwd lines); ``"local"`` uses this machine's passwd database.  ``derived``: keep a
    dataset's process views as derived state (docs/derived-state.md); False computes them
    per catalog (the full pass the derived state is held to).  ``memory_limit``
    (DuckDB's, default :data:`knox_analytics.engine.DEFAULT_MEMORY_LIMIT`) and ``spill``
    (its temp directory; default: the dataset's cache, or the user's) bound the memory of
    every question.  ``decoded``:
    records decoded already (rows of the records schema), read with the inputs as
    trails' records are.  ``derive_progress``: what shows the progress of a derivation
    of the process state (:data:`ProgressDisplay`; None, the default: nothing is shown).
    """

    def __init__(self, inputs: Given = (), *,
                 users: Mapping[int, str] | str | Path | None = None,
                 tables: str = "auto", threads: int | None = None, derived: bool = True,
                 memory_limit: str | None = None, spill: Path | None = None,
                 decoded: pa.Table | None = None,
                 derive_progress: ProgressDisplay | None = None) -> None:
        self.damage: list[Damage] = []
        #: the inputs, discovered once (files found in directories sniffed)
        self.inputs: Inputs = discover(inputs, sniff=True)
        datasets, trails = self.inputs.for_catalog()
        # Spill into the dataset's cache when there is one dataset, else the user's.
        super().__init__(users=users, tables=tables, threads=threads,
                         memory_limit=memory_limit, materialized=MATERIALIZED,
                         spill=spill if spill is not None else
                         spill_dir(datasets[0] if len(datasets) == 1 else None))
        self._state: DerivedState | None = None
        self._derive = derived
        self._derive_progress = derive_progress
        self._segments: list[Path] | None = None
        #: the snapshot of each dataset read (the manifest version at open), and when
        #: their parts' places were last resolved
        self._snapshots: list[Snapshot] = []
        self._resolved_at: tuple[int, ...] = ()
        self._trail_sql: str | None = None
        self._attach_records(datasets, trails, decoded)

    @classmethod
    def from_tables(cls, records: pa.Table, **kw: Any) -> Catalog:
        """A catalog over records already decoded (rows of the records schema, e.g. a
        live batch): nothing is written or decoded again.  ``kw`` as for the catalog."""
        return cls(decoded=records, **kw)

    # -- setup --------------------------------------------------------------------
    def _attach_records(self, datasets: list[Path], trails: list[Path],
                        decoded: pa.Table | None) -> None:
        self._snapshots = [Snapshot.take(d) for d in datasets]
        if (self._derive and len(datasets) == 1 and not trails and decoded is None
                and self._snapshots[0].manifest is not None):
            self._state = DerivedState(datasets[0], Settings(
                self._users, self._tables, self._threads, self._memory_limit))
        if trails or decoded is not None:
            self.con.register("_decoded", self._decode(trails, decoded))
            self._trail_sql = "SELECT *, CAST(time AS DATE) AS date FROM _decoded"
        elif not datasets:
            self.con.register("_decoded", SCHEMA.empty_table())
            self._trail_sql = "SELECT *, CAST(time AS DATE) AS date FROM _decoded"
        self._pin_records()
        # every skipped byte range, of the trails decoded now and kept with the datasets
        self._materialize("_damage", damage_table(self.damage, datasets))
        self.con.execute("CREATE OR REPLACE VIEW damage AS SELECT * FROM _damage")

    def _pin_records(self) -> None:
        """Define ``records`` over the snapshot's parts where they are now (a compaction
        since moved them to ``_retired/``); a dataset without a manifest: its glob."""
        # the machines of the snapshots read (knox_analytics/store/machines.py)
        self.machines = names_of(s.manifest for s in self._snapshots)
        sources = []
        paths = [str(s.path(p)) for s in self._snapshots if s.manifest is not None
                 for p in s.parts]
        globs = [dataset_glob(s.root) for s in self._snapshots if s.manifest is None]
        if paths or globs:
            sources.append(parquet_sql(paths + globs))
        if self._trail_sql:
            sources.append(self._trail_sql)
        if not sources:  # datasets whose manifest lists no part
            self.con.register("_decoded", SCHEMA.empty_table())
            sources.append("SELECT *, CAST(time AS DATE) AS date FROM _decoded")
        self.set_records(" UNION ALL BY NAME ".join(sources))
        self._resolved_at = self._manifest_stamps()

    def _manifest_stamps(self) -> tuple[int, ...]:
        stamps = []
        for snap in self._snapshots:
            try:
                stamps.append((snap.root / MANIFEST_NAME).stat().st_mtime_ns)
            except OSError:
                stamps.append(0)
        return tuple(stamps)

    def _before_question(self) -> None:
        """Before a question: if a writer committed since the parts were placed, place
        them again (the same parts: a compaction only moves them).  Past the grace period
        of retired parts (a catalog kept open: ``knox shell``, a notebook) the catalog
        moves on to the dataset's version now, with its derived state."""
        if self._segments and not all(s.is_dir() for s in self._segments):
            self._repin_derived()  # an upkeep merged them, then removed them
        if self._manifest_stamps() == self._resolved_at:
            return
        if not all(s.path(p).exists() for s in self._snapshots for p in s.parts):
            self._snapshots = [Snapshot.take(s.root) for s in self._snapshots]
            self._repin_derived()
        self._pin_records()

    def _decode(self, trails: Sequence[Path], decoded: pa.Table | None) -> pa.Table:
        tables = [] if decoded is None else [decoded]
        for trail in trails:
            for result in read_trail(trail):
                tables.append(result.table)
                self.damage.extend(result.damage)
        return pa.concat_tables(tables) if tables else SCHEMA.empty_table()

    def _materialize_view(self, view: str) -> None:
        segments = self._derived_segments()
        if segments:
            source = segments_sql(view, segments)
        else:
            self.con.execute(f"CREATE OR REPLACE TABLE _cached_{view} AS SELECT * FROM {view}")
            source = f"SELECT * FROM _cached_{view}"
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS {source}")

    @property
    def snapshots(self) -> list[Snapshot]:
        """The snapshot of each dataset the catalog reads (its manifest version and parts
        at open)."""
        return list(self._snapshots)

    # -- derived state --------------------------------------------------------------
    def _derived_segments(self) -> list[Path] | None:
        """The dataset's derived segments, brought up to date once per catalog (None: not
        a dataset, or nowhere to keep them: computed in memory)."""
        if self._state is None:
            return None
        if self._segments is None:
            display = self._derive_progress or (lambda: contextlib.nullcontext(None))
            with display() as progress:  # left on success, error and Ctrl-C alike
                self._segments = self._state.update(progress=progress)
            if self._segments is None:
                self._state = None
        return self._segments

    @property
    def derived_state(self) -> DerivedState | None:
        """The dataset's derived state this catalog reads (None: computed per catalog)."""
        return self._state

    @property
    def derived_parts(self) -> list[list[str]]:
        """The parts each derivation this catalog ran has read."""
        return self._state.derived_parts if self._state is not None else []

    def _repin_derived(self) -> None:
        """Read the derived state anew (the catalog moved to a newer snapshot)."""
        if self._segments is None:
            return
        self._segments = None
        if self._derived_segments():
            stored = [view for f in self._files if f.name in self._defined
                      for view in f.defines if view in MATERIALIZED]
            for view in stored:
                self._materialize_view(view)


