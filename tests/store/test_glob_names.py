"""A dataset whose path holds glob characters (issue 21, minor): ``br[1]`` crashed every
question (DuckDB read it as a character class), ``star*x`` read ``starAx`` beside it."""

from __future__ import annotations

from pathlib import Path

from knoxtest import TRAILS

from knox_analytics.catalog import Catalog
from knox_analytics.convert import convert


def _records(dataset: Path) -> int:
    with Catalog([dataset]) as cat:
        return cat.query("SELECT count(*) AS n FROM records").column("n")[0].as_py()


def test_glob_characters_in_a_dataset_path(tmp_path: Path) -> None:
    workload = TRAILS / "synthetic-workload.bsm"
    other = TRAILS / "macos-10.9-apple.bsm"
    n = convert([workload], tmp_path / "br[1]", derive=False).records
    convert([workload], tmp_path / "star*x", derive=False)
    convert([other], tmp_path / "starAx", derive=False)  # a sibling the glob would match
    assert n > 0
    assert _records(tmp_path / "br[1]") == n
    assert _records(tmp_path / "star*x") == n
    assert _records(tmp_path / "starAx") != n
