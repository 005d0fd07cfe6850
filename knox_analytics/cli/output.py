"""How answers leave knox: a terminal table, CSV, JSON, NDJSON or Parquet.

Everything goes through Arrow: columns are turned into text a whole column at a time
(``pyarrow.compute``) and written by Arrow's own CSV and Parquet writers, never row by
row in Python, except for JSON and for nested columns.  The rules, the same for every
command:

- times are ISO 8601 in the ``--tz`` zone (UTC by default, with ``Z``; another zone
  carries its offset); a terminal table names the zone in the header (``time (UTC)``);
- lists and structs are JSON in CSV (``["ls","-l"]``, argument boundaries kept) and real
  arrays in JSON; bytes are hex;
- intervals are ISO 8601 durations (``PT1H2M3.5S``) in files, ``1:02:03.500`` in tables;
  Parquet gets a duration column when no interval counts months;
- a table wider than the terminal is shown one record per block (``column  value``)
  instead of squeezing columns to two characters; times and addresses never wrap.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.errors import OutputError, OutputExistsError
from knox_analytics.store.safefs import require_parent
from knox_analytics.zones import UTC, Zone
from knox_analytics.zones import zone as as_zone


# -- where ----------------------------------------------------------------------------------
def check_output(output: Path, force: bool) -> None:
    """Refuse, in one line, an output that cannot or must not be written."""
    if output.is_dir():
        raise OutputError(f"{output}: is a directory (--output names a file)")
    require_parent(output)
    parent = output.parent if str(output.parent) else Path(".")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{output}: permission denied (cannot write in {parent})")
    if output.exists() and not force:
        raise OutputExistsError(f"{output}: exists (use --force to replace it)")


# -- times -----------------------------------------------------------------------------------
def _times(column: pa.ChunkedArray, zone: str, sep: str, offset: bool) -> pa.ChunkedArray:
    """ISO 8601 text of a timestamp column in ``zone``.  Casting a zone-less timestamp to
    text is ~30x faster in Arrow than strftime or a zoned cast, so the wall-clock time is
    made zone-less first (``local_timestamp``) and the offset computed apart."""
    if column.type.tz is None:  # knox times are UTC; a naive one (from SQL) is UTC too
        column = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
    if column.type.unit in ("us", "ns"):  # audit times are milliseconds: say no more
        with contextlib.suppress(pa.ArrowInvalid):
            column = column.cast(pa.timestamp("ms", tz=column.type.tz), safe=True)
    unit = column.type.unit
    naive_utc = column.cast(pa.timestamp(unit))
    wall = naive_utc if zone == "UTC" else pc.local_timestamp(
        column.cast(pa.timestamp(unit, tz=zone)))
    text = wall.cast(pa.string())
    if sep != " ":
        text = pc.replace_substring(text, " ", sep, max_replacements=1)
    if not offset:
        return text
    if zone == "UTC":
        return pc.binary_join_element_wise(text, "Z", "")
    return pc.binary_join_element_wise(text, _offsets(wall, naive_utc), "")


def _offsets(wall: pa.ChunkedArray, utc: pa.ChunkedArray) -> pa.ChunkedArray:
    """``+01:00`` per row: wall-clock minus UTC, in minutes (it changes with DST)."""
    per_minute = {"s": 60, "ms": 60_000, "us": 60_000_000, "ns": 60_000_000_000}
    minutes = pc.divide(pc.subtract(wall.cast(pa.int64()), utc.cast(pa.int64())),
                        per_minute[wall.type.unit])
    sign = pc.if_else(pc.less(minutes, 0), "-", "+")
    minutes = pc.abs(minutes)
    hours = pc.utf8_lpad(pc.divide(minutes, 60).cast(pa.string()), 2, "0")
    mins = pc.utf8_lpad(pc.subtract(minutes, pc.multiply(pc.divide(minutes, 60), 60))
                        .cast(pa.string()), 2, "0")
    return pc.binary_join_element_wise(sign, hours, ":", mins, "")


# -- intervals --------------------------------------------------------------------------------
def _interval_parts(value: Any) -> tuple[int, int, int]:
    return (value.months, value.days, value.nanoseconds) if value is not None else (0, 0, 0)


def iso_duration(value: Any) -> str | None:
    """A month-day-nano interval as ISO 8601 (``P1M2DT3H4M5.5S``)."""
    if value is None:
        return None
    months, days, nanos = _interval_parts(value)
    sign = "-" if nanos < 0 else ""
    secs = abs(nanos) / 1e9
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    date = (f"{months}M" if months else "") + (f"{days}D" if days else "")
    clock = (f"{int(h)}H" if h else "") + (f"{int(m)}M" if m else "") + \
        (f"{s:.9f}".rstrip("0").rstrip(".") + "S" if s or not (h or m or date) else "")
    return f"P{date}" + (f"T{sign}{clock}" if clock else "")


def human_duration(value: Any) -> str | None:
    """A month-day-nano interval as a table shows it (``2 days 1:02:03.500``)."""
    if value is None:
        return None
    months, days, nanos = _interval_parts(value)
    total = timedelta(microseconds=nanos / 1000)
    parts = [f"{months} month{'s' * (months != 1)}"] if months else []
    parts += [f"{days} day{'s' * (days != 1)}"] if days else []
    return " ".join([*parts, str(total).rstrip("0") if "." in str(total) else str(total)])


def _intervals_for_parquet(column: pa.ChunkedArray) -> pa.Array:
    values = column.to_pylist()
    if all(v is None or v.months == 0 for v in values):
        return pa.array([None if v is None else v.days * 86_400_000_000 + v.nanoseconds // 1000
                         for v in values], pa.duration("us"))
    return pa.array([iso_duration(v) for v in values], pa.string())


# -- column preparation ---------------------------------------------------------------------
def _is_nested(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t) or \
        pa.types.is_map(t) or pa.types.is_fixed_size_list(t)


def _plain(value: Any) -> Any:
    """A Python value of a nested column as JSON can hold it."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, timedelta):
        return value.total_seconds()
    if hasattr(value, "months") and hasattr(value, "nanoseconds"):
        return iso_duration(value)
    return value


def _json_column(column: pa.ChunkedArray) -> pa.Array:
    return pa.array([None if v is None else json.dumps(_plain(v), ensure_ascii=False)
                     for v in column.to_pylist()], pa.string())


def text_columns(table: pa.Table, zone: str, *, for_table: bool = False) -> pa.Table:
    """``table`` with every column a scalar Arrow writers print as the rules say."""
    columns = []
    for column in table.columns:
        t = column.type
        if pa.types.is_timestamp(t):
            column = _times(column, zone, " " if for_table else "T", offset=not for_table)
        elif t == pa.month_day_nano_interval():
            show = human_duration if for_table else iso_duration
            column = pa.array([show(v) for v in column.to_pylist()], pa.string())
        elif pa.types.is_duration(t):
            column = pc.cast(column, pa.int64())
        elif _is_nested(t):
            column = _json_column(column)
        elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
            column = pa.array([None if v is None else v.hex() for v in column.to_pylist()],
                              pa.string())
        elif pa.types.is_dictionary(t):
            column = column.cast(t.value_type)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def time_header(table: pa.Table, zone: str) -> list[str]:
    """Column names with the zone of each time column: ``time (UTC)``."""
    return [f"{n} ({zone})" if pa.types.is_timestamp(table.schema.field(n).type) else n
            for n in table.column_names]


# -- writers ----------------------------------------------------------------------------------
def write_text(table: pa.Table, fmt: str, output: Path | None,
               tz: Zone | str = UTC) -> None:
    """CSV (Arrow's writer), JSON or NDJSON to ``output`` or stdout."""
    zone = as_zone(tz).name
    if output is None:
        sys.stdout.flush()
    if fmt == "csv":
        _write_csv(text_columns(table, zone), output)
    else:
        _write_json(text_columns_json(table, zone), fmt, output)
    if output is None:
        sys.stdout.buffer.flush()


def _write_csv(table: pa.Table, output: Path | None) -> None:
    """The header as the csv module writes it (quoted only when needed), the rows by
    Arrow's writer (strings quoted, a whole column at a time)."""
    import csv
    import io

    from pyarrow import csv as arrow_csv

    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(table.column_names)
    with (output.open("wb") if output is not None else _Stdout()) as fh:
        fh.write(head.getvalue().encode("utf-8"))
        arrow_csv.write_csv(table, fh, arrow_csv.WriteOptions(include_header=False))


class _Stdout:
    """stdout's bytes, flushed but not closed at the end."""

    def __enter__(self) -> Any:
        return sys.stdout.buffer

    def __exit__(self, *_: object) -> None:
        sys.stdout.buffer.flush()


def text_columns_json(table: pa.Table, zone: str) -> pa.Table:
    """Times as ISO strings (vectorized); nested columns stay nested for JSON."""
    columns = [_times(c, zone, "T", offset=True) if pa.types.is_timestamp(c.type) else c
               for c in table.columns]
    return pa.table(columns, names=table.column_names)


def _write_json(table: pa.Table, fmt: str, output: Path | None) -> None:
    rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]
    if fmt == "json":
        text = json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    else:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def write_parquet(table: pa.Table, output: Path) -> None:
    """Arrow's Parquet writer (zstd); intervals become durations (or ISO text)."""
    import pyarrow.parquet as pq

    columns = [_intervals_for_parquet(c) if c.type == pa.month_day_nano_interval() else c
               for c in table.columns]
    try:
        pq.write_table(pa.table(columns, names=table.column_names), output,
                       compression="zstd")
    except (pa.ArrowException, OSError) as exc:
        raise OutputError(f"{output}: cannot write Parquet ({exc})") from None


# -- the terminal -----------------------------------------------------------------------------
#: Columns never wrapped: a time or an address cut in two reads wrong.
_NO_WRAP = ("time", "addr", "port", "pid", "uid", "gid", "errno", "event", "instance")
_FOLDED = 6  # a text column can be folded down to this width (its header too)
_READABLE = 16  # ... but is given this much when the terminal has it


def print_table(table: pa.Table, title: str | None = None, tz: Zone | str = UTC) -> None:
    """A rich table at its natural width; one block per record when wider than the
    terminal (as psql's expanded display)."""
    from rich.console import Console

    zone = as_zone(tz).name
    table = who_column(table)
    header = time_header(table, zone)
    rows = _cells(text_columns(table, zone, for_table=True))
    console = Console(soft_wrap=False)
    # A pipe has no width: write the table whole (`| less -S`, `| head`), each column as
    # wide as its widest value and no line padded past its last character.  A terminal
    # (or COLUMNS) has one: fold long text, and past it show one record per block.
    if not (console.is_terminal or "COLUMNS" in os.environ):
        _print_plain(header, rows, title)
    elif _least_width(header, rows) > console.width:
        _print_expanded(console, header, rows)
    else:
        _print_rich(console, header, rows, title)
    warn_rows(table.num_rows)


def _print_plain(header: list[str], rows: list[list[str]], title: str | None) -> None:
    """The table as the terminal shows it, for a pipe or a file: no trailing blanks."""
    from rich.cells import cell_len

    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in rows])
              for i, h in enumerate(header)]
    total = sum(widths) + 3 * max(0, len(widths) - 1)

    def line(cells: list[str]) -> str:
        return "   ".join(c + " " * (w - cell_len(c))
                          for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [title] if title else []
    out += [line(header), "─" * total]
    out += [line(r) for r in rows]
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def who_column(table: pa.Table) -> pa.Table:
    """``user`` and ``euser`` as one column for a table, ``alice→root`` where the login
    and the effective user differ (as ``ausearch -i`` and laurel show it); files keep
    both columns."""
    names = table.column_names
    if "user" not in names or "euser" not in names:
        return table
    user = table.column("user").cast(pa.string())
    euser = table.column("euser").cast(pa.string())
    differ = pc.fill_null(pc.not_equal(pc.fill_null(user, "?"), euser), False)
    both = pc.binary_join_element_wise(pc.fill_null(user, "?"), euser, "→")
    merged = pc.if_else(differ, both, user)
    return table.set_column(names.index("user"), "user", merged).drop_columns(["euser"])


def _least_width(header: list[str], rows: list[list[str]]) -> int:
    """The narrowest a readable table can be: columns that must not wrap at full width,
    the others folded down to :data:`_FOLDED` characters (or their own width)."""
    total = 1
    for i, name in enumerate(header):
        natural = max([len(name)] + [len(r[i]) for r in rows[:500]])
        keep = any(k in name for k in _NO_WRAP)
        total += 3 + (natural if keep else min(natural, _FOLDED))
    return total


def _cells(table: pa.Table) -> list[list[str]]:
    columns = [c.to_pylist() for c in table.columns]
    return [[_cell(c[i]) for c in columns] for i in range(table.num_rows)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _print_rich(console: Any, header: list[str], rows: list[list[str]],
                title: str | None) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    # No outer edge and a header rule only: two columns fewer of frame per column, so that
    # at 80 columns the text that must wrap (command lines, paths) gets the room.
    view = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, show_edge=False,
                 pad_edge=False)
    for i, name in enumerate(header):
        keep = any(k in name for k in _NO_WRAP)
        natural = max([len(name)] + [len(r[i]) for r in rows[:500]])
        view.add_column(Text(name), no_wrap=keep, overflow="ellipsis" if keep else "fold",
                        min_width=None if keep else min(natural, _READABLE))
    for row in rows:  # Text: a cell's "[...]" is data, not rich markup
        view.add_row(*(Text(c) for c in row))
    console.print(view)


def _print_expanded(console: Any, header: list[str], rows: list[list[str]]) -> None:
    width = max(len(h) for h in header)
    out = []
    for n, row in enumerate(rows, 1):
        out.append(f"-[ record {n} ]" + "-" * max(0, 40 - len(str(n))))
        out.extend(f"{h.ljust(width)} | {v}" for h, v in zip(header, row, strict=True))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    sys.stdout.flush()


def warn_rows(n: int) -> None:
    sys.stderr.write(f"{n} row{'s' * (n != 1)}\n")
