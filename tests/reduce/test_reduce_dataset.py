"""``knox reduce`` over a dataset selects what it selects over the trail the dataset holds
(issue 22: "on a dataset, equal to auditreduce over the dataset's records written back"):
the same records, byte for byte, for each auditreduce flag set of the goldens' MANIFEST."""

from __future__ import annotations

import io
import shlex
from pathlib import Path

import pytest
from knoxtest import TRAILS

from knox_analytics.bsm.decode import decode_bytes
from knox_analytics.convert import convert
from knox_analytics.reduce import auditreduce_filters, reduce_records

ROWS = [line.split("\t") for line in
        (TRAILS / "auditreduce" / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]]
TRAIL = "synthetic-workload.bsm"
FLAGS = [r[1] for r in ROWS if r[0] == TRAIL and int(r[3]) > 0]  # a real selection


def parse(flags: str) -> dict:
    kw: dict = {"m": [], "o": []}
    words = iter(shlex.split(flags))
    for word in words:
        key = word[1:]
        if key == "v":
            kw["v"] = True
        elif key in ("m", "o"):
            kw[key].append(next(words))
        else:
            value = next(words)
            kw[key] = int(value) if key in "fgj" else value
    return kw


def records(data: bytes) -> list[bytes]:
    """Each record's bytes (the order a dataset keeps may differ from the trail's)."""
    t = decode_bytes(data, "<reduced>").table
    return sorted(data[o:o + n] for o, n in zip(t.column("offset").to_pylist(),
                                                  t.column("length").to_pylist(), strict=True))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reduce") / "ds"
    convert([TRAILS / TRAIL], out)
    return out


@pytest.mark.usefixtures("utc")
@pytest.mark.parametrize("flags", FLAGS)
def test_reduce_over_a_dataset_equals_over_its_trail(dataset: Path, flags: str) -> None:
    f = auditreduce_filters(**parse(flags))
    from_trail, from_dataset = io.BytesIO(), io.BytesIO()
    n = reduce_records([str(TRAILS / TRAIL)], f, from_trail)
    assert reduce_records([str(dataset)], f, from_dataset) == n
    assert records(from_dataset.getvalue()) == records(from_trail.getvalue())
