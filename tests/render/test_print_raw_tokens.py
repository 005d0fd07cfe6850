"""knox print for tokens the typed columns cannot hold (kept in ``raw_tokens``).

Fixtures: records written in the test with the project's encoder
(:mod:`knox_analytics.bsm.encode`, checked against libbsm output elsewhere), plus
hand-made bytes for an unknown token id; seeded random byte flips of
tests/data/trails/synthetic-all-tokens.bsm (provenance in its README.md).
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest
from knoxtest import TRAILS

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.bsm.encode import encode_record, encode_token
from knox_analytics.errors import KnoxError
from knox_analytics.render import XML_FOOTER, XML_HEADER, PrintOptions, render_table
from knox_analytics.render.jsonl import render_jsonl

T0 = 1_772_355_600_000  # 2026-03-01 09:00:00 UTC
SUBJECT = dict(auid=501, euid=0, egid=0, ruid=501, rgid=20, pid=7, sid=9, tid_port=0,
               tid_addr="10.0.0.1")


# the goldens were made with TZ=UTC (the `utc` fixture of tests/conftest.py)
pytestmark = pytest.mark.usefixtures("utc")


def _print(body: list[bytes], **opts: object) -> list[bytes]:
    trail = encode_record(body, event=45000, time_ms=T0)
    table = decode_bytes(trail, "t.bsm").table
    out = render_table(table, PrintOptions(resolve=False, **opts))  # type: ignore[arg-type]
    return out.split(b"\n")


def test_unknown_token_prints_praudits_unknown_form() -> None:
    lines = _print([encode_token("text", text="hi"), b"\xee\x01\x02\x03"])
    assert lines[1:4] == [b"text,hi", b"unknown,0x010203", b"trailer," + lines[3][8:]]
    raw = _print([b"\xee\x01\x02\x03"], raw=True)
    assert raw[1] == b"238,0x010203"


def test_string_that_is_not_utf8_prints_its_bytes() -> None:
    lines = _print([encode_token("path", path=b"/tmp/caf\xe9"), encode_token("text", text="ok")])
    assert lines[1:3] == [b"path,/tmp/caf\xe9", b"text,ok"]


def test_second_subject_and_return_are_printed_in_place() -> None:
    other = {**SUBJECT, "pid": 8}
    lines = _print([encode_token("subject32", **SUBJECT), encode_token("subject32", **other),
                    encode_token("return32", errno=0, value=0),
                    encode_token("return32", errno=2, value=-1)])
    assert lines[1:5] == [b"subject,501,0,0,501,20,7,9,0,10.0.0.1",
                          b"subject,501,0,0,501,20,8,9,0,10.0.0.1",
                          b"return,success,0",
                          b"return,failure : No such file or directory,4294967295"]


def test_identity_token_prints_its_decoded_fields() -> None:
    tok = encode_token("identity", signer_type=1, signing_id="com.apple.ls",
                       signing_id_truncated=0, team_id="", team_id_truncated=0,
                       cdhash=b"\x0a\x0b")
    assert _print([tok])[1] == b"identity,1,com.apple.ls,0,,0,0x0a0b"
    xml = _print([tok], xml=True)[1]
    elem = ET.fromstring(xml)
    assert elem.tag == "identity" and elem.attrib["signing-id"] == "com.apple.ls"


def test_raw_tokens_in_xml_and_json_stay_valid() -> None:
    body = [encode_token("path", path=b"/tmp/\xff<x>"), b"\xee\x01"]
    trail = encode_record(body, event=45000, time_ms=T0)
    table = decode_bytes(trail, "t.bsm").table
    doc = XML_HEADER + render_table(table, PrintOptions(xml=True)) + XML_FOOTER
    record = ET.fromstring(doc)[0]
    assert record[0].text == "/tmp/\\xff<x>"
    assert record[1].tag == "unknown" and record[1].text == "0x01"
    assert b'"type":"unknown"' in render_jsonl(table, resolve=False)


def test_mutated_trails_always_print_and_xml_stays_well_formed() -> None:
    """Random byte flips (seeded) in a reference trail: no crash, XML always parses."""
    base = (TRAILS / "synthetic-all-tokens.bsm").read_bytes()
    rnd = random.Random(1)
    checked = 0
    for _ in range(100):
        data = bytearray(base)
        for _flip in range(rnd.randint(1, 6)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        try:
            table = decode_bytes(bytes(data), "mutated.bsm").table
        except KnoxError:
            continue
        render_table(table, PrintOptions(resolve=False, raw=True, oneline=True))
        doc = render_table(table, PrintOptions(resolve=False, xml=True))
        ET.fromstring(XML_HEADER + doc + XML_FOOTER)
        render_jsonl(table, resolve=False)
        checked += 1
    assert checked > 60
