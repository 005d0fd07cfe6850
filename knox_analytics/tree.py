"""``knox tree``: process trees that cost what they show.

A tree is walked over the parent links of the ``processes`` view held as integer arrays
(one read of a few columns), a level at a time with numpy: children of a whole level are
found with one binary search, never a query per process nor a recursive join per level.
Parent links are resolved on integer keys made from the parts of an instance key
(``<pid>@<start ms>[@<machine>]``): matching millions of strings cost most of a tree.
Only the rows shown are then read in full, by pid (a derived ``processes`` is sorted by
pid).  ``depth`` stops the walk down (ancestors are always shown); ``limit`` caps the rows
shown, and :meth:`Forest.note` says what was left out.  Trees come in the time order of
their roots, each one ancestors first, then its levels, every level in start-time order.

    >>> with Catalog(["audit-parquet"]) as cat:              # doctest: +SKIP
    ...     forest = process_forest(cat, pid=1202, depth=2)
    ...     forest.table.num_rows, forest.note()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.errors import UsageError
from knox_analytics.words import count, plural

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog

#: Rows ``knox tree`` shows unless told otherwise: a screenful of scrolling, not 100 k.
TREE_LIMIT = 1000
#: Ancestors followed at most (a parent link loop in damaged data must not hang).
MAX_ANCESTORS = 10_000


@dataclass
class Forest:
    """The answer of :func:`process_forest`.

    ``table``: rows ``root, depth, <processes columns>`` (depth < 0: ancestors);
    ``found``: rows the trees have down to ``depth``; ``deeper``: processes one level
    below ``depth`` (neither they nor their descendants are counted in ``found``);
    ``children``: shown instance → how many children it has (shown or not).
    """

    table: pa.Table
    found: int
    deeper: int = 0
    depth: int | None = None
    limit: int | None = None
    children: dict[str, int] = field(default_factory=dict)

    @property
    def left_out(self) -> int:
        """Rows of the trees (down to ``depth``) not shown because of ``limit``."""
        return self.found - self.table.num_rows

    def note(self) -> str | None:
        """One line saying what the answer leaves out, and how to see it (None: nothing)."""
        parts = []
        if self.left_out:
            parts.append(f"showing {self.table.num_rows:,} of "
                         f"{count(self.found, 'process', 'processes')} "
                         f"(--limit {self.limit}; --limit 0 shows all, --depth N fewer levels)")
        if self.deeper:
            parts.append(f"{count(self.deeper, 'process', 'processes')} deeper than "
                         f"--depth {self.depth} and {plural(self.deeper, 'its', 'their')} "
                         "descendants not shown")
        return "; ".join(parts) or None


#: The links of every process: whether it is one of the processes asked for
#: (``named``), its start (µs), its machine, and the parts of its key and of its
#: parent's (``instance_key(pid, start ms, machine)``, :file:`sql/01_constants.sql`; a
#: parent runs on its child's machine, so only its pid and start are read from its key,
#: and they are null when it has none).  No key string is fetched: millions of them were
#: most of a tree's time and memory; the keys shown are composed by the same macro.  A
#: process without a key (no start time) is in no tree.  With ``by_session`` a process
#: without a known parent goes under its session's leader — the process whose pid is the
#: audit session id (FreeBSD's sid is the session leader's pid), else the session's first
#: process, on the same machine.  Session 0 is no session.
_LINKS = """
WITH p AS (SELECT instance, parent_instance, start_time, pid, sid, machine, {named} AS named
           FROM processes),
{leaders}
l AS (SELECT p.pid, p.start_time, p.machine, {parent} AS parent_instance, p.named
      FROM p {join})
SELECT named, start, machine, i_pid, i_ms, p_pid IS NOT NULL AND p_ms IS NOT NULL AS parent,
       -- a row's own parts where it has no parent: the packing reads no null
       CASE WHEN parent THEN p_pid ELSE i_pid END AS p_pid,
       CASE WHEN parent THEN p_ms ELSE i_ms END AS p_ms
FROM (SELECT named, epoch_us(start_time) AS start, machine, CAST(pid AS BIGINT) AS i_pid,
             epoch_ms(start_time) AS i_ms,
             TRY_CAST(split_part(parent_instance, '@', 1) AS BIGINT) AS p_pid,
             TRY_CAST(split_part(parent_instance, '@', 2) AS BIGINT) AS p_ms
      FROM l
      WHERE pid IS NOT NULL AND start_time IS NOT NULL AND machine IS NOT NULL)
"""
_BY_FORK = {"leaders": "", "parent": "p.parent_instance", "join": ""}
_BY_SESSION = {
    "leaders": """leaders AS (
    SELECT machine, sid,
           first(instance ORDER BY (pid IS DISTINCT FROM sid), start_time NULLS LAST,
                 instance) AS leader
    FROM p WHERE sid IS NOT NULL AND sid <> 0 GROUP BY machine, sid),""",
    "parent": """CASE WHEN p.parent_instance IS NOT NULL THEN p.parent_instance
            WHEN ld.leader = p.instance THEN NULL ELSE ld.leader END""",
    "join": "LEFT JOIN leaders AS ld USING (machine, sid)"}

#: The rows shown are read with ``pid IN (...)`` when they have at most this many pids:
#: ``processes`` is sorted by pid (:data:`derived.build.PROCESS_ORDER`), so the scan
#: reads only the row groups that hold them.
PRUNE_PIDS = 4096


def process_forest(cat: Catalog, pid: int | None = None, command: str | None = None, *,
                   depth: int | None = None, limit: int | None = TREE_LIMIT,
                   by_session: bool = False) -> Forest:
    """The trees of the instances of ``pid`` (or of every instance whose command matches
    the glob ``command``): ancestors, the instance, descendants down to ``depth`` levels;
    at most ``limit`` rows (None or 0: all).

    ``by_session`` (for trails with no fork/exit records, where no parent is known): each
    process without a parent goes under its audit session's leader instead, and the
    rows' ``parent_instance`` says so."""
    if (pid is None) == (command is None):
        raise UsageError("tree: give a PID or --command NAME (one of them)")
    if depth is not None and depth < 0:
        raise UsageError(f"--depth {depth}: expected 0 or more")
    if limit is not None and limit < 0:
        raise UsageError(f"--limit {limit}: expected 0 (no limit) or more")
    limit = limit or None
    named, param = ("pid = ?", int(pid)) if pid is not None else ("command GLOB ?", command)
    # streamed: DuckDB never holds the whole result beside the table it becomes
    links = cat.stream(_LINKS.format(named=named, **(_BY_SESSION if by_session else _BY_FORK)),
                       [param], batch_rows=1 << 20).read_all()
    start = pc.fill_null(links["start"], np.iinfo(np.int64).max).to_numpy()
    roots = np.flatnonzero(pc.fill_null(links["named"], False).to_numpy(zero_copy_only=False))
    roots = roots[np.argsort(start[roots], kind="stable")]  # in start order, unknown last
    walk = _Walk(*link_keys(links), start)
    parts = links.select(["machine", "i_pid", "i_ms"])  # what composes the keys shown
    del links
    pa.default_memory_pool().release_unused()  # (Arrow's allocator keeps freed memory)
    pieces, held, found, deeper = [], 0, 0, 0
    for root in roots:
        keep = None if limit is None else limit - held
        rows, count, below = walk.tree(int(root), depth, keep)
        pieces.append(np.column_stack([np.full(len(rows), root), rows]))
        held += len(rows)
        found += count
        deeper += below
    chosen = np.concatenate(pieces) if pieces else np.zeros((0, 4), np.int64)
    children = walk.child_counts(chosen[:, 2])
    shown = _shown(parts, chosen)
    del walk, parts  # the links of every process, before the rows shown are read
    pa.default_memory_pool().release_unused()  # (Arrow's allocator keeps freed memory)
    table = _read_shown(cat, shown, by_session)
    counts = children[table["_ord"].to_numpy()]
    table = table.drop_columns(["_ord"])
    return Forest(table, found, deeper, depth, limit,
                  dict(zip(table["instance"].to_pylist(), counts.tolist(), strict=True)))


def _shown(parts: pa.Table, chosen: np.ndarray) -> pa.Table:
    """The rows ``chosen`` (root, depth, row, parent row: -1 for none) as the parts of
    their keys, their root's and their parent's (all on the row's machine)."""
    def take(rows: np.ndarray) -> pa.Table:
        return parts.take(pa.array(rows, mask=rows < 0))

    own, root, parent = (take(chosen[:, k]) for k in (2, 0, 3))
    return pa.table({"_ord": pa.array(np.arange(len(chosen)), pa.int64()),
                     "depth": pa.array(chosen[:, 1], pa.int32()),
                     "machine": own["machine"], "pid": own["i_pid"], "ms": own["i_ms"],
                     "r_pid": root["i_pid"], "r_ms": root["i_ms"],
                     "pp_pid": parent["i_pid"], "pp_ms": parent["i_ms"]})


def _read_shown(cat: Catalog, shown: pa.Table, by_session: bool) -> pa.Table:
    """The ``processes`` rows of ``shown`` in its order, with ``root`` and ``depth`` (and
    ``_ord``, the row of ``shown``)."""
    # the parent the tree was walked by (the session leader's, with by_session)
    every = ("p.* REPLACE (instance_key(s.pp_pid, s.pp_ms, s.machine) AS parent_instance)"
             if by_session else "p.*")
    pids = np.unique(shown["pid"].to_numpy())
    prune = (f"WHERE p.pid IN ({', '.join(str(int(p)) for p in pids)})"
             if 0 < len(pids) <= PRUNE_PIDS else "")
    cat.con.register("_tree_shown", shown)
    try:
        return cat.query(
            f"SELECT s._ord, instance_key(s.r_pid, s.r_ms, s.machine) AS root, s.depth, "
            f"{every} FROM _tree_shown AS s JOIN processes AS p ON p.pid = s.pid "
            f"AND p.instance = instance_key(s.pid, s.ms, s.machine) {prune} ORDER BY s._ord")
    finally:
        cat.con.unregister("_tree_shown")


def link_keys(links: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(key of each row, key of its parent: -1 for none) as int64, equal exactly when
    the key strings are: the keys' parts (:data:`_LINKS`) packed into one integer when
    they fit, else numbered by their distinct parts."""
    if not links.num_rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    machine = pc.dictionary_encode(links["machine"]).combine_chunks()
    # a parent runs on its child's machine: (machine, pid, ms) of the row, of its parent
    number = machine.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    mine, theirs = ([number, *(links[n].to_numpy() for n in names)]
                    for names in (("i_pid", "i_ms"), ("p_pid", "p_ms")))
    has_parent = links["parent"].to_numpy()
    packed = _packed_keys(mine, theirs, has_parent, len(machine.dictionary))
    if packed is not None:
        return packed
    rows = len(has_parent)
    both = np.column_stack([np.concatenate([m, t[has_parent]]) for m, t in zip(mine, theirs,
                                                                                strict=True)])
    number = np.unique(both, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
    parents = np.full(rows, -1, np.int64)
    parents[has_parent] = number[rows:]
    return number[:rows], parents


#: Bits a packed key may use (it must stay a non-negative int64).
KEY_BITS = 62


def _packed_keys(mine: list[np.ndarray], theirs: list[np.ndarray], has_parent: np.ndarray,
                 machines: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The keys of ``mine`` and ``theirs`` (machine number, pid, start ms: one array
    each; a row without a parent has its own parts in ``theirs``) packed into one int64
    (-1 where a row has no parent); None when they do not fit :data:`KEY_BITS`."""
    lo, width = [], []
    for own, parent in zip(mine[1:], theirs[1:], strict=True):
        low = min(int(own.min()), int(parent.min()))
        lo.append(low)
        width.append(max(int(own.max()), int(parent.max())) - low + 1)
    if machines * width[0] * width[1] >= 1 << KEY_BITS:
        return None
    keys = []
    for machine, pid, ms in (mine, theirs):
        key = machine * width[0]  # a new array: the parts are left as they are
        key += pid
        key -= lo[0]
        key *= width[1]
        key += ms
        key -= lo[1]
        keys.append(key)
    keys[1][~has_parent] = -1
    return keys[0], keys[1]


class _Walk:
    """Rows keyed by ``mine``, each the child of the row whose key is its ``theirs`` (-1:
    none); the children of rows are found by binary search in the rows sorted by parent
    key, a row by its key by a scan (the few ancestors of a root), or in the rows sorted
    by key once many were looked up."""

    #: Rows looked up by a scan before they are sorted by key.
    SCANS = 32

    def __init__(self, mine: np.ndarray, theirs: np.ndarray, start: np.ndarray) -> None:
        self.mine, self.theirs, self.start = mine, theirs, start
        self.order = np.argsort(theirs, kind="stable")
        self.sorted_parent = theirs[self.order]
        self.seen = np.zeros(len(mine), dtype=bool)
        self.scans = 0
        self.by_key: np.ndarray | None = None

    def row_of(self, key: int) -> int:
        """The row keyed ``key`` (-1: none)."""
        if key < 0:
            return -1
        if self.by_key is None and self.scans < self.SCANS:
            self.scans += 1
            rows = np.flatnonzero(self.mine == key)
            return int(rows[0]) if len(rows) else -1
        if self.by_key is None:
            self.by_key = np.argsort(self.mine, kind="stable")
        at = int(np.searchsorted(self.mine, key, sorter=self.by_key))
        if at < len(self.by_key) and self.mine[self.by_key[at]] == key:
            return int(self.by_key[at])
        return -1

    def child_counts(self, rows: np.ndarray) -> np.ndarray:
        keys = self.mine[rows]
        return (np.searchsorted(self.sorted_parent, keys, "right")
                - np.searchsorted(self.sorted_parent, keys, "left"))

    def children(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The children of ``rows``, and the row each is the child of."""
        keys = self.mine[rows]
        lo = np.searchsorted(self.sorted_parent, keys, "left")
        counts = np.searchsorted(self.sorted_parent, keys, "right") - lo
        total = int(counts.sum())
        if not total:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        firsts = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        return self.order[firsts + np.arange(total)], np.repeat(rows, counts)

    def tree(self, root: int, depth: int | None, keep: int | None = None
             ) -> tuple[np.ndarray, int, int]:
        """``(depth, row, parent row)`` of the first ``keep`` rows (None: all) of one tree
        in display order (parent -1: none known); how many rows the tree has; how many
        processes lie one level below ``depth``.  Rows past ``keep`` are counted, not
        held (the tree of pid 1 holds millions)."""
        chain, seen = [root], {root}  # the root, then its ancestors upwards
        while True:
            row = self.row_of(int(self.theirs[chain[-1]]))
            if row < 0 or row in seen or len(chain) > MAX_ANCESTORS:
                break  # (a loop in damaged parent links ends too)
            seen.add(row)
            chain.append(row)
        ups = [*chain[1:], row]  # each one's parent
        levels = [np.array([(-k, chain[k], ups[k]) for k in reversed(range(len(chain)))],
                           np.int64)[:keep]]
        kept, found = len(levels[0]), len(chain)
        frontier = np.array([root], np.int64)
        touched = [np.array(chain, np.int64)]  # an ancestor is no descendant (a loop)
        self.seen[touched[0]] = True
        level, deeper = 0, 0
        while len(frontier):
            kids, parents = self.children(frontier)
            fresh = ~self.seen[kids]  # a loop in damaged parent links ends here
            kids, parents = kids[fresh], parents[fresh]
            if depth is not None and level >= depth:
                deeper = len(kids)
                break
            level += 1
            found += len(kids)
            if keep is None or kept < keep:
                by_start = np.argsort(self.start[kids], kind="stable")[:None if keep is None
                                                                         else keep - kept]
                levels.append(np.column_stack([np.full(len(by_start), level), kids[by_start],
                                               parents[by_start]]))
                kept += len(by_start)
            self.seen[kids] = True
            touched.append(kids)
            frontier = kids
        for rows in touched:
            self.seen[rows] = False
        return np.concatenate(levels), found, deeper
