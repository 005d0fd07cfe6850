"""The CLI gives freed memory back to the system (knox_analytics/allocator.py): on glibc,
a fixed mmap threshold and Arrow on the system allocator; a user's own Arrow allocator
choice is kept; elsewhere nothing changes."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
from knoxtest import ROOT

GLIBC = platform.libc_ver()[0] == "glibc"

#: Runs `knox query` in a fresh process, then says which allocator Arrow used.
CODE = """
import sys
from knox_analytics.cli.main import run
sys.argv = ["knox", "query", "SELECT 42 AS answer", "-f", "csv"]
try:
    run()
except SystemExit:
    pass
import pyarrow as pa
print(pa.default_memory_pool().backend_name)
"""


def backend(env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                         check=True, env={**env, "PYTHONPATH": str(ROOT),
                                          "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    return out.stdout.split()


@pytest.mark.skipif(not GLIBC, reason="the setting is glibc's")
def test_the_cli_allocates_arrow_through_the_c_library() -> None:
    assert backend({}) == ["answer", "42", "system"]


@pytest.mark.skipif(not GLIBC, reason="the setting is glibc's")
def test_a_users_own_arrow_allocator_is_kept() -> None:
    assert backend({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc"})[-1] == "mimalloc"


def test_the_threshold_is_set_where_mallopt_exists() -> None:
    code = ("from knox_analytics.allocator import return_freed_memory as r; import os;"
            "print(r(), os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT)}).stdout.split()
    assert out == (["True", "system"] if GLIBC else ["False", "None"])
