"""The ``knox print`` command: options, stdin streaming, Parquet input, names, errors.

Fixtures: tests/data/trails (provenance in its README.md); passwd/group files and Parquet
datasets are written by the tests into tmp_path.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from knoxtest import TRAILS
from typer.testing import CliRunner

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.cli.print import register
from knox_analytics.convert import convert
from knox_analytics.errors import UsageError
from knox_analytics.render.records import iter_inputs
from knox_analytics.render.stream import render_stream
from knox_analytics.render.tokenfmt import PrintOptions

APPLE = TRAILS / "macos-10.9-apple.bsm"
ALL = TRAILS / "synthetic-all-tokens.bsm"


# the goldens were made with TZ=UTC (the `utc` fixture of tests/conftest.py)
pytestmark = pytest.mark.usefixtures("utc")


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps "print" a subcommand
        """Nothing."""

    return app


def _run(app: typer.Typer, *args: str, stdin: bytes | None = None) -> bytes:
    result = CliRunner().invoke(app, ["print", *args], input=stdin)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout_bytes


def test_ln_file_is_byte_identical(app: typer.Typer) -> None:
    assert _run(app, "-ln", str(APPLE)) == (TRAILS / "macos-10.9-apple.praudit-ln.txt"
                                            ).read_bytes()


def test_stdin_dash_is_byte_identical(app: typer.Typer) -> None:
    golden = (TRAILS / "synthetic-workload.praudit-n.txt").read_bytes()
    data = (TRAILS / "synthetic-workload.bsm").read_bytes()
    assert _run(app, "-n", "-", stdin=data) == golden


def test_several_inputs_print_in_order(app: typer.Typer) -> None:
    golden = b"".join((TRAILS / f"{n}.praudit-n.txt").read_bytes()
                      for n in ("macos-10.9-apple", "synthetic-all-tokens"))
    assert _run(app, "-n", str(APPLE), str(ALL)) == golden


def test_raw_and_short_are_exclusive(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["print", "-r", "-s", str(ALL)])
    assert isinstance(result.exception, UsageError)


def test_names_from_passwd_and_group_files(app: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text("root:*:0:0::/var/root:/bin/sh\n"
                                     "alice:*:501:20::/Users/alice:/bin/zsh\n")
    (tmp_path / "group").write_text("wheel:*:0:root\nstaff:*:20:alice\n")
    out = _run(app, "--passwd", str(tmp_path / "passwd"), "--group",
               str(tmp_path / "group"), str(ALL))
    lines = out.split(b"\n")
    assert lines[2] == b"attribute,100755,root,wheel,16777220,1152921500312345678,0"
    assert lines[5] == b"subject,alice,alice,staff,alice,staff,4242,100007,16777221," \
                       b"192.168.1.23"
    # -n keeps numbers even with name files
    numeric = _run(app, "-n", "--passwd", str(tmp_path / "passwd"), str(ALL))
    assert numeric.split(b"\n")[2].startswith(b"attribute,100755,0,0,")


def test_xml_has_header_and_footer(app: typer.Typer) -> None:
    out = _run(app, "-xn", str(ALL))
    assert out.startswith(b"<?xml version='1.0' ?>\n<audit>\n<record ")
    assert out.endswith(b"</record>\n</audit>\n")


def test_partial_skips_to_first_record_silently(app: typer.Typer) -> None:
    data = APPLE.read_bytes()
    result = CliRunner().invoke(app, ["print", "-n", "-p", "-"], input=data[7:])
    assert result.exit_code == 0
    golden = (TRAILS / "macos-10.9-apple.praudit-n.txt").read_bytes()
    # the first (cut) record is gone; everything after it is printed exactly
    assert golden.endswith(result.stdout_bytes) and len(result.stdout_bytes) > 0
    assert result.stderr_bytes == b""


def test_help_ends_with_an_example(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["print", "--help"])
    assert "Example: knox print -ln" in result.output


# --- Parquet ----------------------------------------------------------------------------


def test_converted_dataset_prints_like_the_trail(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert([str(APPLE)], out)
    assert _run(app, "-n", str(out)) == (TRAILS / "macos-10.9-apple.praudit-n.txt"
                                         ).read_bytes()


def test_parquet_files_are_put_back_in_trail_order(app: typer.Typer, tmp_path: Path) -> None:
    table = decode_bytes(ALL.read_bytes(), str(ALL)).table
    half = table.num_rows // 2
    pq.write_table(table.slice(half), tmp_path / "a.parquet")  # the later half first
    pq.write_table(table.slice(0, half), tmp_path / "b.parquet")
    assert _run(app, "-ln", str(tmp_path)) == (TRAILS / "synthetic-all-tokens.praudit-ln.txt"
                                               ).read_bytes()


# --- streaming ------------------------------------------------------------------------------


def test_stdin_output_starts_before_input_ends() -> None:
    """The first record is printed while the writer still holds the pipe open."""
    data = (TRAILS / "synthetic-workload.bsm").read_bytes()
    first_len = int.from_bytes(data[1:5], "big")
    rfd, wfd = os.pipe()
    printed = threading.Event()
    got: list[bytes] = []

    def reader() -> None:
        with os.fdopen(rfd, "rb") as stdin:
            for chunk in render_stream(iter_inputs(["-"], print, stdin=stdin),
                                       PrintOptions(resolve=False, oneline=True)):
                got.append(chunk)
                printed.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    with os.fdopen(wfd, "wb") as writer:
        writer.write(data[:first_len])
        writer.flush()
        # output must arrive with the pipe still open (generous guard, not a speed test)
        assert printed.wait(60), "nothing printed before the end of input"
        writer.write(data[first_len:])
    thread.join(60)
    golden = (TRAILS / "synthetic-workload.praudit-ln.txt").read_bytes()
    assert got[0] == golden.split(b"\n", 1)[0] + b"\n"
    assert b"".join(got) == golden


def test_print_tz_leaves_the_process_zone_alone(app: typer.Typer) -> None:
    """Issue 25 item 6: the zone is passed to the renderer, not set in os.environ."""
    out = _run(app, "-ln", "--tz", "Europe/Paris", str(TRAILS / "synthetic-workload.bsm"))
    assert b"Sun Mar  1 10:00:00 2026" in out
    assert os.environ["TZ"] == "UTC"  # the `utc` fixture's, untouched
