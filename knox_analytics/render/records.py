"""The records of the inputs as a stream of tables, in input order: what ``knox print``
renders and ``knox reduce`` writes, from trail files, stdin, or a converted dataset.

The one module of the render package that opens files.  What an input is comes from
:func:`knox_analytics.inputs.discover`, the rule every command shares (a directory of
trails: its trails, a README beside them skipped and listed); :func:`iter_inputs` takes
the paths or the inputs discovered already.  Trails go through
:func:`knox_analytics.bsm.reader.read_trail` (chunked, decompressing, stdin-aware); a
dataset or ``.parquet`` file is read back with pyarrow and put in input order: each
input's records in that input's order, the inputs merged by time (:func:`input_order`),
so a dataset of one trail prints exactly like the trail.

Example::

    >>> for table in iter_inputs(["trail.bsm"], print):  # doctest: +SKIP
    ...     table.num_rows
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from knox_analytics.bsm.damage import Damage
from knox_analytics.bsm.reader import TrailInput, read_trail
from knox_analytics.errors import InputError, NotBSMError
from knox_analytics.inputs import Given, Input, Inputs, discover, skip_or_raise
from knox_analytics.schema import SCHEMA

#: Bytes read from stdin at a time: small, so output starts while input still arrives.
STDIN_CHUNK = 64 * 1024
PARQUET_BATCH_ROWS = 65536


def iter_parquet(path: Path) -> Iterator[pa.Table]:
    """Rows of a dataset directory / Parquet file, in input order, in slices."""
    # by name: part-<run>-<seq>, the order they were written in
    files = [path] if path.is_file() else sorted(
        (p for p in path.rglob("*.parquet") if not p.name.startswith(".")),
        key=lambda p: (p.name, str(p)))
    if not files:
        return  # a dataset without records yet (an empty trail converts to none)
    try:
        dataset = ds.dataset([str(f) for f in files], format="parquet")
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot read as Parquet ({_first_line(exc)})") from None
    missing = [n for n in SCHEMA.names if n not in dataset.schema.names]
    if missing:
        raise InputError(f"{path}: not knox records (no column {missing[0]!r}): knox print "
                         "reads trails and datasets written by knox convert; an export of "
                         "a question (knox events -f parquet) holds only its columns")
    try:
        table = dataset.to_table(columns=SCHEMA.names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot read as a knox Parquet dataset "
                         f"({_first_line(exc)})") from None
    table = table.cast(SCHEMA)
    table = table.take(pa.array(input_order(table)))
    for start in range(0, table.num_rows, PARQUET_BATCH_ROWS):
        yield table.slice(start, PARQUET_BATCH_ROWS)


def input_order(table: pa.Table) -> np.ndarray:
    """Row order that keeps each input's records in that input's order and merges the
    inputs by time.

    Rows come in the order they were written (part files by name, rows as written); an
    input's records are a stretch of one source with rising offsets, a new stretch
    starting where the source changes or the offset falls back (two trails named
    ``current``, before and after rotation).  Stretches are merged on the running
    maximum of their times, then on offsets, which keeps every stretch in its order and
    the records of one input that went to several partitions in the input's order (the
    input's own order exactly while its times do not run backwards).
    """
    n = table.num_rows
    if n == 0:
        return np.zeros(0, np.int64)
    source = table.column("source").combine_chunks()
    codes = (source.indices if pa.types.is_dictionary(source.type)
             else source.dictionary_encode().indices).to_numpy(zero_copy_only=False)
    offsets = table.column("offset").to_numpy(zero_copy_only=False)
    new = np.ones(n, dtype=bool)
    new[1:] = (codes[1:] != codes[:-1]) | (offsets[1:] <= offsets[:-1])
    stretch = np.cumsum(new) - 1
    ms = pc.cast(table.column("time"), pa.int64())
    low = pc.min(ms).as_py() or 0
    times = pc.fill_null(ms, low).to_numpy(zero_copy_only=False) - low  # no time: first
    span = int(times.max()) + 1
    # running maximum within each stretch: one accumulate over stretches lifted apart
    lifted = times + stretch * span
    running = np.maximum.accumulate(lifted) - stretch * span
    # ties (the same running time) by offset: the stretches of one input in different
    # partitions (header_ex addresses, days) interleave as they were in the input
    return np.lexsort((np.arange(n), stretch, offsets, running))


def iter_trail(name: str, on_damage: Callable[[Damage], None],
               stdin: BinaryIO | None = None) -> Iterator[pa.Table]:
    """Decoded chunks of one trail file, or of stdin for ``-``."""
    if name == "-":
        source = TrailInput(stdin, "<stdin>", None) if stdin is not None else "-"
        results = read_trail(source, chunk_size=STDIN_CHUNK, live=True)
    else:
        results = read_trail(name)
    for result in results:
        for damage in result.damage:
            on_damage(damage)
        yield result.table


def iter_inputs(names: Given, on_damage: Callable[[Damage], None],
                stdin: BinaryIO | None = None,
                skipped: list[tuple[str, str]] | None = None) -> Iterator[pa.Table]:
    """Tables of every input in order; no names means stdin (like praudit).  Files found
    in a directory that are not trails are appended to ``skipped``, not an error."""
    skipped = [] if skipped is None else skipped
    found = discover(names if isinstance(names, Inputs) else list(names) or ["-"])
    for item in found.items:
        yield from iter_input(item, on_damage, stdin, skipped)


def iter_input(item: Input, on_damage: Callable[[Damage], None],
               stdin: BinaryIO | None = None,
               skipped: list[tuple[str, str]] | None = None) -> Iterator[pa.Table]:
    """Tables of one input (see :func:`iter_inputs`)."""
    if item.kind in ("dataset", "parquet"):
        yield from iter_parquet(Path(item.path))
        return
    try:
        yield from iter_trail(item.path, on_damage, stdin)
    except NotBSMError as exc:
        skip_or_raise(exc, item, [] if skipped is None else skipped)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
