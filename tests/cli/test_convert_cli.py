"""``knox convert`` end to end, as a user runs it (a subprocess, real trails).

Fixtures: tests/data/trails (see its README.md for origin and licences).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from knoxtest import TRAILS

# end-to-end: in `make test`, not in the fast `make check` loop
pytestmark = pytest.mark.slow

WORKLOAD = TRAILS / "synthetic-workload.bsm"


def knox(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "knox_analytics", *args], input=stdin,
                          capture_output=True, timeout=300)


def _rows(dataset: Path) -> int:
    return ds.dataset(dataset, format="parquet", partitioning="hive").count_rows()


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    """A copy of /var/audit as auditd leaves it: rotated trails, current, a compressed one."""
    d = tmp_path / "audit"
    d.mkdir()
    shutil.copy(TRAILS / "macos-10.9-apple.bsm", d / "20131104183620.20131104190000")
    with gzip.open(d / "20060918000000.20060918010000.gz", "wb") as fh:
        fh.write((TRAILS / "freebsd-2006-execve-long-args.bsm").read_bytes())
    shutil.copy(WORKLOAD, d / "20260301090000.not_terminated")
    (d / "current").symlink_to("20260301090000.not_terminated")
    return d


def test_convert_a_directory_then_nothing_new(tmp_path: Path, audit_dir: Path) -> None:
    out = tmp_path / "ds"
    first = knox("convert", str(audit_dir), "-o", str(out), "-q")
    assert first.returncode == 0, first.stderr.decode()
    assert b"3 file(s) converted, 3,061 records" in first.stderr
    assert _rows(out) == 54 + 1 + 3006
    again = knox("convert", str(audit_dir), "-o", str(out), "-q")
    assert again.returncode == 0
    assert b"0 file(s) converted, 0 records" in again.stderr
    assert _rows(out) == 54 + 1 + 3006


def test_a_growing_current_converts_only_new_records(tmp_path: Path) -> None:
    data = WORKLOAD.read_bytes()
    audit = tmp_path / "audit"
    audit.mkdir()
    current = audit / "20260301090000.not_terminated"
    current.write_bytes(data[:200_000] + b"\x14\x00\x00")  # mid-way through a record
    out = tmp_path / "ds"
    assert knox("convert", str(current), "-o", str(out), "-q").returncode == 0
    before = _rows(out)
    current.write_bytes(data)  # auditd appended the rest
    later = knox("convert", str(current), "-o", str(out), "-q")
    assert later.returncode == 0, later.stderr.decode()
    assert _rows(out) == 3006 > before


def test_stdin_is_converted(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = knox("convert", "-", "-o", str(out), "-q", stdin=WORKLOAD.read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    assert _rows(out) == 3006


def test_damaged_trail_exit_3_and_the_ranges_listed(tmp_path: Path) -> None:
    data = WORKLOAD.read_bytes()
    broken = tmp_path / "broken.bsm"
    broken.write_bytes(data[:94] + b"JUNKJUNK" + data[94:])
    result = knox("convert", str(broken), "-o", str(tmp_path / "ds"), "-q")
    assert result.returncode == 3
    err = result.stderr.decode()
    assert "1 damaged range(s)" in err
    assert f"damaged: {broken}: byte 94, 8 bytes skipped" in err
    assert _rows(tmp_path / "ds") == 3006



def test_an_unchanged_crash_recovery_trail_exits_0_the_second_time(tmp_path: Path) -> None:
    """Issue 23 item 9: a cron job converting the same /var/audit copy must not fail
    forever on a .crash_recovery trail's cut last record: said again, exit 0."""
    audit = tmp_path / "audit"
    audit.mkdir()
    cut = audit / "20260101000000.crash_recovery"
    cut.write_bytes(WORKLOAD.read_bytes()[:-9])
    first = knox("convert", str(audit), "-o", str(tmp_path / "ds"), "-q")
    assert first.returncode == 3, first.stderr.decode()
    for _ in range(2):
        again = knox("convert", str(audit), "-o", str(tmp_path / "ds"), "-q")
        err = again.stderr.decode()
        assert again.returncode == 0, err
        assert f"damaged (reported before, bytes unchanged): {cut}: byte " in err
        assert "damaged range(s)" not in err

def test_strict_fails_with_one_line(tmp_path: Path) -> None:
    data = WORKLOAD.read_bytes()
    broken = tmp_path / "broken.bsm"
    broken.write_bytes(data[:94] + b"JUNKJUNK" + data[94:])
    result = knox("convert", str(broken), "-o", str(tmp_path / "ds"), "-q", "--strict")
    assert result.returncode == 1
    assert result.stderr.decode().strip() == (
        f"knox: {broken}: damaged at byte 94 (8 bytes): 8 bytes of garbage "
        "(starts 0x4a, not a record header)")


def test_not_bsm_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    result = knox("convert", str(notes), "-o", str(tmp_path / "ds"))
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert result.stderr.decode().strip().startswith(f"knox: {notes}: not a BSM audit trail")


def test_existing_output_is_never_overwritten_silently(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.txt").write_text("years of work")
    result = knox("convert", str(WORKLOAD), "-o", str(out), "-q")
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert (out / "thesis.txt").read_text() == "years of work"


def test_jobs_2_writes_the_same_dataset(tmp_path: Path, audit_dir: Path) -> None:
    import pyarrow as pa

    def load(path: Path) -> pa.Table:
        t = ds.dataset(path, format="parquet", partitioning="hive").to_table()
        t = t.set_column(t.schema.get_field_index("source"), "source",
                         t["source"].cast(pa.string()))
        return t.sort_by([("source", "ascending"), ("offset", "ascending")])

    one, two = tmp_path / "one", tmp_path / "two"
    assert knox("convert", str(audit_dir), "-o", str(one), "-q").returncode == 0
    result = knox("convert", str(audit_dir), "-o", str(two), "-q", "--jobs", "2")
    assert result.returncode == 0, result.stderr.decode()
    assert load(one).equals(load(two))
    assert not list(two.glob(".knox-staging-*"))


def test_compressed_trail_without_suffix_resumes_correctly(tmp_path: Path) -> None:
    """The manifest's offsets count decompressed bytes, as the reader reads them, even
    when nothing in the name says the trail is compressed."""
    data = WORKLOAD.read_bytes()
    trail = tmp_path / "20260301090000.not_terminated"
    with gzip.open(trail, "wb") as fh:
        fh.write(data[:200_000])
    out = tmp_path / "ds"
    assert knox("convert", str(trail), "-o", str(out), "-q").returncode == 0
    with gzip.open(trail, "wb") as fh:
        fh.write(data)
    later = knox("convert", str(trail), "-o", str(out), "-q")
    assert later.returncode == 0, later.stderr.decode()
    assert _rows(out) == 3006


def test_capture_output_is_queryable_like_a_dataset(tmp_path: Path) -> None:
    """`knox capture --out OUT` writes OUT/dataset/ (no manifest); the query commands
    take OUT itself."""
    out = tmp_path / "live"
    cap = knox("capture", "--out", str(out), "--source", str(WORKLOAD))
    assert cap.returncode == 0, cap.stderr.decode()
    result = knox("query", "SELECT count(*) AS n FROM records", str(out), "-f", "csv")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split() == ["n", "3006"]


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    """Arguments that do not fit together (the library's UsageError) exit like typer's own
    usage errors: status 2, one line."""
    result = knox("errors", str(WORKLOAD), "--by", "nothing")
    assert result.returncode == 2
    assert result.stderr.decode().strip() == (
        "knox: --by 'nothing': expected one of errno, command, path")


def test_not_bsm_message_is_the_same_with_jobs(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    args = ["convert", str(notes), str(WORKLOAD), "-q"]
    one = knox(*args, "-o", str(tmp_path / "one"))
    two = knox(*args, "-o", str(tmp_path / "two"), "--jobs", "2")
    assert one.returncode == two.returncode == 1
    assert one.stderr.decode().startswith(f"knox: {notes}: not a BSM audit trail (")
    assert two.stderr == one.stderr
