"""The ``damage`` view: every skipped byte range of every input, kept with the dataset
(manifest, store/damage_log.py) and shown by ``knox summary`` (issue 22)."""

from __future__ import annotations

from pathlib import Path

from knoxtest import TRAILS

from knox_analytics.catalog import Catalog
from knox_analytics.convert import convert
from knox_analytics.summary import render, summarize

WORKLOAD = (TRAILS / "synthetic-workload.bsm").read_bytes()
JUNK = b"\xee" * 40


def damaged(tmp_path: Path) -> Path:
    """The workload with junk after byte 5000 and its last record cut 30 bytes short."""
    trail = tmp_path / "damaged.bsm"
    trail.write_bytes(WORKLOAD[:5000] + JUNK + WORKLOAD[5000:-30])
    return trail


def rows(*inputs: Path) -> list[tuple]:
    with Catalog(inputs) as cat:
        return cat.sql('SELECT source, "offset", length, reason, kind FROM damage '
                       'ORDER BY source, "offset"').fetchall()


def summary_text(*inputs: Path) -> str:
    with Catalog(inputs) as cat:
        return render(summarize(cat))


def test_the_dataset_keeps_every_skipped_range(tmp_path: Path) -> None:
    trail, out = damaged(tmp_path), tmp_path / "ds"
    reported = convert([trail], out).damage
    assert len(reported) == 2
    kept = rows(out)
    assert kept == [(str(trail), d.offset, d.length, d.reason, d.kind) for d in reported]
    # the trail decoded now: the same ranges (convert adds that a grown trail is read again)
    assert [r[:3] for r in rows(trail)] == [r[:3] for r in kept]
    trail.unlink()  # kept with the dataset: the input is no longer needed
    text = summary_text(out)
    assert "damaged   2 skipped byte range(s)" in text
    assert all(str(d) in text for d in reported)
    with Catalog([out]) as cat:
        assert "damage" in cat.views()


def test_a_grown_trail_replaces_the_damage_read_again(tmp_path: Path) -> None:
    """The cut last record is whole once the trail grew: summary no longer reports it."""
    trail, out = damaged(tmp_path), tmp_path / "ds"
    convert([trail], out)
    assert len(rows(out)) == 2
    with trail.open("ab") as fh:
        fh.write(WORKLOAD[-30:])
    again = convert([trail], out)
    assert again.damage == [] and again.records == 1
    kept = rows(out)
    assert len(kept) == 1 and kept[0][1] < 5000  # the junk only
    assert "damaged   1 skipped byte range(s)" in summary_text(out)


def test_a_clean_dataset_has_an_empty_damage_view(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    convert([TRAILS / "macos-10.9-apple.bsm"], out)
    assert rows(out) == []
    assert "damaged   none" in summary_text(out)


def test_spark_keeps_the_same_ranges(tmp_path: Path) -> None:
    """Spark's driver commits each trail's damage with its entry, as knox convert does."""
    from knoxtest import InProcessSpark

    from knox_analytics.spark.convert import convert as spark_convert

    trail = damaged(tmp_path)
    local = convert([trail], tmp_path / "local")
    spark = spark_convert(InProcessSpark(), [trail], tmp_path / "spark")
    assert spark.records == local.records
    assert rows(tmp_path / "spark") == rows(tmp_path / "local") != []
