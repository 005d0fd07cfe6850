"""Render a sequence of decoded tables as one output stream (praudit text/XML or JSONL).

Pure: takes tables, yields bytes; :mod:`knox_analytics.render.records` supplies the tables
(trail files, stdin, Parquet datasets) and the CLI writes the bytes.

Example::

    >>> from knox_analytics.render.tokenfmt import PrintOptions
    >>> b"".join(render_stream([], PrintOptions(xml=True)))
    b"<?xml version='1.0' ?>\\n<audit>\\n</audit>\\n"
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from knox_analytics.render.jsonl import render_jsonl
from knox_analytics.render.praudit import XML_FOOTER, XML_HEADER, render_table
from knox_analytics.render.tokenfmt import Ctx, PrintOptions


def render_stream(tables: Iterable[pa.Table], opts: PrintOptions, *, json: bool = False
                  ) -> Iterator[bytes]:
    """Yield the output chunk by chunk, as soon as each table is rendered."""
    ctx = Ctx(opts)
    if opts.xml and not json:
        yield XML_HEADER
    for table in tables:
        if json:
            yield render_jsonl(table, resolve=opts.resolve, ids=opts.ids, tables=opts.tables)
        else:
            yield render_table(table, opts, ctx)
    if opts.xml and not json:
        yield XML_FOOTER
