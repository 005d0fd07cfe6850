"""Tests of knox_analytics.bsm.tables: the packaged tables, the loader and the lookups.

Fixtures: the praudit goldens and truth sidecars in tests/data/trails (provenance in its
README.md: praudit from OpenBSM 6230904e on Linux, TZ=UTC, the OpenBSM audit_event table);
the small audit_event / audit_class files below are written by the tests into tmp_path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from knoxtest import TRAILS

from knox_analytics.bsm import tables
from knox_analytics.bsm.tables import load_tables
from knox_analytics.errors import InputError, KnoxError, UsageError
from knox_analytics.schema import SCHEMA

DATA = Path(tables.__file__).parent.parent / "data"


@pytest.fixture(scope="module")
def builtin() -> tables.Tables:
    return load_tables("builtin")


def golden_pairs(kind: bytes) -> list[tuple[bytes, bytes]]:
    """(praudit -n line, praudit -rn line) pairs whose -n line starts with ``kind``."""
    pairs = []
    for named in sorted(TRAILS.glob("*.praudit-n.txt")):
        raw = named.with_name(named.name.replace("-n.txt", "-rn.txt"))
        a, b = named.read_bytes().split(b"\n"), raw.read_bytes().split(b"\n")
        assert len(a) == len(b), named
        pairs += [(x, y) for x, y in zip(a, b, strict=True) if x.startswith(kind)]
    return pairs


# --- known entries ------------------------------------------------------------------------
def test_execve(builtin: tables.Tables) -> None:
    ev = builtin.events
    assert ev.name(23) == "AUE_EXECVE"
    assert ev.description(23) == "execve(2)"
    assert ev.classes(23) == 0x80 | 0x40000000
    assert ev.class_names(23) == "pc,ex"
    assert ev.number("AUE_EXECVE") == 23


def test_darwin_session_events_are_named_without_a_class(builtin: tables.Tables) -> None:
    # issue 22 item 4: macOS writes 44901-44904; their names come from audit_kevents.h
    ev = builtin.events
    names = [ev.name(n) for n in range(44901, 44905)]
    assert names == ["AUE_SESSION_START", "AUE_SESSION_UPDATE", "AUE_SESSION_END",
                     "AUE_SESSION_CLOSE"]
    assert ev.description(44901) == "session start"
    assert all(ev.classes(n) == 0 for n in range(44901, 44905))
    assert ev.number("AUE_SESSION_END") == 44903


def test_unknown_event(builtin: tables.Tables) -> None:
    ev = builtin.events
    assert ev.name(44999) is None and ev.description(44999) is None
    assert ev.classes(44999) == 0 and ev.class_names(44999) is None
    assert ev.name(-1) is None and ev.name(70000) is None
    assert ev.number("AUE_NO_SUCH_THING") is None


def test_duplicate_numbers_first_wins(builtin: tables.Tables) -> None:
    # OpenBSM's audit_event defines 6168 twice; praudit printed the first ("system shutdown")
    # in macos-10.9-apple.praudit-n.txt.
    assert builtin.events.name(6168) == "AUE_shutdown"
    assert builtin.events.description(6168) == "system shutdown"
    assert builtin.events.name(301) == "AUE_PORTFS"


def test_undefined_class_gives_mask_zero(builtin: tables.Tables) -> None:
    # 6214:AUE_kadmind_auth:...:ua -- "ua" is not in audit_class; libbsm then uses mask 0.
    assert builtin.events.classes(6214) == 0
    assert builtin.events.class_names(6214) == "no"
    assert builtin.events.class_specs[6214] == "ua"


def test_description_kept_verbatim(builtin: tables.Tables) -> None:
    assert builtin.events.description(6180) == " profile command"


def test_errno_known(builtin: tables.Tables) -> None:
    er = builtin.errnos
    assert (er.name(2), er.text(2), er.linux_errno(2)) == ("ENOENT", "No such file or directory", 2)
    assert er.name(146) == "ECONNREFUSED" and er.number("ECONNREFUSED") == 146
    assert er.praudit_status(0) == "success"
    assert er.praudit_status(146) == "failure : Connection refused"
    # BSM 6 ENXIO: OpenBSM says "Device not configured", glibc (and praudit) another text.
    assert er.text(6) == "Device not configured"
    assert er.praudit_status(6) == "failure : No such device or address"


def test_errno_without_linux_mapping(builtin: tables.Tables) -> None:
    er = builtin.errnos
    assert er.name(197) == "EAUTH" and er.linux_errno(197) is None
    assert er.praudit_status(197) == "failure: Unknown error: 197"
    assert er.name(255) is None and er.text(255) is None
    assert er.praudit_status(255) == "failure: Unknown error: 255"
    # BSM 128 has no line in the vendored bsm_errno.c but Linux has ENETUNREACH.
    assert er.praudit_status(128) == "failure : Network is unreachable"


def test_socket_and_fcntl(builtin: tables.Tables) -> None:
    assert builtin.socket_domains.name(26) == "PF_INET6"  # BSM AF_INET6 (PRAUDIT-QUIRKS.md)
    assert builtin.socket_domains.name(2) == "PF_INET"
    assert builtin.socket_domains.number("PF_LOCAL") == 1
    assert builtin.socket_types.name(2) == "SOCK_STREAM"
    assert builtin.socket_types.name(1) == "SOCK_DGRAM"
    assert builtin.fcntl_commands.name(14) == "F_GETLK"
    assert builtin.fcntl_commands.name(12) is None
    got = builtin.socket_domains.names_for(np.array([2, 26, 9999, 700], dtype=np.uint16))
    assert got.to_pylist() == ["PF_INET", "PF_INET6", None, "PF_UNKNOWN"]


# --- classes ------------------------------------------------------------------------------
def test_class_table(builtin: tables.Tables) -> None:
    cl = builtin.classes
    assert cl.mask("fr") == 1 and cl.mask("ex") == 0x40000000 and cl.mask("zz") is None
    assert cl.description("lo") == "login_logout"
    assert cl.code(0x80) == "pc" and cl.code(0) == "no" and cl.code(0xFFFFFFFF) == "all"
    assert cl.mask_of(["fr", "fc"]) == 0x11 and cl.mask_of(["fr", "ua"]) is None


@pytest.mark.parametrize(
    ("mask", "text"),
    [
        (0x11, "fr,fc"),  # class-table order, not bit order of the input spec
        (0x40000080, "pc,ex"),
        (0x0, "no"),
        (0xFFFFFFFF, "all"),
        (0x80000001, "fr,ot"),
        (0x01000001, "fr,0x01000000"),  # a bit no class names
    ],
)
def test_class_rendering(builtin: tables.Tables, mask: int, text: str) -> None:
    assert builtin.classes.render(mask) == text


def test_class_names_follow_class_table_order(builtin: tables.Tables) -> None:
    # 83:AUE_OPEN_RWTC lists its classes; the rendering follows audit_class order.
    order = builtin.classes.codes
    for num in (23, 72, 83, 43190):
        names = builtin.events.class_names(num).split(",")
        assert names == sorted(names, key=order.index)


# --- vectorized lookups -------------------------------------------------------------------
def test_event_names_for_numpy(builtin: tables.Tables) -> None:
    codes = np.array([23, 1, 44999, 23, 0], dtype=np.uint16)
    names = builtin.event_names_for(codes)
    assert isinstance(names, pa.DictionaryArray)
    assert names.type == SCHEMA.field("event_name").type
    assert names.to_pylist() == ["AUE_EXECVE", "AUE_EXIT", None, "AUE_EXECVE", "AUE_NULL"]
    classes = builtin.event_classes_for(codes)
    assert classes.type == SCHEMA.field("event_classes").type
    assert classes.to_pylist() == ["pc,ex", "pc", None, "pc,ex", "no"]
    descr = builtin.events.descriptions_for(codes)
    assert descr.to_pylist() == ["execve(2)", "exit(2)", None, "execve(2)", "indir system call"]


def test_lookups_accept_arrow_with_nulls_and_wide_ints(builtin: tables.Tables) -> None:
    arr = pa.chunked_array([pa.array([23, None], pa.uint16()), pa.array([2], pa.uint16())])
    assert builtin.event_names_for(arr).to_pylist() == ["AUE_EXECVE", None, "AUE_FORK"]
    wide = np.array([-5, 23, 1 << 20], dtype=np.int64)  # out of range -> null, no IndexError
    assert builtin.event_names_for(wide).to_pylist() == [None, "AUE_EXECVE", None]
    assert builtin.event_names_for(np.array([], dtype=np.uint16)).to_pylist() == []


def test_dictionary_is_shared_between_calls(builtin: tables.Tables) -> None:
    a = builtin.event_names_for(np.array([1], dtype=np.uint16))
    b = builtin.event_names_for(np.array([23], dtype=np.uint16))
    assert a.dictionary.equals(b.dictionary)
    assert pa.chunked_array([a, b]).unify_dictionaries().chunks[0].dictionary.equals(
        a.dictionary
    )


def test_errno_names_for(builtin: tables.Tables) -> None:
    errnos = np.array([0, 2, 146, 255, 197], dtype=np.uint8)
    got = builtin.errno_names_for(errnos)
    assert got.type == SCHEMA.field("errno_name").type
    assert got.to_pylist() == [None, "ENOENT", "ECONNREFUSED", None, "EAUTH"]


def test_vector_arrays_match_scalars(builtin: tables.Tables) -> None:
    ev = builtin.events
    assert len(ev.names) == len(ev.masks) == 65536 and ev.masks.dtype == np.uint32
    codes = np.arange(65536, dtype=np.uint16)
    assert ev.names_for(codes).to_pylist() == list(ev.names)
    assert ev.classes_for(codes).to_pylist() == list(ev.class_strings)
    with pytest.raises(ValueError):
        ev.names[23] = "changed"  # frozen: the lookup arrays are read-only


# --- against the goldens and truth sidecars -----------------------------------------------
def test_every_golden_errno_text_reproduced(builtin: tables.Tables) -> None:
    pairs = golden_pairs(b"return,")
    assert len(pairs) > 3000
    seen = set()
    for named, raw in pairs:
        errno = int(raw.split(b",")[1])
        status = named.decode().split(",")[1]
        assert status == builtin.errnos.praudit_status(errno), (named, raw)
        seen.add(errno)
    assert {0, 2, 13, 146, 197, 255} <= seen


def test_every_golden_event_description_reproduced(builtin: tables.Tables) -> None:
    pairs = golden_pairs(b"header")
    assert len(pairs) > 3000
    for named, raw in pairs:
        # -rn prints `20,len,ver,event,...`, but header32_ex as `21version="11" event="83"...`
        m = re.match(rb"\d+,\d+,\d+,(\d+),", raw) or re.search(rb' event="(\d+)"', raw)
        assert m, raw
        event = int(m.group(1))
        expected = builtin.events.description(event) or str(event)
        assert named.decode().split(",", 3)[3].startswith(expected + ","), (named, event)


@pytest.mark.parametrize("trail", ["synthetic-workload", "synthetic-all-tokens"])
def test_truth_sidecar_names(builtin: tables.Tables, trail: str) -> None:
    rows = [json.loads(line) for line in (TRAILS / f"{trail}.truth.jsonl").open()]
    events = np.array([r["event"] for r in rows], dtype=np.uint16)
    assert builtin.event_names_for(events).to_pylist() == [r["event_name"] for r in rows]
    rets = [r["return"] for r in rows if r.get("return")]
    errnos = np.array([r["errno"] for r in rets], dtype=np.uint8)
    assert builtin.errno_names_for(errnos).to_pylist() == [r["errno_name"] or None for r in rets]


# --- data files ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["audit_event", "audit_class", "bsm_errno.tsv", "bsm_socket_domain.tsv",
     "bsm_socket_type.tsv", "bsm_fcntl.tsv"],
)
def test_data_files_name_source_and_licence(name: str) -> None:
    head = (DATA / name).read_text().splitlines()[:4]
    assert any(line.startswith("# Source:") for line in head)
    assert any("LICENSE.openbsm" in line for line in head)
    assert (DATA / "LICENSE.openbsm").read_text().startswith("OpenBSM Copyrights")


# --- loading ------------------------------------------------------------------------------
CLASSES = "# test classes\n0x00000000:no:invalid class\n0x00000001:fr:file read\n" \
    "0x00000080:pc:process\n0x40000000:ex:exec\n"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_directory_override(tmp_path: Path, builtin: tables.Tables) -> None:
    write(tmp_path, "audit_class", CLASSES)
    write(tmp_path, "audit_event", "# mine\n\n23:AUE_EXECVE:execve(2):pc,ex\r\n"
          "40000:AUE_MINE:my event:ex,fr\n")
    mine = load_tables(tmp_path)
    assert mine.events.name(40000) == "AUE_MINE"
    assert mine.events.class_names(40000) == "fr,ex"
    assert mine.events.class_names(23) == "pc,ex"
    assert mine.events.name(1) is None  # only what the file defines
    assert mine.events.source == str(tmp_path / "audit_event")
    assert builtin.events.name(40000) is None  # the builtin tables are untouched
    assert mine.errnos is builtin.errnos  # format constants always come from the package


def test_directory_with_only_audit_event_uses_builtin_classes(tmp_path: Path) -> None:
    write(tmp_path, "audit_event", "40001:AUE_OTHER:other:fr,fw\n")
    t = load_tables(str(tmp_path))
    assert t.events.class_names(40001) == "fr,fw"
    assert t.classes.source == "<builtin audit_class>"


def test_auto_prefers_host_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "HOST_DIR", tmp_path / "missing")
    assert load_tables("auto") is load_tables("builtin")
    with pytest.raises(InputError, match="missing"):
        load_tables("host")
    write(tmp_path, "audit_event", "45999:AUE_HOSTONLY:host event:fr\n")
    monkeypatch.setattr(tables, "HOST_DIR", tmp_path)
    assert load_tables("auto").events.name(45999) == "AUE_HOSTONLY"


def test_cached_and_reloaded_when_edited(tmp_path: Path) -> None:
    assert load_tables("builtin") is load_tables("builtin")
    write(tmp_path, "audit_event", "40002:AUE_A:a:fr\n")
    first = load_tables(tmp_path)
    assert load_tables(tmp_path) is first
    write(tmp_path, "audit_event", "40002:AUE_B:b, longer:fr\n")  # new size -> new key
    assert load_tables(tmp_path).events.name(40002) == "AUE_B"


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("audit_event", "# c\n1:AUE_EXIT:exit(2):pc\n2:AUE_FORK:fork(2)\n", 3),
        ("audit_event", "x:AUE_X:x:pc\n", 1),
        ("audit_event", "70000:AUE_BIG:too big:pc\n", 1),
        ("audit_event", "\n\n3::no name:pc\n", 3),
        ("audit_event", "4:AUE_A:a:b:c\n", 1),
        ("audit_class", "0x1:fr:file read\nzz:fw:file write\n", 2),
        ("audit_class", "0x100000000:big:too big\n", 1),
    ],
)
def test_malformed_file(tmp_path: Path, name: str, text: str, line: int) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(UsageError) as info:
        load_tables(tmp_path)
    assert str(path) in str(info.value) and f"line {line}:" in str(info.value)
    assert isinstance(info.value, KnoxError) and isinstance(info.value, ValueError)


def test_bad_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected 'auto'"):
        load_tables(tmp_path / "nope")
    with pytest.raises(InputError, match="holds neither"):
        load_tables(tmp_path)


def test_class_file_number_forms(tmp_path: Path) -> None:
    write(tmp_path, "audit_class", "0x10:fc:create\n32:fd:delete\n0100:fa:attr\n")
    write(tmp_path, "audit_event", "5:AUE_LINK:link(2):fa,fc,fd\n")
    t = load_tables(tmp_path)
    assert (t.classes.mask("fc"), t.classes.mask("fd"), t.classes.mask("fa")) == (16, 32, 64)
    assert t.events.class_names(5) == "fc,fd,fa"
