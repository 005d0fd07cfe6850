"""A full disk during ``knox convert`` (issue 21, minor): one line naming the dataset and
saying what to do, no staged part left on the full disk, and the next run completes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from knoxtest import TRAILS

from knox_analytics.convert import convert
from knox_analytics.errors import DiskFullError
from knox_analytics.store import parts
from knox_analytics.store.parts import STAGING_DIR


def test_disk_full_leaves_nothing_staged_and_says_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ds"
    real = parts.write_part

    def full(where: Path, *args: object, **kwargs: object) -> None:
        real(where, *args, **kwargs)  # the bytes reach the disk, then it is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))

    monkeypatch.setattr(parts, "write_part", full)  # how every part file is written
    with pytest.raises(DiskFullError) as info:
        convert([TRAILS / "synthetic-workload.bsm"], out, derive=False)
    message = str(info.value)
    assert message.startswith(f"{out}: disk full (No space left on device writing {out}")
    assert message.endswith("nothing is lost: free some space and run the same command "
                            "again")
    leftovers = [p for p in out.rglob("*") if p.is_file() and p.suffix != ".json"
                 and p.name != "_knox.lock"]
    assert leftovers == [] and not (out / STAGING_DIR).exists()
    monkeypatch.undo()
    assert convert([TRAILS / "synthetic-workload.bsm"], out, derive=False).records == 3006
