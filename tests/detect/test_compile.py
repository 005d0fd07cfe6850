"""The Sigma → SQL backend: modifiers, conditions, cidr as integer ranges, and the
reasons a rule does not compile."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("sigma")

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from knox_analytics.detect.rules import compile_files


def _rule(tmp_path: Path, detection: str, category: str = "process_creation",
          product: str = "macos") -> object:
    f = tmp_path / "r.yml"
    f.write_text(textwrap.dedent(f"""\
        title: t
        id: 11111111-2222-3333-4444-555555555555
        status: test
        author: a
        logsource:
            product: {product}
            category: {category}
        detection:
        """) + textwrap.indent(textwrap.dedent(detection), "    ") + "level: high\n")
    [r] = compile_files([f])
    return r


def _match(r, rows: list[dict]) -> list[bool]:
    con = duckdb.connect()
    con.execute("CREATE MACRO ipv4_int(addr) AS CASE WHEN regexp_full_match(addr, "
                "'\\d+\\.\\d+\\.\\d+\\.\\d+') THEN (CAST(split_part(addr,'.',1) AS BIGINT)<<24)"
                " + (CAST(split_part(addr,'.',2) AS BIGINT)<<16) + (CAST(split_part(addr,'.',3)"
                " AS BIGINT)<<8) + CAST(split_part(addr,'.',4) AS BIGINT) END")
    out = []
    for row in rows:
        cols = ", ".join(f"{_lit(v)} AS \"{k}\", lower({_lit(v)}) AS \"_lc_{k}\""
                         for k, v in row.items())
        out.append(bool(con.sql(f"SELECT COALESCE({r.where}, false) FROM (SELECT {cols})")
                        .fetchall()[0][0]))
    return out


def _lit(v: object) -> str:
    if v is None:
        return "CAST(NULL AS VARCHAR)"
    return "'" + str(v).replace("'", "''") + "'"


def test_modifiers_case_insensitive(tmp_path):
    r = _rule(tmp_path, """\
        sel:
            Image|endswith: '/CURL'
            CommandLine|contains|all: ['-o', 'http']
        condition: sel
        """)
    assert r.compiled, r.reason
    rows = [{"image": "/usr/bin/curl", "command_line": "curl -o x HTTP://a"},
            {"image": "/usr/bin/curl", "command_line": "curl http://a"},
            {"image": "/usr/bin/curly", "command_line": "curl -o x http://a"}]
    assert _match(r, rows) == [True, False, False]


def test_wildcards_escape_like_specials(tmp_path):
    r = _rule(tmp_path, """\
        sel:
            CommandLine: 'a%b*c_d?'
        condition: sel
        """)
    rows = [{"command_line": "a%bXYZc_dQ"}, {"command_line": "aXbXYZc_dQ"},
            {"command_line": "a%bc_d"}, {"command_line": "a%bcXdQ"}]
    assert _match(r, rows) == [True, False, False, False]


def test_not_holds_without_the_field(tmp_path):
    r = _rule(tmp_path, """\
        sel:
            Image|endswith: '/sh'
        filter:
            ParentImage|endswith: '/Terminal'
        condition: sel and not filter
        """)
    rows = [{"image": "/bin/sh", "parent_image": None},
            {"image": "/bin/sh", "parent_image": "/x/Terminal"}]
    assert _match(r, rows) == [True, False]


def test_re_is_case_sensitive_and_cased_modifier(tmp_path):
    r = _rule(tmp_path, """\
        sel:
            CommandLine|re: '^ab+c$'
        cased:
            Image|cased: '/Bin/X'
        condition: sel or cased
        """)
    rows = [{"command_line": "abbc", "image": "/bin/x"},
            {"command_line": "ABBC", "image": "/bin/x"},
            {"command_line": "z", "image": "/Bin/X"}]
    assert _match(r, rows) == [True, False, True]


def test_exists_and_windash(tmp_path):
    r = _rule(tmp_path, """\
        sel:
            CommandLine|windash|contains: ' -w'
            ParentImage|exists: true
        condition: sel
        """)
    rows = [{"command_line": "security x /w", "parent_image": "/p"},
            {"command_line": "security x -w", "parent_image": None},
            {"command_line": "security x", "parent_image": "/p"}]
    assert _match(r, rows) == [True, False, False]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(8, 32), st.integers(0, 2**32 - 1))
def test_cidr_is_an_integer_range(tmp_path_factory, net, bits, addr):
    import ipaddress

    network = ipaddress.ip_network((net, bits), strict=False)
    r = _rule(tmp_path_factory.mktemp("c"), f"""\
        sel:
            DestinationIp|cidr: '{network}'
        condition: sel
        """, category="network_connection")
    assert r.compiled, r.reason
    ip = str(ipaddress.ip_address(addr))
    assert _match(r, [{"destination_ip": ip}]) == [ipaddress.ip_address(addr) in network]


@pytest.mark.parametrize(("detection", "category", "product", "why"), [
    ("sel:\n    CurrentDirectory: '/tmp'\ncondition: sel\n", "process_creation", "macos",
     "field CurrentDirectory: BSM exec records carry no working directory"),
    ("sel:\n    Image: x\ncondition: sel\n", "process_creation", "windows",
     "logsource product 'windows'"),
    ("sel:\n    Image: x\ncondition: sel\n", "registry_set", "macos",
     "logsource category 'registry_set'"),
    ("keywords:\n    - 'evil'\ncondition: keywords\n", "process_creation", "macos",
     "keyword search"),
    ("sel:\n    Nonsense: x\ncondition: sel\n", "process_creation", "macos",
     "field Nonsense is not mapped"),
])
def test_reasons(tmp_path, detection, category, product, why):
    r = _rule(tmp_path, detection, category, product)
    assert not r.compiled
    assert why in r.reason
