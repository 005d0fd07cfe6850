"""What each picture draws, as Arrow tables: one query per picture over the catalog views.

The figures in :mod:`knox_analytics.plot.draw` draw exactly these rows, so a test (or a
reader) can check a picture against the views.  Nothing here imports matplotlib.

    >>> with Catalog(["sample_trails/generated-workday.bsm"]) as cat:   # doctest: +SKIP
    ...     timeline_data(cat, session=100012).num_rows
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.catalog import Catalog
from knox_analytics.errors import NoAnswerError
from knox_analytics.questions import Filters

#: Placeholder label for a null command / errno / user.
UNKNOWN = "(unknown)"
#: Label of the bucket that gathers everything past the top N rows or columns of a matrix.
OTHER = "(other)"

# One row per process instance, with the time columns the pictures need: `time` is the
# start (so that --since/--until select processes that started in the window) and `end`
# the exit, else the instance's last record (a process still running when the trail ends).
_PROCESSES = """
SELECT p.instance, p.pid, p.ppid, p.parent_instance, p.sid, p."user", p.euid, p.auid,
       p.command, p.command_path, p.start_time AS time, p.start_time, p.start_event,
       COALESCE(p.exit_time, l.last_time, p.start_time) AS "end",
       p.exit_time IS NOT NULL AS exited, p.exit_status,
       list_transform(list_filter(p.execs, lambda x: x.success), lambda x: x.time)
           AS exec_times
FROM processes AS p
LEFT JOIN (SELECT instance, max(time) AS last_time FROM process_events GROUP BY instance)
    AS l USING (instance)
"""


def select(cat: Catalog, relation: str, filters: Filters = Filters(), *,
           where: str = "TRUE", params: Sequence[Any] = (), order: str = "time",
           limit: int | None = None) -> pa.Table:
    """Rows of ``relation`` (a view name or a SELECT) that pass ``filters`` and ``where``.

    The filters are the question commands' (:class:`~knox_analytics.questions.Filters`),
    so ``--user``/``--since``/… mean the same in ``knox plot`` as in ``knox commands``.
    ``limit`` keeps the first rows only; how many there were is in the schema metadata
    (:func:`left_out` reads it), so a picture can say what it does not show.
    """
    source = relation if relation.isidentifier() else f"({relation})"
    columns = set(cat.sql(f"SELECT * FROM {source} AS r LIMIT 0").columns)
    clause, values = filters.where(columns, relation if relation.isidentifier() else "plot")
    body = f"FROM {source} AS r WHERE ({clause}) AND ({where})"
    if limit is None:
        return cat.query(f"SELECT * {body} ORDER BY {order}", [*values, *params])
    table = cat.query(f"SELECT * {body} ORDER BY {order} LIMIT {int(limit)}",
                      [*values, *params])
    if table.num_rows < limit:
        return table
    total = cat.sql(f"SELECT count(*) {body}", [*values, *params]).fetchall()[0][0]
    return table.replace_schema_metadata({**(table.schema.metadata or {}),
                                          b"knox.total": str(total).encode(),
                                          b"knox.limit": str(int(limit)).encode()})


def left_out(table: pa.Table) -> tuple[int, int] | None:
    """(kept, total) when :func:`select` left rows out, else None.  ``kept`` is what the
    limit kept, not ``table.num_rows``: a table narrowed further after the limit (the
    files picture keeps the top paths) must not make the note name a limit never given."""
    meta = table.schema.metadata or {}
    total = int(meta.get(b"knox.total", b"0"))
    kept = int(meta.get(b"knox.limit", str(table.num_rows).encode()))
    return (kept, total) if total > kept else None


def sessions(cat: Catalog) -> pa.Table:
    """Audit sessions (sid): user, number of processes, first and last start, commands.

    Pick a ``session`` for :func:`timeline_data` / :func:`tree_data` from it.
    """
    return cat.query(
        'SELECT sid, arg_max("user", records) AS "user", count(*) AS processes, '
        "min(start_time) AS first_start, max(start_time) AS last_start, "
        "list_sort(list(DISTINCT command) FILTER (WHERE command IS NOT NULL)) AS commands "
        "FROM processes WHERE sid IS NOT NULL GROUP BY sid ORDER BY first_start, sid")


# -- processes ----------------------------------------------------------------------------
def timeline_data(cat: Catalog, filters: Filters = Filters(), *, session: int | None = None,
                  pid: int | None = None, limit: int | None = None) -> pa.Table:
    """Process instances to draw as bars: start → end, successful exec times, command.

    ``session`` keeps one audit session (sid); ``pid`` keeps that process with its
    descendants (as ``knox tree PID``).  Ordered by start time.
    """
    where, params = _scope(cat, session, pid)
    return select(cat, _PROCESSES, filters, where=where, params=params,
                  order="start_time, instance", limit=limit)


def tree_data(cat: Catalog, filters: Filters = Filters(), *, session: int | None = None,
              pid: int | None = None, limit: int | None = None) -> pa.Table:
    """Process instances laid out as an indented tree: ``depth`` (x) and ``row`` (y).

    A node's ``parent_instance`` is kept only when the parent is drawn too (the others
    are roots).  Children follow their parent, by start time, as ``pstree`` prints them.
    """
    table = timeline_data(cat, filters, session=session, pid=pid, limit=limit)
    rows = table.select(["instance", "parent_instance", "pid", "ppid", "command", "user",
                         "start_time", "end", "exited", "exit_status"]).to_pylist()
    if not rows:
        return _empty_tree()
    tree = pa.Table.from_pylist(layout_tree(rows))
    return tree.replace_schema_metadata(table.schema.metadata)


def layout_tree(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each row ``depth`` and ``row`` (depth-first order); unknown parents → roots."""
    known = {r["instance"] for r in rows}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        parent = r["parent_instance"] if r["parent_instance"] in known else None
        children.setdefault(parent, []).append({**r, "parent_instance": parent})
    out: list[dict[str, Any]] = []
    # Iterative depth-first walk: deep trees must not hit the recursion limit.
    stack = [(r, 0) for r in reversed(children.get(None, []))]
    while stack:
        node, depth = stack.pop()
        out.append({**node, "depth": depth, "row": len(out)})
        stack.extend((c, depth + 1) for c in reversed(children.get(node["instance"], [])))
    return out


def _empty_tree() -> pa.Table:
    return pa.table({name: pa.array([], pa.string()) for name in ("instance",
                     "parent_instance", "command")}).append_column(
        "depth", pa.array([], pa.int64())).append_column("row", pa.array([], pa.int64()))


def _scope(cat: Catalog, session: int | None, pid: int | None) -> tuple[str, list[Any]]:
    """SQL condition for ``session`` and/or ``pid`` (the pid and its descendants)."""
    clauses, params = ["TRUE"], []
    if session is not None:
        clauses.append("sid = ?")
        params.append(int(session))
    if pid is not None:
        found = subtree(cat, pid)
        if not found:
            raise NoAnswerError(f"pid {pid}: no such process in the inputs")
        clauses.append("list_contains(?, instance)")
        params.append(found)
    return " AND ".join(clauses), params


def subtree(cat: Catalog, pid: int) -> list[str]:
    """Instances of ``pid`` and of all their descendants (not the ancestors)."""
    table = cat.query("SELECT DISTINCT instance FROM process_tree(?) WHERE depth >= 0",
                      [int(pid)])
    return sorted(table.column("instance").to_pylist())


# -- files --------------------------------------------------------------------------------
def file_data(cat: Catalog, filters: Filters = Filters(), *, pid: int | None = None,
              max_paths: int = 40, limit: int | None = None) -> pa.Table:
    """File accesses of ``pid`` and its descendants (or of everything the filters keep),
    on the ``max_paths`` most-touched paths, with a coarse ``kind`` of operation
    (read, write, create, delete, rename, attributes, other) for colouring."""
    where, params = _scope(cat, None, pid)
    table = select(cat, "file_access", filters, where=f"path IS NOT NULL AND {where}",
                   params=params, order='time, "offset"', limit=limit)
    metadata = table.schema.metadata
    table = table.select(["time", "pid", "instance", "command", "operation", "open_flags",
                          "path", "path2", "success", "errno_name"])
    keep = [p for p, _ in Counter(table.column("path").to_pylist()).most_common(max_paths)]
    mask = pc.is_in(table.column("path"), pa.array(keep, pa.string()))
    table = table.filter(mask)
    kinds = [operation_kind(o, f) for o, f in zip(table.column("operation").to_pylist(),
                                                  table.column("open_flags").to_pylist(),
                                                  strict=True)]
    table = table.append_column("kind", pa.array(kinds, pa.string()))
    return table.replace_schema_metadata(metadata)


#: Operation (file_access.operation, AUE_ name in lower case) → kind, for the non-opens.
_KINDS = {"unlink": "delete", "unlinkat": "delete", "rmdir": "delete",
          "rename": "rename", "renameat": "rename", "link": "rename", "symlink": "create",
          "mkdir": "create", "mkdirat": "create", "mknod": "create", "creat": "create",
          "truncate": "write", "ftruncate": "write"}


def operation_kind(operation: str | None, open_flags: str | None) -> str:
    """read / write / create / delete / rename / attributes / other."""
    if open_flags:
        if "O_CREAT" in open_flags:
            return "create"
        return "read" if open_flags.startswith("O_RDONLY") else "write"
    op = operation or ""
    if op in _KINDS:
        return _KINDS[op]
    if op.startswith(("chmod", "fchmod", "chown", "fchown", "lchown", "utimes", "chflags",
                      "setattrlist", "setxattr", "removexattr", "lchmod", "futimes")):
        return "attributes"
    return "read" if op.startswith(("open", "access", "stat", "readlink")) else "other"


def directory_counts(files: pa.Table, top: int = 15) -> pa.Table:
    """Accesses per parent directory of ``path`` (most first): directory, accesses,
    failures.  ``files`` is :func:`file_data` or any table with path and success."""
    total: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for path, ok in zip(files.column("path").to_pylist(), files.column("success").to_pylist(),
                        strict=True):
        directory = posixpath.dirname(path) or path
        total[directory] += 1
        failed[directory] += ok is False
    ranked = total.most_common(top)
    return pa.table({"directory": pa.array([d for d, _ in ranked], pa.string()),
                     "accesses": pa.array([n for _, n in ranked], pa.int64()),
                     "failures": pa.array([failed[d] for d, _ in ranked], pa.int64())})


# -- errors ---------------------------------------------------------------------------------
def error_data(cat: Catalog, filters: Filters = Filters()) -> pa.Table:
    """Failed records: time, errno name, command, event, path (nulls named ``UNKNOWN``)."""
    table = select(cat, "errors", filters, order='time, "offset"')
    return pa.table({
        "time": table.column("time"),
        "errno_name": _named(table.column("errno_name").to_pylist()),  # errno_label()
        "command": _named(table.column("command").to_pylist()),
        "event_name": table.column("event_name"),
        "path": table.column("path"),
    })


def _named(values: list[Any]) -> pa.Array:
    """Labels for a category column: null → ``UNKNOWN``."""
    return pa.array([UNKNOWN if v is None else str(v) for v in values], pa.string())


def top_failing_paths(errors: pa.Table, top: int = 15) -> pa.Table:
    """Paths with most failures: path, failures, the errno names seen there."""
    by_path: dict[str, Counter[str]] = {}
    for path, errno in zip(errors.column("path").to_pylist(),
                           errors.column("errno_name").to_pylist(), strict=True):
        if path is not None:
            by_path.setdefault(path, Counter())[errno] += 1
    ranked = sorted(by_path.items(), key=lambda kv: (-kv[1].total(), kv[0]))[:top]
    return pa.table({"path": pa.array([p for p, _ in ranked], pa.string()),
                     "failures": pa.array([c.total() for _, c in ranked], pa.int64()),
                     "errno_names": pa.array([sorted(c) for _, c in ranked],
                                             pa.list_(pa.string()))})


# -- network and logins -------------------------------------------------------------------
#: Operations that reach out to (or are reached from) a peer: the destination is the peer.
CONNECT_OPERATIONS = ("connect", "connectx", "connectat", "sendto", "sendmsg", "accept")


def connection_data(cat: Catalog, filters: Filters = Filters(),
                    operations: Sequence[str] = CONNECT_OPERATIONS) -> pa.Table:
    """Network records with a peer: time, command, operation, family, ``destination``
    (``addr:port``, ``[v6]:port`` or the unix socket path), success."""
    table = select(cat, "network", filters, where="list_contains(?, operation)",
                   params=[list(operations)], order='time, "offset"')
    dest = [_destination(f, a, p, s) for f, a, p, s in zip(
        table.column("family").to_pylist(), table.column("remote_addr").to_pylist(),
        table.column("remote_port").to_pylist(), table.column("socket_path").to_pylist(),
        strict=True)]
    keep = pa.array([d is not None for d in dest], pa.bool_())
    out = pa.table({"time": table.column("time"),
                    "command": _named(table.column("command").to_pylist()),
                    "operation": table.column("operation"),
                    "family": table.column("family"),
                    "destination": pa.array(dest, pa.string()),
                    "success": table.column("success")})
    return out.filter(keep)


def _destination(family: str | None, addr: str | None, port: int | None,
                 path: str | None) -> str | None:
    if family == "unix":
        return path
    if addr is None:
        return None
    host = f"[{addr}]" if ":" in addr else addr
    return f"{host}:{port}" if port is not None else host


def login_data(cat: Catalog, filters: Filters = Filters(), *, limit: int | None = None
               ) -> pa.Table:
    """Login/logout, su, sudo, ssh and authorisation records: time, user, operation,
    success, text (the first text token, e.g. sudo's command line)."""
    table = select(cat, "logins", filters, order='time, "offset"', limit=limit)
    return pa.table(metadata=table.schema.metadata, data={"time": table.column("time"),
                     "user": _named(table.column("user").to_pylist()),
                     "operation": table.column("operation"),
                     "success": table.column("success"),
                     "text": table.column("text")})


# -- matrices -------------------------------------------------------------------------------
def count_matrix(rows: Sequence[str], cols: Sequence[str], top_rows: int = 12,
                 top_cols: int = 12) -> tuple[list[str], list[str], list[list[int]]]:
    """Counts of (row, col) pairs on the most frequent rows and columns; the rest is
    gathered in an ``OTHER`` row/column so that the matrix sums to ``len(rows)``."""
    keep_r = [r for r, _ in Counter(rows).most_common(top_rows)]
    keep_c = [c for c, _ in Counter(cols).most_common(top_cols)]
    row_of = {r: i for i, r in enumerate(keep_r)}
    col_of = {c: i for i, c in enumerate(keep_c)}
    extra_r = len(set(rows)) > len(keep_r)
    extra_c = len(set(cols)) > len(keep_c)
    labels_r = keep_r + ([OTHER] if extra_r else [])
    labels_c = keep_c + ([OTHER] if extra_c else [])
    matrix = [[0] * len(labels_c) for _ in labels_r]
    for r, c in zip(rows, cols, strict=True):
        matrix[row_of.get(r, len(keep_r))][col_of.get(c, len(keep_c))] += 1
    return labels_r, labels_c, matrix
