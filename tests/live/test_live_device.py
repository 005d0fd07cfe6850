"""Audit pipe ioctls, device configuration (injected open/ioctl) and class expressions.

Expected ioctl numbers: the values the C preprocessor gives for audit_ioctl.h with the
macOS / FreeBSD <sys/ioccom.h> (as listed in public macOS ioctl tables, e.g. the request
table of a macOS syscall tracer); class table: knox_analytics/data/audit_class (OpenBSM).
"""

from __future__ import annotations

import os
import struct

import pytest

from knox_analytics.bsm.classes import (
    AuMask,
    load_class_table,
    parse_class_file,
    parse_classes,
)
from knox_analytics.errors import InputError, UsageError
from knox_analytics.live import ioctl as I
from knox_analytics.live.device import AuditPipe

HEADER_VALUES = {
    "AUDITPIPE_GET_QLEN": 0x40044101, "AUDITPIPE_GET_QLIMIT": 0x40044102,
    "AUDITPIPE_SET_QLIMIT": 0x80044103, "AUDITPIPE_GET_QLIMIT_MIN": 0x40044104,
    "AUDITPIPE_GET_QLIMIT_MAX": 0x40044105, "AUDITPIPE_GET_PRESELECT_FLAGS": 0x40084106,
    "AUDITPIPE_SET_PRESELECT_FLAGS": 0x80084107,
    "AUDITPIPE_GET_PRESELECT_NAFLAGS": 0x40084108,
    "AUDITPIPE_SET_PRESELECT_NAFLAGS": 0x80084109,
    "AUDITPIPE_GET_PRESELECT_AUID": 0x400C410A, "AUDITPIPE_SET_PRESELECT_AUID": 0x800C410B,
    "AUDITPIPE_DELETE_PRESELECT_AUID": 0x8004410C,
    "AUDITPIPE_FLUSH_PRESELECT_AUID": 0x2000410D, "AUDITPIPE_GET_PRESELECT_MODE": 0x4004410E,
    "AUDITPIPE_SET_PRESELECT_MODE": 0x8004410F, "AUDITPIPE_FLUSH": 0x20004110,
    "AUDITPIPE_GET_MAXAUDITDATA": 0x40044111, "AUDITPIPE_GET_INSERTS": 0x40084164,
    "AUDITPIPE_GET_READS": 0x40084165, "AUDITPIPE_GET_DROPS": 0x40084166,
    "AUDITPIPE_GET_TRUNCATES": 0x40084167,
}


def test_ioctl_parameter_structs() -> None:
    # FreeBSD 13/14 sys/security/audit/audit_ioctl.h, xnu bsd/security/audit/audit_ioctl.h:
    # struct auditpipe_ioctl_preselect { au_id_t aip_auid; au_mask_t aip_mask; } -> 12 bytes,
    # aip_auid at 0, aip_mask at 4 (all 4-byte fields: no padding)
    assert I.SIZEOF["struct auditpipe_ioctl_preselect"] == I.PRESELECT.size == 12
    assert I.PRESELECT.pack(501, 0x80, 0x81) == struct.pack("=I", 501) + I.AU_MASK.pack(0x80,
                                                                                      0x81)
    assert (I.SIZEOF["au_mask_t"], I.AU_MASK.size) == (8, 8)
    assert (I.SIZEOF["u_int64_t"], I.U_INT64.size, I.SIZEOF["u_int"], I.U_INT.size) == \
        (8, 8, 4, 4)


@pytest.mark.parametrize(("name", "value"), sorted(HEADER_VALUES.items()))
def test_ioctl_numbers_match_the_headers(name: str, value: int) -> None:
    assert getattr(I, name) == value


class FakePipe:
    """A kernel audit pipe: answers the GET ioctls, records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bytes | int]] = []
        self.answers = {I.AUDITPIPE_GET_QLIMIT_MAX: struct.pack("=I", 1024),
                        I.AUDITPIPE_GET_MAXAUDITDATA: struct.pack("=I", 0x8000),
                        I.AUDITPIPE_GET_INSERTS: struct.pack("=Q", 10),
                        I.AUDITPIPE_GET_READS: struct.pack("=Q", 7),
                        I.AUDITPIPE_GET_DROPS: struct.pack("=Q", 3),
                        I.AUDITPIPE_GET_TRUNCATES: struct.pack("=Q", 1)}

    def open(self, path: str, flags: int) -> int:
        assert (path, flags) == ("/dev/auditpipe", os.O_RDONLY)
        return 42

    def ioctl(self, fd: int, request: int, arg: bytes | int) -> bytes | int:
        assert fd == 42
        self.calls.append((request, arg))
        if request & I.IOC_OUT:
            assert isinstance(arg, bytes) and len(arg) == (request >> 16) & I.IOCPARM_MASK
            return self.answers[request]
        return 0


def test_configure_sets_mode_masks_qlimit_then_flushes() -> None:
    fake = FakePipe()
    pipe = AuditPipe(opener=fake.open, ioctl=fake.ioctl)
    size = pipe.configure(AuMask(0x80, 0x81), AuMask(0x400, 0x400))
    assert size == 0x8000
    assert fake.calls == [
        (I.AUDITPIPE_SET_PRESELECT_MODE, struct.pack("=i", 2)),
        (I.AUDITPIPE_SET_PRESELECT_FLAGS, struct.pack("=II", 0x80, 0x81)),
        (I.AUDITPIPE_SET_PRESELECT_NAFLAGS, struct.pack("=II", 0x400, 0x400)),
        (I.AUDITPIPE_GET_QLIMIT_MAX, bytes(4)),
        (I.AUDITPIPE_SET_QLIMIT, struct.pack("=I", 1024)),
        (I.AUDITPIPE_GET_MAXAUDITDATA, bytes(4)),
        (I.AUDITPIPE_FLUSH, 0),
    ]
    stats = pipe.stats()
    assert (stats.inserts, stats.reads, stats.drops, stats.truncates) == (10, 7, 3, 1)


def test_unreadable_pipe_says_so() -> None:
    def deny(path: str, flags: int) -> int:
        raise PermissionError(13, "Permission denied", path)

    with pytest.raises(InputError, match=r"/dev/auditpipe: not readable .*--sudo"):
        AuditPipe(opener=deny)


#: OpenBSM 1.1's etc/audit_class (../shared/bsm/etc/audit_class), written out by hand as
#: the oracle for the packaged copy (knox_analytics/data/audit_class).
OPENBSM_CLASSES = {
    "no": 0x0, "fr": 0x1, "fw": 0x2, "fa": 0x4, "fm": 0x8, "fc": 0x10, "fd": 0x20,
    "cl": 0x40, "pc": 0x80, "nt": 0x100, "ip": 0x200, "na": 0x400, "ad": 0x800,
    "lo": 0x1000, "aa": 0x2000, "ap": 0x4000, "io": 0x20000000, "ex": 0x40000000,
    "ot": 0x80000000, "all": 0xFFFFFFFF,
}
TABLE = load_class_table("builtin")
C = OPENBSM_CLASSES


@pytest.mark.parametrize(("expr", "success", "failure"), [
    ("pc,fc", C["pc"] | C["fc"], C["pc"] | C["fc"]),
    ("+pc", C["pc"], 0),
    ("-fr,-fw", 0, C["fr"] | C["fw"]),
    ("all", 0xFFFFFFFF, 0xFFFFFFFF),
    ("all,^fr", 0xFFFFFFFF & ~C["fr"], 0xFFFFFFFF & ~C["fr"]),
    ("all,^+fr", 0xFFFFFFFF & ~C["fr"], 0xFFFFFFFF),
    ("all,^-fr", 0xFFFFFFFF, 0xFFFFFFFF & ~C["fr"]),
    ("pc,,+ex", C["pc"] | C["ex"], C["pc"]),  # empty items are skipped (strtok_r)
    ("", 0, 0),
    ("no", 0, 0),
])
def test_class_expressions(expr: str, success: int, failure: int) -> None:
    assert parse_classes(expr, TABLE) == AuMask(success, failure)


def test_unknown_class_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown audit class 'zz'.*valid classes: aa, ad"):
        parse_classes("pc,zz", TABLE)


def test_packaged_class_table_is_openbsm() -> None:
    assert TABLE.as_dict() == OPENBSM_CLASSES
    assert TABLE.source == "<builtin audit_class>"


def test_auto_reads_the_host_table_first(tmp_path) -> None:
    # the host's /etc/security/audit_class wins where it exists (site classes live there);
    # without one, the packaged OpenBSM copy: checked on any OS with a stand-in host dir
    assert load_class_table("auto", host_dir=tmp_path).as_dict() == OPENBSM_CLASSES
    (tmp_path / "audit_class").write_text("0x00000080:pc:process\n0x01000000:xx:site\n")
    host = load_class_table("auto", host_dir=tmp_path)
    assert host.as_dict() == {"pc": 0x80, "xx": 0x1000000}
    assert host.source == str(tmp_path / "audit_class")


def test_site_classes_from_a_table_file(tmp_path) -> None:
    table = tmp_path / "audit_class"
    table.write_text("0x00000080:pc:process\n0x01000000:xx:site class # comment\n")
    classes = load_class_table(table)
    assert classes == parse_class_file(table.read_text(), str(table))
    assert classes.as_dict() == {"pc": 0x80, "xx": 0x1000000}
    assert parse_classes("xx,-pc", classes) == AuMask(0x1000000, 0x1000080)


def test_malformed_class_table_names_file_and_line(tmp_path) -> None:
    table = tmp_path / "audit_class"
    table.write_text("0x1:fr:file read\nzz:fw:file write\n")
    with pytest.raises(UsageError, match=r"audit_class: line 2: expected 'mask:code"):
        load_class_table(table)


def test_mask_renders_back_to_an_expression() -> None:
    mask = parse_classes("pc,+fc,-fr", TABLE)
    assert mask.to_expression(TABLE) == "-fr,+fc,pc"
    assert parse_classes(mask.to_expression(TABLE), TABLE) == mask


def test_drops_are_reported_at_the_end_of_a_stream() -> None:
    from knox_analytics.live.device import PipeStats
    from knox_analytics.live.source import Source
    from knox_analytics.live.stream import report_stats

    fake = FakePipe()
    pipe = AuditPipe(opener=fake.open, ioctl=fake.ioctl)
    seen: list[PipeStats] = []
    chunks = iter([(b"a", 0), (b"b", 1)])
    out = list(report_stats(chunks, Source(42, "device", "/dev/auditpipe", pipe), seen.append,
                            every=3600))
    assert out == [(b"a", 0), (b"b", 1)]
    assert seen == [PipeStats(inserts=10, reads=7, drops=3, truncates=1)]
