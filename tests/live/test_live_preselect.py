"""``--source`` gives what the audit pipe would: ``knox auditpipe CLASSES --source`` passes
only the records the pipe's preselection (au_preselect(3), audit_control(5) classes)
selects, byte for byte (issue 22, defect 9)."""

from __future__ import annotations

import io
import os
import subprocess

import pytest
from knoxtest import TRAILS
from live_helpers import KNOX_LIVE_ARGV

from knox_analytics.bsm.classes import parse_classes
from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.live.preselect import PreselectedSource, preselected
from knox_analytics.live.source import open_source, read_chunks
from knox_analytics.reduce import auditreduce_filters, reduce_records

WORKLOAD = TRAILS / "synthetic-workload.bsm"
TRAIL_NAMES = ["synthetic-workload.bsm", "synthetic-all-tokens.bsm", "macos-10.9-apple.bsm",
               "freebsd-2006-execve-long-args.bsm"]
CLASSES = ["lo", "+fr", "-fr", "fr,fw", "pc,-fa", "ex", "^nt", "pc,ex,^-ex", "aa,+lo"]


def piped(path: str, classes: str, naflags: str | None = None) -> bytes:
    flags = parse_classes(classes)
    src = preselected(open_source(path), flags,
                      parse_classes(naflags) if naflags is not None else flags)
    with src:
        return b"".join(chunk for chunk, _ in read_chunks(src))


def reduced(path: str, classes: str) -> bytes:
    buf = io.BytesIO()
    reduce_records([path], auditreduce_filters(c=classes), buf)
    return buf.getvalue()


@pytest.mark.parametrize("trail", TRAIL_NAMES)
@pytest.mark.parametrize("classes", CLASSES)
def test_preselection_equals_auditreduce_c(trail: str, classes: str) -> None:
    """The same records, byte for byte, as ``knox reduce -c`` (itself checked against
    OpenBSM's auditreduce goldens, tests/reduce/)."""
    path = str(TRAILS / trail)
    assert piped(path, classes) == reduced(path, classes)


def test_outcome_prefixes_and_naflags() -> None:
    """``+fr`` successes only, ``-fr`` failures only; naflags decide for records whose
    audit user is unset."""
    def rows(data: bytes) -> list[tuple]:
        t = decode_bytes(data, "<pipe>").table
        return list(zip(t.column("success").to_pylist(), t.column("auid").to_pylist(),
                        strict=True))
    ok, bad = rows(piped(str(WORKLOAD), "+fr")), rows(piped(str(WORKLOAD), "-fr"))
    assert ok and bad
    assert {s for s, _ in ok} == {True} and {s for s, _ in bad} == {False}
    unset = 0xFFFFFFFF
    every = rows(piped(str(WORKLOAD), "ex"))
    attributable = rows(piped(str(WORKLOAD), "ex", naflags="no"))
    assert any(a == unset for _, a in every)  # execs before any login: auid unset
    assert attributable == [r for r in every if r[1] != unset]


def test_everything_and_the_pipe_itself_are_not_decoded(tmp_path) -> None:
    src = open_source(str(WORKLOAD))
    try:
        assert preselected(src, parse_classes("all"), parse_classes("all")) is src
        assert isinstance(preselected(src, parse_classes("lo"), parse_classes("lo")),
                          PreselectedSource)
    finally:
        src.close()


def test_damage_passes_through_for_the_reader_downstream(tmp_path) -> None:
    data = WORKLOAD.read_bytes()
    t = decode_bytes(data, "w").table
    cut = int(t.column("offset")[100].as_py())
    junk = b"\xee" * 37
    bad = tmp_path / "bad.bsm"
    bad.write_bytes(data[:cut] + junk + data[cut:])
    out = piped(str(bad), "lo")
    assert junk in out
    assert decode_bytes(out, "<pipe>").damage  # reported downstream, not dropped


def test_auditpipe_classes_apply_to_a_file_and_a_stream_source() -> None:
    """``knox auditpipe lo --source workload.bsm`` passed all 20,007 records."""
    expected = reduced(str(WORKLOAD), "lo")
    assert 0 < decode_bytes(expected, "e").table.num_rows < 1000
    from_file = subprocess.run([*KNOX_LIVE_ARGV, "auditpipe", "lo", "--source", str(WORKLOAD)],
                               capture_output=True, check=True)
    assert from_file.stdout == expected
    read_fd, write_fd = os.pipe()
    with subprocess.Popen([*KNOX_LIVE_ARGV, "auditpipe", "lo", "--source", "-"],
                          stdin=read_fd, stdout=subprocess.PIPE) as proc:
        os.close(read_fd)
        with os.fdopen(write_fd, "wb") as w:
            w.write(WORKLOAD.read_bytes())
        out = proc.stdout.read()
    assert proc.returncode == 0
    assert out == expected


def test_capture_classes_from_a_file_are_refused_with_the_pipeline_that_works(tmp_path) -> None:
    """``knox capture --classes lo --source FILE`` captured every record; it now says how to
    select them, and that pipeline captures only them."""
    out = tmp_path / "cap"
    r = subprocess.run([*KNOX_LIVE_ARGV, "capture", "--classes", "lo", "--source",
                        str(WORKLOAD), "--out", str(out), "--no-derive"], capture_output=True)
    assert r.returncode != 0 and not out.exists()
    assert b"knox auditpipe lo --source" in r.stderr and b"knox capture --source -" in r.stderr
    r = subprocess.run([*KNOX_LIVE_ARGV, "auditpipe", "lo", "--source", str(WORKLOAD),
                        "--parquet", str(out)], capture_output=True)
    assert r.returncode != 0 and b"knox auditpipe lo" in r.stderr
    select = subprocess.Popen([*KNOX_LIVE_ARGV, "auditpipe", "lo", "--source", str(WORKLOAD)],
                              stdout=subprocess.PIPE)
    r = subprocess.run([*KNOX_LIVE_ARGV, "capture", "--source", "-", "--out", str(out),
                        "--no-derive"], stdin=select.stdout, capture_output=True)
    select.stdout.close()
    assert select.wait() == 0 and r.returncode == 0, r.stderr
    expected = decode_bytes(reduced(str(WORKLOAD), "lo"), "e").table.num_rows
    assert f"{expected} records converted" in r.stderr.decode()
