"""DuckDB over knox records: a dataset or trail files, with the question views defined.

    >>> with Catalog(["audit-parquet"]) as cat:          # doctest: +SKIP
    ...     cat.query("SELECT command, count(*) FROM commands GROUP BY 1").to_pylist()

The catalog is the only holder of the DuckDB connection.  Its inputs become one relation,
``records`` (exactly :data:`knox_analytics.schema.SCHEMA` plus ``date``): Parquet datasets
written by :class:`knox_analytics.store.DatasetWriter` are attached lazily with
``read_parquet`` (hive partitions), trail files are decoded in memory.  Lookup tables
(``audit_events``, ``audit_classes``, ``bsm_errnos``, ``users``) are registered next to
it, then every ``knox_analytics/sql/*.sql`` file runs in name order; each defines one
view (or macro) and starts with a comment stating its question.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.reader import read_trail
from knox_analytics.derived import DerivedState, Settings
from knox_analytics.derived.build import segments_sql, sql_str
from knox_analytics.derived.files import VIEWS, spill_dir
from knox_analytics.errors import UsageError
from knox_analytics.inputs import Given, Inputs, discover
from knox_analytics.interrupt import is_interrupt, watch
from knox_analytics.schema import SCHEMA
from knox_analytics.store import MANIFEST_NAME, dataset_glob
from knox_analytics.store.damage_log import damage_table
from knox_analytics.store.snapshot import Snapshot
from knox_analytics.userdb import read_id_file

#: uid → name known everywhere; more come from ``users=`` (a passwd file or a mapping).
DEFAULT_USERS = {0: "root"}
#: Views computed once (as-of joins over every record) and then reused: per catalog, or
#: kept with a dataset as derived state that grows with it (knox_analytics.derived).
MATERIALIZED = VIEWS
#: DuckDB's memory limit on every catalog connection (it spills to disk beyond it):
#: knox's own memory stays bounded at any dataset size.  ``KNOX_MEMORY_LIMIT`` overrides.
DEFAULT_MEMORY_LIMIT = "512MB"


class Catalog:
    """An in-memory DuckDB database with the knox views over the given inputs.

    ``inputs``: dataset directories, trail files (.gz/.bz2/.xz too) or directories of
    trails, in any mix, or those inputs discovered already (an
    :class:`~knox_analytics.inputs.Inputs`: then they are not looked at again); none gives
    empty views (the lookup tables still answer).
    ``users``: uid → name for the ``user`` columns — a mapping, or a passwd(5)-format
    file (e.g. a copy of the audited Mac's ``dscl . -list /Users UniqueID`` turned into
    passwd lines); ``"local"`` uses this machine's passwd database.  ``derived``: keep a
    dataset's process views as derived state (docs/derived-state.md); False computes them
    per catalog (the full pass the derived state is held to).  ``memory_limit`` (DuckDB's,
    default :data:`DEFAULT_MEMORY_LIMIT`) and ``spill`` (its temp directory; default: the
    dataset's cache, or the user's) bound the memory of every question.  ``decoded``:
    records decoded already (rows of the records schema), read with the inputs as
    trails' records are.
    """

    def __init__(self, inputs: Given = (), *,
                 users: Mapping[int, str] | str | Path | None = None,
                 tables: str = "auto", threads: int | None = None, derived: bool = True,
                 memory_limit: str | None = None, spill: Path | None = None,
                 decoded: pa.Table | None = None) -> None:
        self.con = duckdb.connect(":memory:")
        watch(self.con)  # Ctrl-C stops its statement at once (knox_analytics.interrupt)
        # Audit times are UTC; do not let the host's zone leak into results.
        self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.damage: list[Damage] = []
        #: the inputs, discovered once (files found in directories sniffed)
        self.inputs: Inputs = discover(inputs, sniff=True)
        self._users = load_users(users)
        self._tables = tables
        self._threads = threads
        self._memory_limit = (memory_limit or os.environ.get("KNOX_MEMORY_LIMIT")
                              or DEFAULT_MEMORY_LIMIT)
        self._files = sql_files()
        self._defined: set[str] = set()
        self._state: DerivedState | None = None
        self._derive = derived
        self._segments: list[Path] | None = None
        #: view -> the query that replaces it once its file has run (an epoch's carry)
        self._overrides: dict[str, str] = {}
        #: the snapshot of each dataset read (the manifest version at open), and when
        #: their parts' places were last resolved
        self._snapshots: list[Snapshot] = []
        self._resolved_at: tuple[int, ...] = ()
        self._trail_sql: str | None = None
        self._spill: Path | None = None
        self._register_lookups(self._users, tables)
        self._attach_records(self.inputs, decoded)
        self._limit_memory(spill)

    @classmethod
    def from_tables(cls, records: pa.Table, **kw: Any) -> Catalog:
        """A catalog over records already decoded (rows of the records schema, e.g. a
        live batch): nothing is written or decoded again.  ``kw`` as for the catalog."""
        return cls(decoded=records, **kw)

    # -- setup --------------------------------------------------------------------
    def _register_lookups(self, users: Mapping[int, str], tables: str) -> None:
        for name, table in lookup_tables(tables).items():
            self._materialize(name, table)
        self._materialize("users", pa.table({
            "uid": pa.array(list(users), pa.uint32()),
            "name": pa.array(list(users.values()), pa.string())}))

    def _materialize(self, name: str, table: pa.Table) -> None:
        self.con.register(f"_arrow_{name}", table)
        self.con.execute(f"CREATE TABLE {name} AS SELECT * FROM _arrow_{name}")
        self.con.unregister(f"_arrow_{name}")

    def _attach_records(self, inputs: Inputs, decoded: pa.Table | None) -> None:
        datasets, trails = inputs.for_catalog()
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

    def _keep_snapshot(self) -> None:
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

    def set_records(self, source: str) -> None:
        """Define ``records`` as the rows of the query ``source`` (with the hive keys)."""
        # In a dataset the hive key `host` is the header address or the --host label; give
        # decoded trails the same meaning so that both kinds of input read alike.
        self.con.execute(
            "CREATE OR REPLACE VIEW records AS SELECT * REPLACE "
            f"(COALESCE(host, 'unknown') AS host) FROM ({source})")

    def override(self, view: str, query: str) -> None:
        """Replace ``view`` by ``query`` once its file has run (an epoch's carry)."""
        self._overrides[view] = query

    def _limit_memory(self, spill: Path | None) -> None:
        """DuckDB's memory limit, and a spill directory of this catalog's own (removed at
        close) inside the dataset's cache, or the user's cache."""
        if spill is None:
            roots = [s.root for s in self._snapshots]
            spill = spill_dir(roots[0] if len(roots) == 1 else None)
        try:
            spill.mkdir(parents=True, exist_ok=True)
            _drop_dead_spills(spill)
            self._spill = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=spill))
        except OSError:
            self._spill = None  # nowhere to spill: the limit alone
        self.con.execute(f"SET memory_limit = {sql_str(self._memory_limit)}")
        if self._spill is not None:
            self.con.execute(f"SET temp_directory = {sql_str(str(self._spill))}")

    def _decode(self, trails: Sequence[Path], decoded: pa.Table | None) -> pa.Table:
        tables = [] if decoded is None else [decoded]
        for trail in trails:
            for result in read_trail(trail):
                tables.append(result.table)
                self.damage.extend(result.damage)
        return pa.concat_tables(tables) if tables else SCHEMA.empty_table()

    def define(self, names: Iterable[str] | None = None) -> None:
        """Define the views (and macros) ``names`` need, or all of them.

        Views are defined on first use, not at open: binding every view costs more than
        most questions.  The views in :data:`MATERIALIZED` are computed once: for a
        dataset, kept as derived state that only new records add to (see
        :mod:`knox_analytics.store.derived`); per catalog otherwise.
        """
        asked = None if names is None else set(names)
        wanted = _closure(self._files, asked)
        # With derived segments, a materialised view is read from them: its SQL (and the
        # views only it needs) need not be bound, which costs more than small questions.
        stored = {f.name for f in self._files if f.defines and set(f.defines) <= set(MATERIALIZED)}
        if stored & wanted - self._defined and self._derived_segments():
            wanted = _closure(self._files, asked, stored)
        for sql_file in self._files:
            if sql_file.name in self._defined or sql_file.name not in wanted:
                continue
            if sql_file.name in stored and self._segments:
                for view in sql_file.defines:
                    self._materialize_view(view)
                self._defined.add(sql_file.name)
                continue
            try:
                self.con.execute(sql_file.text)
            except duckdb.Error as exc:  # a bug in our SQL, not in the user's input
                _stop_if_interrupted(exc)
                raise RuntimeError(f"knox_analytics/sql/{sql_file.name}: {exc}") from exc
            self._defined.add(sql_file.name)
            for view in sql_file.defines:
                if view in self._overrides:
                    self.con.execute(f"CREATE OR REPLACE VIEW {view} AS "
                                     f"{self._overrides[view]}")
                if view in MATERIALIZED:
                    self._materialize_view(view)

    def _materialize_view(self, view: str) -> None:
        segments = self._derived_segments()
        if segments:
            source = segments_sql(view, segments)
        else:
            self.con.execute(f"CREATE OR REPLACE TABLE _cached_{view} AS SELECT * FROM {view}")
            source = f"SELECT * FROM _cached_{view}"
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS {source}")

    # -- derived state --------------------------------------------------------------
    def _derived_segments(self) -> list[Path] | None:
        """The dataset's derived segments, brought up to date once per catalog (None: not
        a dataset, or nowhere to keep them: computed in memory)."""
        if self._state is None:
            return None
        if self._segments is None:
            self._segments = self._state.update()
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

    # -- use ----------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyRelation:
        """A lazy DuckDB relation for ``query`` (UsageError on bad SQL)."""
        self._keep_snapshot()
        self.define(_WORD.findall(query))
        try:
            return self._run(query, params)
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None
        except duckdb.CatalogException as exc:
            # A misspelt view: define them all, so DuckDB's "Did you mean" names the view
            # that was meant rather than one of those defined so far.
            self.define()
            try:
                return self._run(query, params)
            except duckdb.Error as again:
                raise UsageError(f"SQL: {_first_line(again)}") from exc
        except duckdb.Error as exc:
            raise UsageError(f"SQL: {_first_line(exc)}") from exc

    def _run(self, query: str, params: Sequence[Any] | None) -> duckdb.DuckDBPyRelation:
        return self.con.sql(query, params=list(params)) if params else self.con.sql(query)

    def query(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run ``query`` and return the whole result as an Arrow table."""
        try:
            return self.sql(query, params).to_arrow_table()
        except duckdb.Error as exc:
            _stop_if_interrupted(exc)
            raise UsageError(f"SQL: {_first_line(exc)}") from exc

    def stream(self, query: str, params: Sequence[Any] | None = None,
               batch_rows: int = 65_536) -> pa.RecordBatchReader:
        """Run ``query`` and stream the result as Arrow record batches."""
        try:
            return self.sql(query, params).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            _stop_if_interrupted(exc)
            raise UsageError(f"SQL: {_first_line(exc)}") from exc

    def views(self) -> list[str]:
        """Names of the views the catalog defines (records included)."""
        self.define()
        rows = self.con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                            "ORDER BY view_name").fetchall()
        return [r[0] for r in rows if not r[0].startswith("_")]

    def close(self) -> None:
        """Close the DuckDB connection (and remove its spill directory)."""
        self.con.close()
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _drop_dead_spills(spill: Path) -> None:
    """Remove the spill directories of catalogs whose process is gone (killed before
    its close removed them): they are named ``<pid>-<random>``."""
    for old in spill.iterdir():
        pid = old.name.split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except PermissionError:
            continue  # alive, someone else's


# -- lookups ------------------------------------------------------------------------
def lookup_tables(source: str = "auto") -> dict[str, pa.Table]:
    """audit_events, audit_classes and bsm_errnos as Arrow tables."""
    from knox_analytics.bsm.tables import load_tables

    t = load_tables(source)
    numbers = [i for i, name in enumerate(t.events.names) if name is not None]
    events = pa.table({
        "event": pa.array(numbers, pa.uint16()),
        "name": [t.events.names[i] for i in numbers],
        "description": [t.events.descriptions[i] for i in numbers],
        "classes": [t.events.class_strings[i] for i in numbers],
        "mask": pa.array([int(t.events.masks[i]) for i in numbers], pa.uint32()),
    })
    classes = pa.table({
        "class": list(t.classes.codes),
        "mask": pa.array(list(t.classes.masks), pa.uint32()),
        "description": list(t.classes.descriptions),
    })
    errnos = [i for i, name in enumerate(t.errnos.names) if name is not None]
    errno = pa.table({
        "errno": pa.array(errnos, pa.uint8()),
        "name": [t.errnos.names[i] for i in errnos],
        "text": [t.errnos.texts[i] or None for i in errnos],
    })
    return {"audit_events": events, "audit_classes": classes, "bsm_errnos": errno}


def load_users(users: Mapping[int, str] | str | Path | None) -> dict[int, str]:
    """uid → name: the defaults plus a mapping, a passwd file, or ``"local"``."""
    out = dict(DEFAULT_USERS)
    if users is None:
        return out
    if isinstance(users, Mapping):
        out.update({int(k): str(v) for k, v in users.items()})
    elif str(users) == "local":
        out.update({p.pw_uid: p.pw_name for p in pwd.getpwall()})
    else:
        out.update(read_id_file(Path(users)))
    return out


# -- SQL files ----------------------------------------------------------------------
@dataclass(frozen=True)
class SqlFile:
    """One ``knox_analytics/sql/*.sql`` file: what it defines and which names it uses."""

    name: str
    text: str
    defines: tuple[str, ...]
    uses: frozenset[str]


_DEFINES = re.compile(r"CREATE\s+OR\s+REPLACE\s+(?:VIEW|MACRO)\s+(\w+)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def sql_files() -> list[SqlFile]:
    """Every view definition file, in the order they must run (by name)."""
    root = resources.files("knox_analytics") / "sql"
    names = sorted(p.name for p in root.iterdir() if p.name.endswith(".sql"))
    out = []
    for name in names:
        text = (root / name).read_text(encoding="utf-8")
        code = "\n".join(line.split("--")[0] for line in text.splitlines())
        out.append(SqlFile(name, text, tuple(_DEFINES.findall(code)),
                           frozenset(_WORD.findall(code))))
    return out


def _closure(files: Sequence[SqlFile], names: set[str] | None,
             leaves: Collection[str] = ()) -> set[str]:
    """File names needed to define ``names`` (None: every file); the files in ``leaves``
    are defined without the views they use."""
    if names is None:
        return {f.name for f in files}
    by_view = {view: f for f in files for view in f.defines}
    needed: set[str] = set()
    todo = [by_view[n] for n in names if n in by_view]
    while todo:
        f = todo.pop()
        if f.name in needed:
            continue
        needed.add(f.name)
        if f.name in leaves:
            continue
        todo.extend(by_view[n] for n in f.uses if n in by_view and n not in f.defines)
    return needed


def parquet_sql(paths: Sequence[str]) -> str:
    """Records from Parquet files or globs, with the hive keys (host, date)."""
    files = ", ".join(sql_str(p) for p in paths)
    return (f"SELECT * FROM read_parquet([{files}], hive_partitioning = true, "
            "union_by_name = true)")


def _stop_if_interrupted(exc: BaseException) -> None:
    """A statement Ctrl-C stopped is an interrupt, not bad SQL nor a bug of ours."""
    if is_interrupt(exc):
        raise KeyboardInterrupt from None


def _first_line(exc: BaseException) -> str:
    """DuckDB's message in one line, keeping its hint ("Did you mean ...?")."""
    lines = [x.strip() for x in str(exc).strip().splitlines() if x.strip()]
    if not lines:
        return type(exc).__name__
    hints = [x for x in lines[1:] if x.startswith(("Did you mean", "Candidate"))]
    return " ".join([lines[0], *hints])
