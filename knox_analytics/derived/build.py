"""The builder: derive one epoch's segment, merge segments, read them back (SQL text).

The process views' own SQL (``knox_analytics/sql/*.sql``) does the work: for an epoch,
``records`` is the epoch's time range of its parts and ``process_carry`` the previous
epochs' carry; the carry the epoch leaves is ``sql/derived/carry_out.sql``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from knox_analytics.derived.files import CARRY, CONTINUED, VIEWS, view_files
from knox_analytics.engine import sql_str
from knox_analytics.store.safefs import apply_path, fresh_private_dir, protection_of_dataset

if TYPE_CHECKING:
    import duckdb

    from knox_analytics.derived.settings import Settings


def derived_sql(name: str) -> str:
    """The text of ``knox_analytics/sql/derived/<name>.sql``."""
    return (resources.files("knox_analytics") / "sql" / "derived" / f"{name}.sql"
            ).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Held:
    """What one epoch's derivation held: the records it derived and the carried rows it
    read (the pids those records name).  Both follow the epoch's size, never the number
    of epochs before it."""

    records: int
    carried: int


def derive_epoch(settings: Settings, machines: Mapping[str, str] | None,
                 parts: Sequence[Path], carry: Sequence[Path], out: Path,
                 tmin: int | None, tmax: int | None, untimed: bool) -> Held:
    """Derive the process views of the records of ``parts`` in [tmin, tmax] (ms; None:
    unbounded), and (``untimed``) those without a time, into the segment ``out``, from
    the carry files ``carry`` of the epochs before (a pid's carry is its row in the
    latest file that has one); ``machines``: the dataset's machine names."""
    from knox_analytics.engine import Engine, parquet_sql

    with Engine(users=settings.users, tables=settings.tables, threads=settings.threads,
                memory_limit=settings.memory_limit, spill=settings.spill,
                materialized=VIEWS, machines=machines) as cat:
        # Row order inside a segment means nothing: let DuckDB stream without keeping it.
        cat.con.execute("SET preserve_insertion_order = false")
        where = []
        if tmin is not None:
            where.append(f"time >= {_ts(tmin)}")
        if tmax is not None:
            where.append(f"time <= {_ts(tmax)}")
        cond = " AND ".join(where) or "true"
        cond = f"({cond}) OR time IS NULL" if untimed else f"time IS NOT NULL AND {cond}"
        cat.set_records(f"SELECT * FROM ({parquet_sql([str(p) for p in parts])}) WHERE {cond}")
        carried = 0
        if carry:
            # Only the carried pids these records name can change or matter.
            cat.define(["process_starts"])
            cat.con.execute(f"CREATE TABLE _pids AS {derived_sql('carry_pids')}")
            cat.con.execute(f"CREATE TABLE _carry AS {latest_carry(carry, '_pids')}")
            cat.override("process_carry", "SELECT * FROM _carry")
            carried = cat.con.sql("SELECT count(*) FROM _carry").fetchall()[0][0]
        cat.define([*VIEWS, "process_carry", "instance_lookup", "exec_successes",
                    "instance_commands", "process_starts"])
        outputs = {view: f"SELECT * FROM {view}" for view in VIEWS}
        outputs["processes"] = ("SELECT *, instance IN (SELECT instance FROM process_carry) "
                                f"AS {CONTINUED} FROM processes {PROCESS_ORDER}")
        outputs[CARRY] = derived_sql("carry_out")
        for name, query in outputs.items():
            copy(cat.con, query, out / f"{name}.parquet-cache",
                 PROCESS_ROW_GROUP if name == "processes" else None)
    # record_process: one row per record but the file headers (no process of their own)
    records = pq.read_metadata(out / "record_process.parquet-cache").num_rows
    return Held(records, carried)


#: ``processes`` segment files are sorted by pid in row groups this small, so a question
#: about a few pids (the rows ``knox tree`` shows) reads the few row groups whose pid
#: statistics hold them: at 28 M records, 0.1 s instead of 2.3 s of CPU.
PROCESS_ORDER = "ORDER BY pid, start_time"
PROCESS_ROW_GROUP = 16_384


#: A merge takes the files of a view read as they are (``processes`` and the carry are
#: keyed, so always rewritten) at least this big as they are, by a hard link, and
#: rewrites only the smaller ones into one file: a first derivation's merge of 28 M
#: records' epochs rewrote everything, a fifth of its time; a capture's small epochs
#: are still gathered into files of a useful size.
LINK_BYTES = 4 << 20


def merge_segments(con: duckdb.DuckDBPyConnection, segments: Sequence[Path], out: Path) -> None:
    """One segment holding the rows of ``segments`` (consecutive epochs, in order) and
    each pid's latest carry row; files of :data:`LINK_BYTES` or more are linked, not
    copied."""
    for view in (*VIEWS, CARRY):
        target = out / f"{view}.parquet-cache"
        if view == CARRY:
            copy(con, latest_carry([s / f"{view}.parquet-cache" for s in segments]), target)
        elif view == "processes":
            merge_processes(con, [s / f"{view}.parquet-cache" for s in segments], target)
        else:
            small, linked = [], 0
            for f in (f for s in segments for f in view_files(s, view)):
                if (f.stat().st_size >= LINK_BYTES
                        and _link(f, out / f"{view}-{linked}.parquet-cache")):
                    linked += 1
                else:
                    small.append(sql_str(str(f)))
            if small:
                copy(con, f"SELECT * FROM read_parquet([{', '.join(small)}])", target)


#: A merge of more ``processes`` rows than this keeps the segments' rows in their order
#: (each segment's sorted by pid) instead of sorting them all again: at 28 M records the
#: sort of 5.5 M rows was 24 s of CPU, and row groups cut from sorted runs are as narrow
#: in pid.  Fewer rows are sorted: a capture's many small epochs would otherwise make
#: row groups that mix runs.
SORT_ROWS = 1_000_000


def merge_processes(con: duckdb.DuckDBPyConnection, files: Sequence[Path], target: Path
                    ) -> None:
    """``processes`` of consecutive segments (their files, in order) as one segment's:
    the latest segment's row of each instance, flagged ``_continued`` only if it
    continues an instance of a segment before these (a row is flagged when it continues
    one of an earlier segment, and these may hold its creation).  Each segment's rows in
    their (sorted) order; sorted again by pid when they are few."""
    replaced = _replaced(con, [sql_str(str(f)) for f in files])
    if sum(pq.read_metadata(f).num_rows for f in files) > SORT_ROWS:
        with _written(target) as tmp:
            _stream(files, replaced, tmp)
        return
    work = fresh_private_dir(target.parent, ".merge-")
    try:
        _stream(files, replaced, work / "unsorted.parquet")
        copy(con, f"SELECT * FROM read_parquet({sql_str(str(work / 'unsorted.parquet'))}) "
             f"{PROCESS_ORDER}", target, PROCESS_ROW_GROUP)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _stream(files: Sequence[Path], replaced: _Replaced, path: Path) -> None:
    """The rows of ``files`` a merge keeps (:func:`_kept`), in order, written to ``path``
    in row groups of :data:`PROCESS_ROW_GROUP`."""
    # DuckDB marks a column required where one file's rows happen to allow it
    schema = pa.schema([_nullable(f) for f in pq.read_schema(files[0])])
    with pq.ParquetWriter(path, schema, compression="zstd") as out:
        held = schema.empty_table()
        for n, f in enumerate(files):
            for batch in pq.ParquetFile(f).iter_batches(batch_size=PROCESS_ROW_GROUP):
                held = pa.concat_tables([held, _kept(pa.Table.from_batches([batch]), n,
                                                     replaced).cast(schema)])
                if held.num_rows >= PROCESS_ROW_GROUP:
                    whole = held.num_rows // PROCESS_ROW_GROUP * PROCESS_ROW_GROUP
                    out.write_table(held.slice(0, whole), row_group_size=PROCESS_ROW_GROUP)
                    held = held.slice(whole)
        if held.num_rows:
            out.write_table(held)


def _nullable(field: pa.Field) -> pa.Field:
    """``field`` with it and every field nested in it nullable."""
    kind = field.type
    if pa.types.is_struct(kind):
        kind = pa.struct([_nullable(kind.field(i)) for i in range(kind.num_fields)])
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        maker = pa.list_ if pa.types.is_list(kind) else pa.large_list
        kind = maker(_nullable(kind.value_field))
    return pa.field(field.name, kind, nullable=True, metadata=field.metadata)


@dataclass(frozen=True)
class _Replaced:
    """The few rows a merge keys on: each ``instance`` a flagged row continues with the
    ``latest`` file (its number) holding it, and those of them ``created`` by an
    unflagged row of the merged files."""

    instance: pa.Array
    latest: pa.Array
    created: pa.Array


def _replaced(con: duckdb.DuckDBPyConnection, files: Sequence[str]) -> _Replaced:
    """What :func:`_kept` needs of ``files`` (SQL string literals, in order), read once."""
    later = con.sql(_latest_continued(files)).to_arrow_table()
    con.register("_later", later)
    try:
        unflagged = " UNION ALL ".join(
            f"SELECT instance FROM read_parquet({f}) WHERE NOT {CONTINUED}" for f in files)
        created = con.sql(f"SELECT DISTINCT r.instance FROM ({unflagged}) AS r "
                          "SEMI JOIN _later AS l ON l.instance = r.instance").to_arrow_table()
    finally:
        con.unregister("_later")
    return _Replaced(later["instance"].combine_chunks(), later["_file"].combine_chunks(),
                     created["instance"].combine_chunks())


def _kept(rows: pa.Table, file: int, replaced: _Replaced) -> pa.Table:
    """The ``rows`` (of file number ``file``) a merge keeps, their flags corrected."""
    at = pc.index_in(rows["instance"], value_set=replaced.instance)
    keep = pc.fill_null(pc.equal(pc.take(replaced.latest, at), file), True)  # none later
    flag = pc.and_(rows[CONTINUED],
                   pc.invert(pc.is_in(rows["instance"], value_set=replaced.created)))
    return rows.set_column(rows.schema.get_field_index(CONTINUED), CONTINUED,
                           flag).filter(keep)


def _link(source: Path, target: Path) -> bool:
    """Hard-link ``source`` as ``target`` (False where links cannot be made: copied)."""
    try:
        os.link(source, target)
    except OSError:
        return False
    return True


def copy(con: duckdb.DuckDBPyConnection, query: str, path: Path,
         row_group_rows: int | None = None) -> None:
    """Write ``query``'s rows to ``path`` (Parquet; row groups of ``row_group_rows``, else
    DuckDB's), whole or not at all.  DuckDB writes
    by path (and through a temporary name of its own), so only inside a 0700 directory
    made for it here, never through a link someone planted; then renamed into place with
    the protection of the directory it goes to (:mod:`knox_analytics.store.safefs`)."""
    rows = f", ROW_GROUP_SIZE {int(row_group_rows)}" if row_group_rows else ""
    with _written(path) as tmp:
        con.execute(f"COPY ({query}) TO {sql_str(str(tmp))} (FORMAT parquet, "
                    f"COMPRESSION zstd{rows})")


@contextlib.contextmanager
def _written(path: Path) -> Iterator[Path]:
    """Where to write ``path``: a name in a fresh 0700 directory beside it, renamed into
    place with the protection of its directory when the block ends without an error."""
    work = fresh_private_dir(path.parent, ".copy-")
    try:
        tmp = work / path.name
        yield tmp
        apply_path(tmp, protection_of_dataset(path.parent))
        os.replace(tmp, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def latest_carry(files: Sequence[Path], pids: str | None = None) -> str:
    """Each (machine, pid)'s row in the latest of the carry ``files`` (only those in the
    table ``pids``, if given)."""
    return latest_rows([sql_str(str(f)) for f in files], ("machine", "pid"), pids)


def segments_sql(view: str, segments: Sequence[Path]) -> str:
    """``view`` read from derived segments."""
    if view == "processes":
        return latest_processes([sql_str(str(s / f"{view}.parquet-cache")) for s in segments])
    files = [sql_str(str(f)) for s in segments for f in view_files(s, view)]
    return f"SELECT * FROM read_parquet([{', '.join(files)}])"


def latest_processes(files: Sequence[str]) -> str:
    """``processes`` from segment files (SQL string literals, in time order).

    A segment holds the rows of the instances its epoch created or added to; the latest
    row of an instance wins.  Only a row that continues an instance of an earlier
    segment (its ``_continued`` flag) can replace one, and those are few (the processes
    alive across an epoch's end): the latest file of each continued instance is found
    among them alone (:func:`_latest_continued`), and every other row is taken as it is.
    Keying every row instead took 3.4 s of CPU at 28 M records (now 0.4 s; a few
    hundred rows were flagged).  A merge keeps the same rows (:func:`merge_processes`)."""
    rows = " UNION ALL ".join(f"SELECT *, {n} AS _file FROM read_parquet({f})"
                              for n, f in enumerate(files))
    return (f"WITH _later AS MATERIALIZED ({_latest_continued(files)}), _rows AS ({rows}) "
            f"SELECT r.* EXCLUDE (_file, {CONTINUED}) FROM _rows AS r "
            "LEFT JOIN _later AS l ON l.instance = r.instance "
            "WHERE l._file IS NULL OR l._file = r._file")


def _latest_continued(files: Sequence[str]) -> str:
    """The latest of ``files`` (its number) holding each instance a flagged row of them
    continues: the rows that replace the others of their instance."""
    continued = " UNION ALL ".join(
        f"SELECT instance, {n} AS _file FROM read_parquet({f}) WHERE {CONTINUED}"
        for n, f in enumerate(files))
    return f"SELECT instance, max(_file) AS _file FROM ({continued}) GROUP BY instance"


def latest_rows(files: Sequence[str], key: Sequence[str], only: str | None = None) -> str:
    """Each ``key``'s row in the latest of ``files`` (SQL string literals, in order) that
    holds it; only the keys in the table ``only``, if given.

    The latest file of each key is found on the keys alone, then each file's rows are
    taken by a semi join on it.  A window over the rows themselves (carry rows hold whole
    exec histories), or an anti join of each file against all later ones (a hash table
    per file), ran out of DuckDB's 512 MB at 2 GB of records."""
    def on(a: str, b: str) -> str:
        return " AND ".join(f"{a}.{k} = {b}.{k}" for k in key)

    cols = ", ".join(key)
    if len(files) == 1:
        return (f"SELECT c.* FROM read_parquet({files[0]}) AS c"
                + (f" SEMI JOIN {only} AS r ON {on('r', 'c')}" if only else ""))
    keys = " UNION ALL ".join(f"SELECT {cols}, {n} AS _file FROM read_parquet({f})"
                              for n, f in enumerate(files))
    if only:
        keys = f"SELECT k.* FROM ({keys}) AS k SEMI JOIN {only} AS r ON {on('r', 'k')}"
    rows = " UNION ALL ".join(
        f"SELECT c.* FROM read_parquet({f}) AS c SEMI JOIN _latest AS k "
        f"ON {on('k', 'c')} AND k._file = {n}" for n, f in enumerate(files))
    return (f"WITH _latest AS MATERIALIZED (SELECT {cols}, max(_file) AS _file "
            f"FROM ({keys}) GROUP BY {cols}) {rows}")


def _ts(ms: int) -> str:
    # a constant of the column's type: DuckDB prunes row groups by their statistics
    return f"CAST(epoch_ms({int(ms)}) AS TIMESTAMPTZ)"
