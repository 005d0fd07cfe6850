"""``knox tree``: process trees that cost what they show.

A tree is walked over the parent links of the ``processes`` view held as integer arrays
(one read of a few columns), a level at a time with numpy: children of a whole level are
found with one binary search, never a query per process nor a recursive join per level.
Parent links are resolved on integer keys made from the parts of an instance key
(``<pid>@<start ms>[@<machine>]``): matching millions of strings cost most of a tree.
Only the rows shown are then read in full.  ``depth`` stops the walk down (ancestors are
always shown); ``limit`` caps the rows shown, and :meth:`Forest.note` says what was left
out.  Trees come in the time order of their roots, each one ancestors first, then its
levels, every level in start-time order.

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
#: (``named``), its start (µs) and the parts of its key and of its parent's
#: (``<pid>@<start ms>[@<machine>]``, as :file:`sql/21_process_instances.sql` writes
#: them; the parent's are null when it has none).  The keys themselves are not fetched
#: (:func:`instance_keys` composes those shown): millions of strings were most of a
#: tree's memory.  A process without a key (no start time) is in no tree.  With
#: ``by_session`` a process without a known parent goes under its session's leader —
#: the process whose pid is the audit session id (FreeBSD's sid is the session leader's
#: pid), else the session's first process.  Session 0 is no session.
_LINKS = """
WITH p AS (SELECT instance, parent_instance, start_time, pid, sid, {named} AS named
           FROM processes),
{leaders}
l AS (SELECT p.instance, {parent} AS parent_instance, p.start_time, p.named FROM p {join})
SELECT * FROM (
    SELECT named, epoch_us(start_time) AS start,
           TRY_CAST(split_part(instance, '@', 1) AS BIGINT) AS i_pid,
           TRY_CAST(split_part(instance, '@', 2) AS BIGINT) AS i_ms,
           regexp_extract(instance, '^[^@]*@[^@]*@(.*)$', 1) AS i_machine,
           TRY_CAST(split_part(parent_instance, '@', 1) AS BIGINT) AS p_pid,
           TRY_CAST(split_part(parent_instance, '@', 2) AS BIGINT) AS p_ms,
           regexp_extract(parent_instance, '^[^@]*@[^@]*@(.*)$', 1) AS p_machine
    FROM l)
WHERE i_pid IS NOT NULL AND i_ms IS NOT NULL
"""
_BY_FORK = {"leaders": "", "parent": "p.parent_instance", "join": ""}
_BY_SESSION = {
    "leaders": """leaders AS (
    SELECT sid, first(instance ORDER BY (pid IS DISTINCT FROM sid), start_time NULLS LAST,
                      instance) AS leader
    FROM p WHERE sid IS NOT NULL AND sid <> 0 GROUP BY sid),""",
    "parent": """CASE WHEN p.parent_instance IS NOT NULL THEN p.parent_instance
            WHEN ld.leader = p.instance THEN NULL ELSE ld.leader END""",
    "join": "LEFT JOIN leaders AS ld USING (sid)"}


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
    links = links.select(["i_pid", "i_ms", "i_machine"])  # what composes the keys shown
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
    keys = instance_keys(links, chosen[:, 2])
    shown = pa.table({"_ord": pa.array(np.arange(len(chosen)), pa.int64()),
                      "root": instance_keys(links, chosen[:, 0]),
                      "depth": pa.array(chosen[:, 1], pa.int32()),
                      "instance": keys,
                      "parent": instance_keys(links, chosen[:, 3])})
    children = dict(zip(keys.to_pylist(), walk.child_counts(chosen[:, 2]).tolist(),
                        strict=True))
    del walk, links  # the links of every process, before the rows shown are read
    pa.default_memory_pool().release_unused()  # (Arrow's allocator keeps freed memory)
    # the parent the tree was walked by (the session leader's, with by_session)
    every = "p.* REPLACE (s.parent AS parent_instance)" if by_session else "p.*"
    cat.con.register("_tree_shown", shown)
    try:
        table = cat.query(f"SELECT s.root, s.depth, {every} FROM _tree_shown AS s "
                          "JOIN processes AS p USING (instance) ORDER BY s._ord")
    finally:
        cat.con.unregister("_tree_shown")
    return Forest(table, found, deeper, depth, limit, children)


def link_keys(links: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(key of each row, key of its parent: -1 for none) as int64, equal exactly when
    the key strings are: the keys' parts (:data:`_LINKS`) packed into one integer when
    they fit, else row numbers found by the key strings (the parent's composed from its
    parts)."""
    packed = _packed_keys(links) if links.num_rows else None
    if packed is not None:
        return packed
    parents = pc.index_in(_compose(links, "p"), value_set=_compose(links, "i"))
    return (np.arange(links.num_rows, dtype=np.int64),
            pc.fill_null(parents, -1).to_numpy().astype(np.int64))


#: Bits a packed key may use (it must stay a non-negative int64).
KEY_BITS = 62


def _packed_keys(links: pa.Table) -> tuple[np.ndarray, np.ndarray] | None:
    """(key of each instance, key of each parent: -1 for none) as int64, equal exactly
    when the key strings are; None when they do not fit :data:`KEY_BITS` (or a key did
    not parse: none that the SQL writes)."""
    if links["i_pid"].null_count or links["i_ms"].null_count:
        return None
    has_parent = pc.and_(pc.is_valid(links["p_pid"]), pc.is_valid(links["p_ms"])
                         ).to_numpy(zero_copy_only=False)
    machines = pc.dictionary_encode(links["i_machine"]).combine_chunks()
    n_machines = len(machines.dictionary) + 1  # + a parent's machine no instance is on
    p_mach = pc.fill_null(pc.index_in(links["p_machine"], value_set=machines.dictionary),
                          n_machines - 1).to_numpy().astype(np.int64)
    i_pid, i_ms = (links[n].to_numpy().astype(np.int64, copy=False) for n in ("i_pid", "i_ms"))
    p_pid, p_ms = (pc.fill_null(links[n], 0).to_numpy().astype(np.int64, copy=False)
                   for n in ("p_pid", "p_ms"))
    lo_pid = int(min(i_pid.min(), p_pid[has_parent].min(initial=i_pid.min())))
    lo_ms = int(min(i_ms.min(), p_ms[has_parent].min(initial=i_ms.min())))
    pids = int(max(i_pid.max(), p_pid.max())) - lo_pid + 1
    span = int(max(i_ms.max(), p_ms.max())) - lo_ms + 1
    if n_machines * pids * span >= 1 << KEY_BITS:
        return None
    mine = machines.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    for key in (mine, p_mach):  # in place: arrays of millions
        key *= pids
    mine += i_pid - lo_pid
    p_mach += p_pid - lo_pid
    for key, ms in ((mine, i_ms), (p_mach, p_ms)):
        key *= span
        key += ms - lo_ms
    p_mach[~has_parent] = -1
    return mine, p_mach


def instance_keys(links: pa.Table, rows: np.ndarray) -> pa.Array:
    """The instance keys of ``rows`` of ``links`` (-1: null)."""
    return _compose(links.take(pa.array(rows, mask=rows < 0)), "i").combine_chunks()


def _compose(links: pa.Table, side: str) -> pa.ChunkedArray:
    """The keys ``<pid>@<start ms>[@<machine>]`` of ``side`` ("i": the row's own, "p":
    its parent's) from their parts, as sql/21_process_instances.sql writes them."""
    head = pc.binary_join_element_wise(pc.cast(links[f"{side}_pid"], pa.string()),
                                       pc.cast(links[f"{side}_ms"], pa.string()), "@")
    machine = links[f"{side}_machine"]
    return pc.if_else(pc.equal(machine, ""), head,
                      pc.binary_join_element_wise(head, machine, "@"))


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
