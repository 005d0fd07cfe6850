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
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from knox_analytics.bsm.damage import Damage
from knox_analytics.errors import InputError, UsageError
from knox_analytics.schema import SCHEMA
from knox_analytics.store import dataset_glob, derived
from knox_analytics.store.cache import cache_key
from knox_analytics.store.damage_log import damage_table
from knox_analytics.store.manifest import load_manifest
from knox_analytics.userdb import read_id_file

#: uid → name known everywhere; more come from ``users=`` (a passwd file or a mapping).
DEFAULT_USERS = {0: "root"}
#: Views computed once (as-of joins over every record) and then reused: per catalog, or
#: kept with a dataset as derived state that grows with it (knox_analytics.store.derived).
MATERIALIZED = derived.VIEWS


class Catalog:
    """An in-memory DuckDB database with the knox views over the given inputs.

    ``inputs``: dataset directories, trail files (.gz/.bz2/.xz too) or directories of
    trails, in any mix; none gives empty views (the lookup tables still answer).
    ``users``: uid → name for the ``user`` columns — a mapping, or a passwd(5)-format
    file (e.g. a copy of the audited Mac's ``dscl . -list /Users UniqueID`` turned into
    passwd lines); ``"local"`` uses this machine's passwd database.
    """

    def __init__(self, inputs: Iterable[str | Path] = (), *,
                 users: Mapping[int, str] | str | Path | None = None,
                 tables: str = "auto", threads: int | None = None) -> None:
        self.con = duckdb.connect(":memory:")
        # Audit times are UTC; do not let the host's zone leak into results.
        self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.damage: list[Damage] = []
        self.inputs = [Path(p) for p in inputs]
        self._users = load_users(users)
        self._tables = tables
        self._threads = threads
        self._files = sql_files()
        self._defined: set[str] = set()
        self._derived: tuple[Path, str] | None = None
        self._segments: list[Path] | None = None
        #: how this catalog merges derived segments: "question" (only past
        #: derived.MAX_SEGMENTS), "upkeep" (log-structured: update_derived) or "none"
        self._merging = "question"
        #: view -> the query that replaces it once its file has run (an epoch's carry)
        self._overrides: dict[str, str] = {}
        #: the parts each derivation this catalog ran has read (tests look at it)
        self.derived_parts: list[list[str]] = []
        self._register_lookups(self._users, tables)
        self._attach_records(self.inputs)

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

    def _attach_records(self, inputs: Sequence[Path]) -> None:
        datasets, trails = classify_inputs(inputs)
        if len(datasets) == 1 and not trails and load_manifest(datasets[0]) is not None:
            self._derived = (datasets[0], self._derived_key())
        parts = []
        if datasets:
            parts.append(_parquet_sql([dataset_glob(d) for d in datasets]))
        if trails:
            self.con.register("_decoded", self._decode(trails))
            parts.append("SELECT *, CAST(time AS DATE) AS date FROM _decoded")
        if not parts:
            self.con.register("_decoded", SCHEMA.empty_table())
            parts.append("SELECT *, CAST(time AS DATE) AS date FROM _decoded")
        self._define_records(" UNION ALL BY NAME ".join(parts))
        # every skipped byte range, of the trails decoded now and kept with the datasets
        self._materialize("_damage", damage_table(self.damage, datasets))
        self.con.execute("CREATE OR REPLACE VIEW damage AS SELECT * FROM _damage")

    def _define_records(self, source: str) -> None:
        # In a dataset the hive key `host` is the header address or the --host label; give
        # decoded trails the same meaning so that both kinds of input read alike.
        self.con.execute(
            "CREATE OR REPLACE VIEW records AS SELECT * REPLACE "
            f"(COALESCE(host, 'unknown') AS host) FROM ({source})")

    def _derived_key(self) -> str:
        users = ",".join(f"{k}={v}" for k, v in sorted(self._users.items()))
        return cache_key(*(f.text for f in self._files), derived.CARRY_OUT, users,
                         self._tables, str(SCHEMA))

    def _decode(self, trails: Sequence[Path]) -> pa.Table:
        tables = []
        for trail in trails:
            for result in decode_trail(trail):
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
                if _vanished(exc):
                    raise DatasetChanged(_first_line(exc)) from exc
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
            source = _segments_sql(view, segments)
        else:
            self.con.execute(f"CREATE OR REPLACE TABLE _cached_{view} AS SELECT * FROM {view}")
            source = f"SELECT * FROM _cached_{view}"
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS {source}")

    # -- derived state --------------------------------------------------------------
    def _derived_segments(self) -> list[Path] | None:
        """The dataset's derived segments, brought up to date once per catalog (None: not
        a dataset, or nowhere to keep them: computed in memory)."""
        if self._derived is None:
            return None
        if self._segments is None:
            root, key = self._derived
            directory = derived.derived_dir(root, key)
            if directory is None:
                self._derived = None
                return None
            for attempt in range(_REFRESH_TRIES):
                try:
                    merge = None if self._merging == "none" else self._merge_segments
                    done = derived.refresh(root, directory, key, self._derive_epoch, merge,
                                           eager=self._merging == "upkeep")
                    break
                except (DatasetChanged, FileNotFoundError, duckdb.Error) as exc:
                    # a compaction retired parts it was reading: the manifest now names
                    # the merged ones
                    if isinstance(exc, duckdb.Error) and not _vanished(exc):
                        raise
                    if attempt == _REFRESH_TRIES - 1:
                        raise DatasetChanged(_first_line(exc)) from exc
            if done.derived_parts:
                self.derived_parts.append(done.derived_parts)
            self._segments = done.segments
        return self._segments

    def _merge_segments(self, segments: list[Path], out: Path) -> None:
        """One segment holding the rows of ``segments`` (consecutive epochs, in order)
        and each pid's latest carry row."""
        for view in (*MATERIALIZED, derived.CARRY):
            query = (_latest_carry([s / f"{view}.parquet-cache" for s in segments])
                     if view == derived.CARRY else _segments_sql(view, segments))
            _copy(self.con, query, out / f"{view}.parquet-cache")

    def _derive_epoch(self, parts: list[Path], carry: list[Path], out: Path,
                      after: int | None = None) -> None:
        """Derive the process views of the records of ``parts`` later than ``after`` (ms;
        the data ``carry`` was left by ends there) into ``out``: the same SQL, with
        ``records`` = those records and ``process_carry`` = the carry."""
        with Catalog(users=self._users, tables=self._tables, threads=self._threads) as cat:
            source = _parquet_sql([str(p) for p in parts])
            if after is not None:  # a part shared with earlier epochs holds theirs too
                source = (f"SELECT * FROM ({source}) WHERE time IS NULL "
                          f"OR epoch_ms(time) > {int(after)}")
            cat._define_records(source)
            if carry:
                # Only the carried pids these records name can change or matter.
                cat.define(["process_starts"])
                cat.con.execute(f"CREATE TABLE _pids AS {derived.CARRY_PIDS}")
                cat.con.execute(f"CREATE TABLE _carry AS {_latest_carry(carry, '_pids')}")
                cat._overrides["process_carry"] = "SELECT * FROM _carry"
            cat.define([*MATERIALIZED, "process_carry", "instance_lookup", "exec_successes",
                        "instance_commands", "process_starts"])
            outputs = {view: f"SELECT * FROM {view}" for view in MATERIALIZED}
            outputs[derived.CARRY] = derived.CARRY_OUT
            for name, query in outputs.items():
                _copy(cat.con, query, out / f"{name}.parquet-cache")

    # -- use ----------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyRelation:
        """A lazy DuckDB relation for ``query`` (UsageError on bad SQL)."""
        self.define(_WORD.findall(query))
        try:
            return self._run(query, params)
        except duckdb.CatalogException as exc:
            # A misspelt view: define them all, so DuckDB's "Did you mean" names the view
            # that was meant rather than one of those defined so far.
            self.define()
            try:
                return self._run(query, params)
            except duckdb.Error as again:
                raise UsageError(f"SQL: {_first_line(again)}") from exc
        except duckdb.Error as exc:
            if _vanished(exc):
                raise DatasetChanged(_first_line(exc)) from exc
            raise UsageError(f"SQL: {_first_line(exc)}") from exc

    def _run(self, query: str, params: Sequence[Any] | None) -> duckdb.DuckDBPyRelation:
        return self.con.sql(query, params=list(params)) if params else self.con.sql(query)

    def query(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run ``query`` and return the whole result as an Arrow table.

        A part a compaction retired while the query read it (``knox capture`` merges its
        small parts): the query is run again, on the parts that now hold those records
        (nothing of the first attempt was returned), a few times before
        :class:`DatasetChanged` says so."""
        for attempt in range(_QUERY_TRIES):
            try:
                return self.sql(query, params).to_arrow_table()
            except DatasetChanged:
                if attempt == _QUERY_TRIES - 1:
                    raise
            except duckdb.Error as exc:
                if not _vanished(exc):
                    raise UsageError(f"SQL: {_first_line(exc)}") from exc
                if attempt == _QUERY_TRIES - 1:
                    raise DatasetChanged(_first_line(exc)) from exc
            self._repin()
        raise AssertionError("unreachable")

    def _repin(self) -> None:
        """Read the derived state anew: a catalog kept open (``knox shell``, a notebook)
        outlives the segments it pinned, which an upkeep lets go when it merges them
        (they are removed 10 minutes later)."""
        if self._segments is None:
            return
        self._segments = None
        if self._derived_segments():
            stored = [view for f in self._files if f.name in self._defined
                      for view in f.defines if view in MATERIALIZED]
            for view in stored:
                self._materialize_view(view)

    def stream(self, query: str, params: Sequence[Any] | None = None,
               batch_rows: int = 65_536) -> pa.RecordBatchReader:
        """Run ``query`` and stream the result as Arrow record batches."""
        try:
            return self.sql(query, params).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            if _vanished(exc):
                raise DatasetChanged(_first_line(exc)) from exc
            raise UsageError(f"SQL: {_first_line(exc)}") from exc

    def views(self) -> list[str]:
        """Names of the views the catalog defines (records included)."""
        self.define()
        rows = self.con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                            "ORDER BY view_name").fetchall()
        return [r[0] for r in rows if not r[0].startswith("_")]

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def update_derived(root: str | Path, *, users: Mapping[int, str] | str | Path | None = None,
                   tables: str = "auto", threads: int | None = None,
                   merge: bool = True) -> list[str]:
    """Bring the derived process state of the dataset at ``root`` up to date and (``merge``)
    merge its segments as a log-structured store does, which a question leaves to this
    upkeep; the parts that had to be read (none when it was).  The first process question
    derives anyway; calling this right after a commit (``knox convert``, ``knox
    capture``) makes that question fast.  ``users`` and ``tables`` as for
    :class:`Catalog` (the state is kept per choice); ``threads``: DuckDB's."""
    with Catalog([Path(root)], users=users, tables=tables, threads=threads) as cat:
        cat._merging = "upkeep" if merge else "none"
        cat._derived_segments()
        return [part for parts in cat.derived_parts for part in parts]


def keeps_derived(root: str | Path, *,
                  users: Mapping[int, str] | str | Path | None = None,
                  tables: str = "auto") -> bool:
    """Does the dataset at ``root`` keep a derived process state for these question
    settings (a process question was asked of it, or ``knox convert --derive`` ran)?"""
    with Catalog([Path(root)], users=users, tables=tables) as cat:
        return cat._derived is not None and derived.has_state(*cat._derived)


def merge_derived(root: str | Path, *, users: Mapping[int, str] | str | Path | None = None,
                  tables: str = "auto", threads: int | None = None) -> int:
    """Merge the derived segments of the dataset at ``root`` as :func:`update_derived`
    does, without deriving anything (``knox capture`` runs this beside its derivations,
    so that a long merge never holds up the state of new records); the segments left."""
    with Catalog([Path(root)], users=users, tables=tables, threads=threads) as cat:
        if cat._derived is None:
            return 0
        where, key = cat._derived
        directory = derived.derived_dir(where, key)
        if directory is None:
            return 0
        return len(derived.compact_segments(directory, key, cat._merge_segments).segments())


#: Times the derived state is brought up to date when a compaction moves parts under it.
_REFRESH_TRIES = 4
#: Times a whole query is run when a compaction retires parts it was reading.
_QUERY_TRIES = 3


class DatasetChanged(InputError):
    """Part files went away while a question read them: a compaction (``knox capture``)
    swapped the partition for its merged copy.  The same question asked again reads the
    new parts."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the dataset changed while it was read (parts were compacted): "
                         f"ask again ({detail})")


def _vanished(exc: BaseException) -> bool:
    text = str(exc)
    return "No files found that match" in text or "No such file" in text


# -- inputs -------------------------------------------------------------------------
def classify_inputs(inputs: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """Split inputs into dataset directories and trail files, by the one discovery rule
    of :mod:`knox_analytics.inputs` (a directory of trails: its trails, sorted by name;
    a README beside them is skipped).  A dataset without records adds none."""
    from knox_analytics.inputs import discover, has_records

    found = discover(list(inputs), sniff=True)
    if found.of("parquet"):
        raise InputError(f"{found.of('parquet')[0].path}: a single Parquet file; questions "
                         "read knox datasets (directories written by knox convert)")
    datasets = [Path(i.path) for i in found.datasets if has_records(i.path)]
    return datasets, [Path(i.path) for i in found.trails]


def decode_trail(path: Path) -> Iterator[Any]:
    """Decode one trail into DecodeResults (``.table``, ``.damage``).

    Uses the chunked reader when it is available, else the whole-buffer decoder.
    """
    try:
        from knox_analytics.bsm.reader import read_trail
    except ModuleNotFoundError as exc:
        if exc.name != "knox_analytics.bsm.reader":
            raise
    else:
        yield from read_trail(path)
        return
    from knox_analytics.bsm.decode import decode_bytes
    from knox_analytics.store.fingerprint import open_content

    with open_content(path) as fh:
        yield decode_bytes(fh.read(), str(path))


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


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    """Write ``query``'s rows to ``path`` (Parquet), whole or not at all."""
    tmp = path.with_name(f".{path.name}.tmp")
    con.execute(f"COPY ({query}) TO {_sql_str(str(tmp))} (FORMAT parquet, COMPRESSION zstd)")
    os.replace(tmp, path)


def _parquet_sql(paths: Sequence[str]) -> str:
    """Records from Parquet files or globs, with the hive keys (host, date)."""
    files = ", ".join(_sql_str(p) for p in paths)
    return (f"SELECT * FROM read_parquet([{files}], hive_partitioning = true, "
            "union_by_name = true)")


def _latest_carry(files: Sequence[Path], pids: str | None = None) -> str:
    """Each pid's row in the latest of the carry ``files`` (only the pids in the table
    ``pids``, if given)."""
    def rows(n: int, path: Path) -> str:
        sql = f"SELECT c.*, {n} AS _epoch FROM read_parquet({_sql_str(str(path))}) AS c"
        return sql + (f" SEMI JOIN {pids} AS r ON r.pid = c.pid" if pids else "")

    if len(files) == 1:
        return f"SELECT * EXCLUDE (_epoch) FROM ({rows(0, files[0])})"
    union = " UNION ALL ".join(rows(n, f) for n, f in enumerate(files))
    return (f"SELECT * EXCLUDE (_epoch) FROM ({union}) "
            "QUALIFY row_number() OVER (PARTITION BY pid ORDER BY _epoch DESC) = 1")


def _segments_sql(view: str, segments: Sequence[Path]) -> str:
    """``view`` read from derived segments.  ``processes`` holds, per segment, the rows of
    the instances that segment created or added to: the latest segment's row wins."""
    files = [_sql_str(str(s / f"{view}.parquet-cache")) for s in segments]
    if view != "processes":
        return f"SELECT * FROM read_parquet([{', '.join(files)}])"
    pieces = []
    for k, name in enumerate(files):
        later = files[k + 1:]
        if later:
            pieces.append(f"SELECT s.* FROM read_parquet({name}) AS s ANTI JOIN "
                          f"read_parquet([{', '.join(later)}]) AS t ON t.instance = s.instance")
        else:
            pieces.append(f"SELECT * FROM read_parquet({name})")
    return " UNION ALL ".join(pieces)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    """DuckDB's message in one line, keeping its hint ("Did you mean ...?")."""
    lines = [x.strip() for x in str(exc).strip().splitlines() if x.strip()]
    if not lines:
        return type(exc).__name__
    hints = [x for x in lines[1:] if x.startswith(("Did you mean", "Candidate"))]
    return " ".join([lines[0], *hints])
