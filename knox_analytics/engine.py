"""The query engine: one DuckDB connection with the knox views over a ``records`` view.

:class:`Engine` registers the lookup tables (``audit_events``, ``audit_classes``,
``bsm_errnos``, ``users``) and defines the views of ``knox_analytics/sql/*.sql`` on first
use, over whatever its owner makes ``records`` (:meth:`Engine.set_records`): the
:class:`~knox_analytics.catalog.Catalog` over datasets and trails, or the derivation of one
epoch (:mod:`knox_analytics.derived`), which is why it lives below both.  Its memory is
bounded (DuckDB's limit and a spill directory of its own).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from knox_analytics.errors import UsageError
from knox_analytics.interrupt import is_interrupt, watch
from knox_analytics.store.cache import spill_dir
from knox_analytics.store.machines import machine_sql
from knox_analytics.userdb import read_id_file

#: uid → name known everywhere; more come from ``users=`` (a passwd file or a mapping).
DEFAULT_USERS = {0: "root"}
#: DuckDB's memory limit on every connection (it spills to disk beyond it): knox's own
#: memory stays bounded at any dataset size.  ``KNOX_MEMORY_LIMIT`` overrides.
DEFAULT_MEMORY_LIMIT = "512MB"


class Engine:
    """A DuckDB connection with the lookup tables and the views, over ``records``.

    ``users``, ``tables``, ``threads``, ``memory_limit`` and ``spill`` as for
    :class:`~knox_analytics.catalog.Catalog`; ``materialized``: views computed once per
    engine and reused (their SQL is as-of joins over every record); ``machines``: host
    key -> machine name (:mod:`knox_analytics.store.machines`; None: every record is of
    one machine).
    """

    def __init__(self, *, users: Mapping[int, str] | str | Path | None = None,
                 tables: str = "auto", threads: int | None = None,
                 memory_limit: str | None = None, spill: Path | None = None,
                 materialized: Collection[str] = (),
                 machines: Mapping[str, str] | None = None) -> None:
        self.con = duckdb.connect(":memory:")
        watch(self.con)  # Ctrl-C stops its statement at once (knox_analytics.interrupt)
        # Audit times are UTC; do not let the host's zone leak into results.
        self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self._users = load_users(users)
        self._tables = tables
        self._threads = threads
        self.machines = machines
        self._memory_limit = (memory_limit or os.environ.get("KNOX_MEMORY_LIMIT")
                              or DEFAULT_MEMORY_LIMIT)
        self.materialized = tuple(materialized)
        self._files = sql_files()
        self._defined: set[str] = set()
        #: view -> the query that replaces it once its file has run (an epoch's carry)
        self._overrides: dict[str, str] = {}
        self._spill: Path | None = None
        self._register_lookups(self._users, tables)
        self._limit_memory(spill if spill is not None else spill_dir(None))

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

    def set_records(self, source: str) -> None:
        """Define ``records`` as the rows of the query ``source`` (with the hive keys) and
        the machine of each (:mod:`knox_analytics.store.machines`)."""
        # In a dataset the hive key `host` is the header address or the --host label; give
        # decoded trails the same meaning so that both kinds of input read alike.
        self.con.execute(
            "CREATE OR REPLACE VIEW records AS SELECT *, "
            f"{machine_sql(self.machines)} AS machine FROM (SELECT * REPLACE "
            f"(COALESCE(host, 'unknown') AS host) FROM ({source}))")

    def override(self, view: str, query: str) -> None:
        """Replace ``view`` by ``query`` once its file has run (an epoch's carry)."""
        self._overrides[view] = query

    def _limit_memory(self, spill: Path) -> None:
        """DuckDB's memory limit, and a spill directory of this engine's own (removed at
        close) inside ``spill``."""
        try:
            spill.mkdir(mode=0o700, parents=True, exist_ok=True)
            _drop_dead_spills(spill)
            self._spill = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=spill))
        except OSError:
            self._spill = None  # nowhere to spill: the limit alone
        self.con.execute(f"SET memory_limit = {sql_str(self._memory_limit)}")
        if self._spill is not None:
            self.con.execute(f"SET temp_directory = {sql_str(str(self._spill))}")

    def define(self, names: Iterable[str] | None = None) -> None:
        """Define the views (and macros) ``names`` need, or all of them.

        Views are defined on first use, not at open: binding every view costs more than
        most questions.  The ``materialized`` views are computed once: for a
        dataset, kept as derived state that only new records add to (see
        :mod:`knox_analytics.derived`); per engine otherwise.
        """
        asked = None if names is None else set(names)
        wanted = _closure(self._files, asked)
        # With derived segments, a materialised view is read from them: its SQL (and the
        # views only it needs) need not be bound, which costs more than small questions.
        stored = {f.name for f in self._files
                  if f.defines and set(f.defines) <= set(self.materialized)}
        segments = self._derived_segments() if stored & wanted - self._defined else None
        if segments:
            wanted = _closure(self._files, asked, stored)
        for sql_file in self._files:
            if sql_file.name in self._defined or sql_file.name not in wanted:
                continue
            if sql_file.name in stored and segments:
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
                if view in self.materialized:
                    self._materialize_view(view)

    # -- hooks of the owner (the catalog keeps derived state and snapshots) ----------
    def _derived_segments(self) -> list[Path] | None:
        """Derived segments the materialized views are read from (None: computed here)."""
        return None

    def _materialize_view(self, view: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TABLE _cached_{view} AS SELECT * FROM {view}")
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM _cached_{view}")

    def _before_question(self) -> None:
        """Called before each question (the catalog keeps its snapshot current)."""

    # -- use ----------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyRelation:
        """A lazy DuckDB relation for ``query`` (UsageError on bad SQL)."""
        self._before_question()
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
        return self._fetch(query, params, lambda rel: rel.to_arrow_table())

    def stream(self, query: str, params: Sequence[Any] | None = None,
               batch_rows: int = 65_536) -> pa.RecordBatchReader:
        """Run ``query`` and stream the result as Arrow record batches."""
        return self._fetch(query, params, lambda rel: rel.to_arrow_reader(batch_rows))

    def _fetch(self, query: str, params: Sequence[Any] | None,
               get: Callable[[duckdb.DuckDBPyRelation], Any]) -> Any:
        """``get`` of the relation of ``query``: bad SQL is UsageError, a statement Ctrl-C
        stopped is KeyboardInterrupt."""
        try:
            return get(self.sql(query, params))
        except duckdb.Error as exc:
            _stop_if_interrupted(exc)
            raise UsageError(f"SQL: {_first_line(exc)}") from exc
        except RuntimeError as exc:  # DuckDB's relations say "Query interrupted" so
            _stop_if_interrupted(exc)
            raise

    def views(self) -> list[str]:
        """Names of the views the engine defines (records included)."""
        self.define()
        rows = self.con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                            "ORDER BY view_name").fetchall()
        return [r[0] for r in rows if not r[0].startswith("_")]

    def close(self) -> None:
        """Close the DuckDB connection (and remove its spill directory)."""
        self.con.close()
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> Engine:
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


#: The name, among the SQL files, of the macros generated from
#: :mod:`knox_analytics.bsm.process_events` (no such file is on disk).
GENERATED_PROCESS_SQL = "02_process_events.sql"


def sql_files() -> list[SqlFile]:
    """Every view definition file, in the order they must run (by name), with the
    generated :data:`GENERATED_PROCESS_SQL`."""
    from knox_analytics.bsm.process_events import sql_macros

    root = resources.files("knox_analytics") / "sql"
    texts = {p.name: p.read_text(encoding="utf-8") for p in root.iterdir()
             if p.name.endswith(".sql")}
    texts[GENERATED_PROCESS_SQL] = sql_macros()  # the process rules, data in bsm/
    out = []
    for name, text in sorted(texts.items()):
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


def sql_str(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


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
