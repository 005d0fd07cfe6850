"""The live tools run with the smallest install (issue 13 item 14).

On FreeBSD pyarrow, duckdb and polars come from packages, not PyPI wheels (docs/real-hosts.md).
Each test runs a live command in a fresh interpreter where the modules it must not need are
blocked (``sys.modules[name] = None`` makes every import of them fail), and checks that it
still works:

==============  ==========================================================
command         needs
==============  ==========================================================
auditpipe       typer (+ click, rich): no numpy, pyarrow, duckdb, polars
auditon         typer (+ click, rich): no numpy, pyarrow, duckdb, polars
paudit, pwait   typer, numpy, pyarrow (the decoder): no duckdb, polars
==============  ==========================================================

Streams are written with knox_analytics.bsm.encode (tests/live/live_helpers.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from live_helpers import exec_record, numbered_stream, open_record

import knox_analytics

#: The subprocesses run in a scratch directory: put this checkout first on their path.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(Path(knox_analytics.__file__).resolve().parent.parent),
     *filter(None, [os.environ.get("PYTHONPATH")])])}

ANALYTICS = ("duckdb", "polars")
DECODER = ("numpy", "pyarrow", "pandas")  # pyarrow probes pandas itself: left alone below


def knox_without(blocked: tuple[str, ...], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `knox ARGS` (cli.main.run, as the console script does) with ``blocked`` unimportable."""
    program = (f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
               f"sys.argv = ['knox', *{args!r}]\n"
               "from knox_analytics.cli.main import run\nrun()\n")
    return subprocess.run([sys.executable, "-c", program], cwd=cwd, capture_output=True,
                          timeout=120, env=ENV)


def test_auditpipe_needs_no_numpy_pyarrow_duckdb_polars(tmp_path: Path) -> None:
    trail = tmp_path / "in.bsm"
    trail.write_bytes(numbered_stream(200))
    r = knox_without(DECODER + ANALYTICS, "auditpipe", "all", "--source", str(trail),
                     cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == trail.read_bytes()


def test_auditon_needs_no_numpy_pyarrow_duckdb_polars(tmp_path: Path) -> None:
    r = knox_without(DECODER + ANALYTICS, "auditon", "getclass", "AUE_EXECVE", cwd=tmp_path)
    if sys.platform.startswith("linux"):  # got as far as asking for the syscall
        assert r.returncode == 1
        assert r.stderr.decode().strip() == ("knox: auditon(2) is not available on Linux "
                                             "(macOS and FreeBSD only)")


def test_auditon_library_needs_no_numpy_pyarrow(tmp_path: Path) -> None:
    # the verbs against a fake kernel: event names, class expressions, masks rendered back
    program = (
        f"import sys\nfor name in {DECODER + ANALYTICS!r}:\n    sys.modules[name] = None\n"
        "from knox_analytics.live import auditon as A\n"
        "from knox_analytics.bsm.classes import AuMask, load_class_table, parse_classes\n"
        "classes = {23: 0x40000080}\n"
        "def kernel(cmd, obj, size):\n"
        "    if cmd == A.A_GETCLASS: obj.ec_class = classes.get(obj.ec_number, 0)\n"
        "    if cmd == A.A_SETCLASS: classes[obj.ec_number] = obj.ec_class\n"
        "    return 0\n"
        "api = A.Auditon(kernel, platform='freebsd')\n"
        "bits = parse_classes('fr,+fw').success\n"
        "new = A.change_class(api, A.event_number('AUE_EXECVE'), bits, on=True)\n"
        "print(AuMask(new, new).to_expression(load_class_table()))\n")
    r = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120, env=ENV)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "fr,fw,pc,ex\n"


def test_paudit_and_pwait_need_no_duckdb_polars(tmp_path: Path) -> None:
    recs = [exec_record(7, "/usr/bin/make", ["make", "-j2"], 1), open_record(7, "/a", 2),
            open_record(8, "/b", 3)]
    src = tmp_path / "in.bsm"
    src.write_bytes(b"".join(recs))
    r = knox_without(ANALYTICS, "paudit", "make", "--source", str(src), cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == recs[0] + recs[1]
    r = knox_without(ANALYTICS, "pwait", "make", "--source", str(src), cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"7 make -j2\n"


def test_the_full_app_still_has_every_command(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-c", "from knox_analytics.cli.main import run; run()",
                        "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env=ENV)
    assert r.returncode == 0, r.stderr
    for command in ("convert", "print", "query", "auditpipe", "auditon", "paudit", "pwait"):
        assert command in r.stdout
