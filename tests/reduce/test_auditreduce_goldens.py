"""Differential test against OpenBSM's auditreduce (tests/data/trails/auditreduce/).

Each golden is ``auditreduce FLAGS TRAIL | praudit -ln`` (TZ=UTC).  ``knox reduce FLAGS
TRAIL | knox print -ln -`` must give the same lines, and so must ``knox print -ln`` with
the equivalent long options — over the records auditreduce can read for those flags
(README there): auditreduce applies its options to header32 records only (another header
takes the class and time of the previous header32 record, or none), reads the subject
fields from subject32 *and* process32 tokens, and the outcome of ``-c`` from return32
only.  On the other records knox's documented meaning decides (docs/praudit-compat.md),
so they are left out on both sides, and how many were left out is checked as well.
"""

from __future__ import annotations

import io
import re
import shlex
from functools import cache

import pyarrow as pa
import pytest
from knoxtest import TRAILS

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.cli.common import build_filters
from knox_analytics.reduce import auditreduce_filters, reduce_records
from knox_analytics.render import PrintOptions, render_table

GOLDENS = TRAILS / "auditreduce"
LN = PrintOptions(resolve=False, oneline=True)
ROWS = [line.split("\t") for line in
        (GOLDENS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]]
#: praudit with OpenBSM's table prints the macOS session events as numbers; knox names
#: them (docs/praudit-compat.md).
SESSION = {b"44901": b"session start", b"44902": b"session update",
           b"44903": b"session end", b"44904": b"session close"}
HEADER32, FILE_TOKEN, RETURN32, RETURN64 = 0x14, 0x11, 0x27, 0x72
SUBJECT32, PROCESS32 = 0x24, 0x26
OTHER_SUBJECTS = {0x75, 0x7a, 0x7c, 0x77, 0x7b, 0x7d}  # subject/process 64, _ex forms
SUBJECT_FLAGS = {"-u", "-e", "-r", "-f", "-g", "-j"}


def parse(flags: str) -> dict:
    """auditreduce's command line as keyword arguments of :func:`auditreduce_filters`."""
    kw: dict = {"m": [], "o": []}
    words = iter(shlex.split(flags))
    for word in words:
        key = word[1:]
        if key == "v":
            kw["v"] = True
        elif key in ("m", "o"):
            kw[key].append(next(words))
        else:
            value = next(words)
            kw[key] = int(value) if key in "fgj" else value
    return kw


def long_options(flags: str) -> dict | None:
    """The same selection as knox print's long options (None: no long form exists)."""
    kw = parse(flags)
    out: dict = {}
    names = {"u": "auid", "e": "euid", "r": "ruid", "f": "egid", "g": "rgid", "j": "pid",
             "c": "classes"}
    for key, value in kw.items():
        if key in names:
            out[names[key]] = value
        elif key == "m" and value:
            out["event"] = value
        elif key == "v":
            out["invert"] = True
        elif key in ("a", "b", "d") or (key == "o" and value):
            return None  # auditreduce's own time/object forms: knox reduce only
    return out


@cache
def records_of(trail: str) -> tuple[list[bytes], pa.Table]:
    """Each record of the trail as knox print -ln renders it (one line, or more when a
    string holds a newline), and the decoded table."""
    table = decode_bytes((TRAILS / trail).read_bytes(), trail).table
    return [render_table(table.slice(i, 1), LN) for i in range(table.num_rows)], table


def unreadable(trail: str, flags: str) -> set[int]:
    """Rows auditreduce cannot read for ``flags`` (see the module docstring)."""
    _, table = records_of(trail)
    used = {w for w in shlex.split(flags) if w.startswith("-")}
    out = set()
    for i, (header, tokens) in enumerate(zip(table.column("header_token").to_pylist(),
                                             table.column("token_ids").to_pylist(),
                                             strict=True)):
        tokens = set(tokens or ())
        other_header = header not in (HEADER32, FILE_TOKEN)
        other_subject = bool(used & SUBJECT_FLAGS) and bool(
            tokens & OTHER_SUBJECTS or PROCESS32 in tokens)
        return64_only = "-c" in used and RETURN32 not in tokens and RETURN64 in tokens
        if other_header or other_subject or return64_only:
            out.add(i)
    return out


def rows_in(text: bytes, trail: str) -> list[int]:
    """Which rows of the trail ``text`` (a -ln print of some of them, in order) holds."""
    records, _ = records_of(trail)
    rows, at = [], 0
    for i, record in enumerate(records):
        if text.startswith(record, at):
            rows.append(i)
            at += len(record)
    assert at == len(text), f"not a print of {trail}'s records: {text[at:at + 200]!r}"
    return rows


def golden(out: str) -> bytes:
    text = (GOLDENS / out).read_bytes()
    return re.sub(rb"(?m)^(header,\d+,\d+,)(4490[1-4]),",
                  lambda m: m.group(1) + SESSION[m.group(2)] + b",", text)


def readable(text: bytes, trail: str, flags: str) -> list[int]:
    skip = unreadable(trail, flags)
    return [i for i in rows_in(text, trail) if i not in skip]


def reduced(trail: str, filters: object) -> bytes:
    buf = io.BytesIO()
    reduce_records([str(TRAILS / trail)], filters, buf)
    return buf.getvalue()


def printed(data: bytes) -> bytes:
    return render_table(decode_bytes(data, "<stdin>").table, LN) if data else b""


@pytest.mark.usefixtures("utc")
@pytest.mark.parametrize(("trail", "flags", "out", "count"), ROWS,
                         ids=[f"{r[0].split('.')[0]}:{r[1]}" for r in ROWS])
def test_knox_reduce_equals_auditreduce(trail: str, flags: str, out: str, count: str) -> None:
    expected = golden(out)
    assert expected.count(b"\n") == int(count)  # MANIFEST counts lines
    mine = printed(reduced(trail, auditreduce_filters(**parse(flags))))
    assert readable(mine, trail, flags) == readable(expected, trail, flags)


@pytest.mark.usefixtures("utc")
@pytest.mark.parametrize(("trail", "flags", "out"), [r[:3] for r in ROWS if long_options(r[1])
                                                     is not None],
                         ids=[f"{r[0].split('.')[0]}:{r[1]}" for r in ROWS
                              if long_options(r[1]) is not None])
def test_print_long_options_equal_auditreduce(trail: str, flags: str, out: str) -> None:
    from knox_analytics.render.records import iter_inputs
    from knox_analytics.select import RecordSelector

    selector = RecordSelector(build_filters(**long_options(flags)))
    tables = list(selector.select(iter_inputs([str(TRAILS / trail)], lambda _d: None)))
    mine = b"".join(render_table(t, LN) for t in tables)
    assert readable(mine, trail, flags) == readable(golden(out), trail, flags)


@pytest.mark.parametrize("trail", sorted({r[0] for r in ROWS}))
def test_reduce_round_trips(trail: str) -> None:
    from knox_analytics.questions import Filters

    data = (TRAILS / trail).read_bytes()
    assert reduced(trail, Filters()) == data
