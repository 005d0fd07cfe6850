"""The token-group -> column map (knox_analytics/bsm/columns.py) against tokens.py and the
schema: every group has a home, every column a source.  Fixtures: none but the macOS
trail and its praudit golden at the end (tests/data/trails/README.md)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from knoxtest import TRAILS

from knox_analytics.bsm import columns as C
from knox_analytics.bsm import tokens as T
from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.schema import PROCESS_STRUCT, SCHEMA

#: Columns that no token field fills directly: provenance, names looked up in tables,
#: the time rule's output, the lossless columns and the record id (the store's identity).
DERIVED = {"source", "offset", "header_token", "event_name", "event_classes", "time",
           "errno_name", "success", "token_ids", "raw_tokens", "record_id"}


def test_every_token_group_has_a_home() -> None:
    homes = {*C.ROW_COLUMNS, *C.STRUCT_SINGLETONS, *C.LIST_GROUPS}
    assert {t.group for t in T.TOKEN_TYPES} == homes
    assert set(C.SINGLETON_GROUPS) == {*C.FLAT_COLUMNS, *C.STRUCT_SINGLETONS}
    assert not set(C.SINGLETON_GROUPS) & set(C.LIST_GROUPS)


def test_every_column_has_a_source() -> None:
    filled = {c for g in {t.group for t in T.TOKEN_TYPES} for c in C.group_columns(g)}
    assert filled | DERIVED == set(SCHEMA.names)
    assert not filled & DERIVED - {"time"}


@pytest.mark.parametrize("group", sorted(C.ROW_COLUMNS))
def test_row_fields_are_token_fields(group: str) -> None:
    for tok in (t for t in T.TOKEN_TYPES if t.group == group):
        names = {n for _k, n in tok.layout}
        assert set(C.ROW_COLUMNS[group]) - {"host"} <= names, tok.name


@pytest.mark.parametrize("group", C.LIST_GROUPS)
def test_list_elements_match_token_fields(group: str) -> None:
    value_type = SCHEMA.field(group).type.value_type
    for tok in (t for t in T.TOKEN_TYPES if t.group == group):
        names = {n for _k, n in tok.layout}
        if group in C.LIST_ELEMENT:
            assert names == {C.LIST_ELEMENT[group]}, tok.name
        else:
            struct_names = {f.name for f in value_type}
            sockaddrs = {"local_port", "local_addr", "remote_port", "remote_addr"}
            names = (names - {"addrs"}) | sockaddrs if "addrs" in names else names
            assert names <= struct_names, tok.name


def test_subject_fields_are_the_subject_layout() -> None:
    for name in ("subject32", "subject64_ex", "process32", "process64_ex"):
        assert tuple(n for _k, n in T.TOKENS_BY_NAME[name].layout) == C.SUBJECT_FIELDS
    assert tuple(f.name for f in PROCESS_STRUCT) == C.SUBJECT_FIELDS


def test_signed_and_bool_fields_exist_with_signed_columns() -> None:
    for tid, fields in C.SIGNED.items():
        tok = T.TOKENS_BY_ID[tid]
        for name, bits in fields.items():
            kind = dict((n, k) for k, n in tok.layout)[name]
            assert T.FIXED_FIELD_SIZES[kind] * 8 == bits
            column = C.FLAT_COLUMNS[tok.group][name]
            assert pa.types.is_signed_integer(SCHEMA.field(column).type)
    for tid, flags in C.BOOL_FIELDS.items():
        group = T.TOKENS_BY_ID[tid].group
        struct = SCHEMA.field(group).type
        assert all(struct.field(f).type == pa.bool_() for f in flags)


def test_time_rule_on_scalars_and_arrays() -> None:
    assert C.time_ms(1_772_355_600, 34) == 1_772_355_600_034
    assert C.time_ms(1_772_355_600, 1500) == 1_772_355_601_500  # kept, but not exact
    assert not C.time_exact(1_772_355_600, 1500)
    assert C.time_ms(C.MAX_HEADER_SEC, 0) is None
    assert C.time_ms(0, 1 << 32) is None
    sec = np.array([0, C.MAX_HEADER_SEC, 5], dtype=np.uint64)
    msec = np.array([999, 0, 1000], dtype=np.uint64)
    assert C.time_valid(sec, msec).tolist() == [True, False, True]
    assert C.time_exact(sec, msec).tolist() == [True, False, False]


def test_signed() -> None:
    assert C.signed(0xFFFFFFFF, 32) == -1
    assert C.signed(0x7FFFFFFF, 32) == 0x7FFFFFFF
    assert C.signed(1 << 63, 64) == -(1 << 63)


def test_unset_auid_is_what_praudit_prints_as_minus_one() -> None:
    """Fixture: tests/data/trails/macos-10.9-apple.bsm and its praudit -ln golden (the
    record at line k of the golden is row k of the decoded table)."""
    table = decode_bytes((TRAILS / "macos-10.9-apple.bsm").read_bytes()).table
    golden = (TRAILS / "macos-10.9-apple.praudit-ln.txt").read_text().splitlines()
    auids = table.column("auid").to_pylist()
    unset = [i for i, a in enumerate(auids) if a == T.UNSET_AUID]
    assert unset and all(",subject,-1," in golden[i] for i in unset)
    assert not any(",subject,-1," in golden[i] for i, a in enumerate(auids)
                   if a is not None and a != T.UNSET_AUID)
