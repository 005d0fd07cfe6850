"""Record identity: each distinct record once, whatever the order, overlap, truncation,
damage, compression, renaming or concatenation of the inputs (issue 11, items 1-2).

Inputs are variants of the first records of tests/data/trails/synthetic-workload.bsm
(libbsm-written) and sample_trails/generated-workday.bsm; the expected dataset is the
union of the records each variant holds, taken independently by the decoder.
"""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from knoxtest import WORKDAY, WORKLOAD

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.convert import convert
from knox_analytics.errors import NotBSMError
from knox_analytics.store import MANIFEST_NAME, PART_GLOB

FULL = WORKLOAD.read_bytes()
ENDS = [o + n for o, n in zip(decode_bytes(FULL).table["offset"].to_pylist(),
                              decode_bytes(FULL).table["length"].to_pylist(), strict=True)]
BASE = FULL[:ENDS[399]]  # 400 whole records: small, so that the matrix runs fast
OTHER = WORKDAY.read_bytes()[:60_000]


def records_of(data: bytes) -> Counter:
    """The records a variant holds, as the decoder sees them (the expected answer)."""
    table = decode_bytes(data, require_bsm=False).table
    return Counter(data[o:o + n] for o, n in zip(table["offset"].to_pylist(),
                                                 table["length"].to_pylist(), strict=True))


def damaged_tail(data: bytes) -> bytes:
    cut = len(data) - 1500
    return data[:cut] + bytes(range(256)) * 4 + data[cut + 1024:]


VARIANTS = {
    "whole": BASE,
    "prefix": BASE[:ENDS[199]],
    "truncated": BASE[:ENDS[299] + 40],
    "damaged_tail": damaged_tail(BASE),
    "gzip": gzip.compress(BASE, mtime=0),
    "renamed": BASE,
    "concatenated": BASE + OTHER,
}


def dataset_records(out: Path) -> int:
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/{PART_GLOB}')"
                      ).fetchall()[0][0]


def expected(names: list[str]) -> int:
    union: Counter = Counter()
    for name in names:
        data = VARIANTS[name] if name != "gzip" else BASE
        union |= records_of(data)
    return sum(union.values())


def test_the_base_has_no_repeated_records() -> None:
    assert max(records_of(BASE).values()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(("first", "second"), list(itertools.permutations(VARIANTS, 2)))
def test_overlap_matrix(tmp_path: Path, first: str, second: str) -> None:
    out = tmp_path / "ds"
    for name in (first, second):
        path = tmp_path / f"{name}.bsm"
        path.write_bytes(VARIANTS[name])
        summary = convert([path], out)  # never NotBSMError (exit 1) for a damaged copy
        assert all(f.action in ("converted", "resumed", "skipped") for f in summary.files)
    assert dataset_records(out) == expected([first, second])
    again = convert([tmp_path / f"{first}.bsm", tmp_path / f"{second}.bsm"], out)
    assert again.records == 0  # everything known: adds nothing
    assert dataset_records(out) == expected([first, second])


def test_three_inputs_in_every_order(tmp_path: Path) -> None:
    names = ["truncated", "concatenated", "damaged_tail"]
    for n, order in enumerate(itertools.permutations(names)):
        out = tmp_path / f"ds{n}"
        for name in order:
            path = tmp_path / f"{name}.bsm"
            path.write_bytes(VARIANTS[name])
            convert([path], out)
        assert dataset_records(out) == expected(names), order


def test_all_known_says_so_and_damage_exits_3(tmp_path: Path) -> None:
    """CLI: a damaged copy of a converted trail adds nothing, says why, exits 3 (not 1)."""
    whole, copy = tmp_path / "whole.bsm", tmp_path / "copy.bsm"
    whole.write_bytes(BASE)
    copy.write_bytes(VARIANTS["truncated"])
    out = tmp_path / "ds"
    knox = [sys.executable, "-m", "knox_analytics"]
    first = subprocess.run([*knox, "convert", str(whole), "-o", str(out)],
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([*knox, "convert", str(copy), "-o", str(out)],
                            capture_output=True, text=True)
    assert second.returncode == 3, second.stderr
    assert "already in the dataset" in second.stderr
    assert "Traceback" not in second.stderr
    assert dataset_records(out) == 400


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(1, len(BASE) - 1), min_size=1, max_size=3, unique=True),
       name=st.sampled_from(["trail.1", "current", "20260301.not_terminated"]))
def test_a_growing_trail_loses_nothing(tmp_path_factory, cuts: list[int], name: str) -> None:
    """Converted at random cuts while it grows (any name), then whole: every record
    exactly once; an unfinished tail is never recorded as converted."""
    out = tmp_path_factory.mktemp("grow") / "ds"
    trail = out.parent / name
    for cut in [*sorted(cuts), len(BASE)]:
        trail.write_bytes(BASE[:cut])
        try:
            convert([trail], out)
        except NotBSMError:
            assert cut < ENDS[0]  # not one whole record yet: nothing to convert
    assert dataset_records(out) == 400


def test_growth_by_the_rest_of_a_record(tmp_path: Path) -> None:
    trail = tmp_path / "trail.1"
    out = tmp_path / "ds"
    trail.write_bytes(BASE[:ENDS[9] + 7])
    assert convert([trail], out).records == 10
    trail.write_bytes(BASE[:ENDS[10]])  # exactly the rest of record 11
    summary = convert([trail], out)
    assert summary.records == 1 and not summary.damage
    assert dataset_records(out) == 11


def test_dataset_from_before_record_ids_is_refused_in_one_line(tmp_path: Path) -> None:
    """A dataset of schema version 1 (before the record_id column) is refused with one
    line saying what to do, and left as it was."""
    whole = tmp_path / "whole.bsm"
    whole.write_bytes(BASE)
    out = tmp_path / "ds"
    convert([whole], out)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    manifest["schema_version"] = 1
    manifest["format"] = 2
    for source in manifest["sources"]:
        source["tail_sha"] = source.pop("prefix_sha")
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    before = (out / MANIFEST_NAME).read_text()
    done = subprocess.run([sys.executable, "-m", "knox_analytics", "convert", str(whole),
                           "-o", str(out)], capture_output=True, text=True)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "schema version 1" in lines[0] and "--overwrite" in lines[0]
    assert (out / MANIFEST_NAME).read_text() == before
