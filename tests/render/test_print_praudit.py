"""knox print against praudit: byte-identical -n / -ln / -rn goldens, well-formed -x.

Fixtures: tests/data/trails/*.bsm with the praudit outputs made from them (provenance in
tests/data/trails/README.md; praudit's known bugs in PRAUDIT-QUIRKS.md).  Every golden is
rendered from both decoders (the vectorized one and the reference oracle), through the
same parametrized fixture.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from knoxtest import TRAILS

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.bsm.reference import decode_reference
from knox_analytics.render import XML_FOOTER, XML_HEADER, PrintOptions, render_table

NAMES = sorted(p.stem for p in TRAILS.glob("*.bsm"))
MODES = {"n": PrintOptions(resolve=False),
         "ln": PrintOptions(resolve=False, oneline=True),
         "rn": PrintOptions(resolve=False, raw=True)}
Decoder = Callable[..., Any]
DECODERS: dict[str, Decoder] = {"vectorized": decode_bytes, "reference": decode_reference}


# the goldens were made with TZ=UTC (the `utc` fixture of tests/conftest.py)
pytestmark = pytest.mark.usefixtures("utc")


@pytest.fixture(params=sorted(DECODERS))
def decode(request: pytest.FixtureRequest) -> Decoder:
    return DECODERS[request.param]


def _table(decode: Decoder, name: str) -> pa.Table:
    return decode((TRAILS / f"{name}.bsm").read_bytes(), f"{name}.bsm").table


@pytest.mark.parametrize("mode", ["n", "ln"])
@pytest.mark.parametrize("name", NAMES)
def test_text_goldens_byte_identical(decode, name: str, mode: str) -> None:
    out = render_table(_table(decode, name), MODES[mode])
    assert out == (TRAILS / f"{name}.praudit-{mode}.txt").read_bytes()


_RAW_HEADER_EX = re.compile(rb'^21version="(\d+)" event="(\d+)" modifier="(\d+)" '
                            rb'host="([^"]*)" time="(\d+)" msec="(\d+)" >$')


def corrected_raw_golden(golden: bytes) -> bytes:
    """praudit -r prints header32_ex with XML attributes and no length (PRAUDIT-QUIRKS.md);
    rewrite those lines to the plain raw form, taking the length from the record's trailer.
    """
    lines = golden.split(b"\n")
    for i, line in enumerate(lines):
        m = _RAW_HEADER_EX.match(line)
        if m:
            trailer = next(x for x in lines[i:] if x.startswith(b"19,"))
            lines[i] = b",".join([b"21", trailer[3:], *m.groups()])
    return b"\n".join(lines)


@pytest.mark.parametrize("name", NAMES)
def test_raw_goldens_byte_identical_except_header32_ex(decode, name: str) -> None:
    golden = (TRAILS / f"{name}.praudit-rn.txt").read_bytes()
    out = render_table(_table(decode, name), MODES["rn"])
    assert out == corrected_raw_golden(golden)


def test_raw_header32_ex_is_the_plain_form() -> None:
    out = render_table(_table(decode_bytes, "synthetic-all-tokens"), MODES["rn"])
    assert b"\n21,166,11,83,0,10.20.30.40,1772355600,117\n" in out


def test_delimiter_and_short_names() -> None:
    table = _table(decode_bytes, "synthetic-all-tokens")
    out = render_table(table, PrintOptions(resolve=False, short=True, delimiter="|"))
    first = out.split(b"\n", 2)[:2]
    assert first == [b"header|259|11|AUE_EXECVE|0|Sun Mar  1 09:00:00 2026| + 0 msec",
                     b"path|/bin/ls"]


def test_local_time_zone_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    out = render_table(_table(decode_bytes, "synthetic-all-tokens"), MODES["n"])
    assert out.startswith(b"header,259,11,execve(2),0,Sun Mar  1 10:00:00 2026, + 0 msec\n")


# --- XML ------------------------------------------------------------------------------------

_BARE = {b"arg_uuid-num=": b"arg_uuid", b"ret_uuid-num=": b"ret_uuid",
         b"status=": b"upriv", b"type=": b"privilege"}


def _fix_record_line(line: bytes) -> bytes:
    """``<record ,len,ver,event,mod,host,time, + N msec`` (header32_ex) -> attributes."""
    fields = line[len(b"<record ,"):].split(b",")
    version, msec = fields[1], fields[-1]
    mod, host, when = fields[-4], fields[-3], fields[-2]
    event = b",".join(fields[2:-4])
    return (b'<record version="%s" event="%s" modifier="%s" host="%s" time="%s" '
            b'msec="%s" >' % (version, event, mod, host, when, msec))


def _fix_golden_line(line: bytes) -> bytes:
    """Undo praudit's known -x breakage (PRAUDIT-QUIRKS.md) on one line."""
    if line.startswith(b"<record ,"):
        return _fix_record_line(line)
    if line.startswith(b"<group>"):
        return line.replace(b"</group>", b"")[:] + b"</group>"
    if line.startswith(b"<IPCipc-type"):
        return b"<IPC " + line[4:]
    for attr, elem in _BARE.items():
        if line.startswith(attr):
            return b"<" + elem + b" " + line + b"/>"
    m = re.match(rb"^<(path|text)>(.*)</\1>$", line, re.S)
    if m:  # bodies are printed unescaped
        body = m.group(2).replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")
        return b"<%s>%s</%s>" % (m.group(1), body, m.group(1))
    for bad, good in ((b"\\M-<", b"\\M-&lt;"), (b"\\M->", b"\\M-&gt;")):
        line = line.replace(bad, good)  # vis(3) output is not escaped
    return line


def _records(doc: bytes) -> list[bytes]:
    body = doc.split(b"<audit>\n", 1)[1].rsplit(b"</audit>", 1)[0]
    return [b"<record" + r for r in body.split(b"<record")[1:]]


def _normalise(elem: ET.Element) -> tuple:
    attrs = {k: (v.replace(" ", "") if k == "tid" else v) for k, v in elem.attrib.items()}
    return (elem.tag, attrs, (elem.text or "").strip("\n"),
            [_normalise(c) for c in elem])


@pytest.mark.parametrize("name", NAMES)
def test_xml_is_well_formed_and_matches_golden(name: str) -> None:
    table = _table(decode_bytes, name)
    doc = XML_HEADER + render_table(table, PrintOptions(resolve=False, xml=True)) + XML_FOOTER
    root = ET.fromstring(doc)  # well-formed, or this raises
    assert root.tag == "audit" and len(root) == table.num_rows
    golden = (TRAILS / f"{name}.praudit-xn.xml").read_bytes()
    compared = 0
    for mine, theirs in zip(root, _records(golden), strict=True):
        fixed = b"\n".join(_fix_golden_line(x) for x in theirs.split(b"\n"))
        try:
            expected = ET.fromstring(fixed)
        except ET.ParseError:
            continue  # e.g. a NUL byte from a data token: no XML parser reads it
        assert _normalise(mine) == _normalise(expected)
        compared += 1
    assert compared >= 0.9 * table.num_rows


def test_xml_escapes_what_praudit_does_not() -> None:
    table = _table(decode_bytes, "synthetic-all-tokens")
    doc = render_table(table, PrintOptions(resolve=False, xml=True))
    assert b"<text>tab\there &quot;quoted&quot; back\\slash &lt;xml&gt; &amp; amp</text>" in doc
    assert b"<group><gid>20</gid><gid>12</gid><gid>61</gid><gid>79</gid><gid>701</gid>" \
           b"</group>" in doc
    assert b'<IPC ipc-type="Message IPC" ipc-id="65538" />' in doc
