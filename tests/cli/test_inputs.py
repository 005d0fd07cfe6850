"""The one input discovery every command uses (knox_analytics/inputs.py).

Fixture: a copy of ``tests/data/trails/synthetic-workload.bsm`` laid out as a
``/var/audit`` directory would be (provenance in tests/data/trails/README.md).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from knoxtest import WORKLOAD

from knox_analytics.convert import convert
from knox_analytics.errors import InputError
from knox_analytics.inputs import discover, expand, has_records, is_trail


@pytest.fixture
def var_audit(tmp_path: Path) -> Path:
    d = tmp_path / "audit"
    d.mkdir()
    (d / "20260301090000.20260301091715").write_bytes(WORKLOAD.read_bytes())
    (d / "20260302090000.not_terminated").write_bytes(gzip.compress(WORKLOAD.read_bytes()))
    os.symlink("20260302090000.not_terminated", d / "current")
    (d / "audit_control").write_text("dir:/var/audit\n")
    (d / ".hidden").write_text("x")
    (d / "README.md").write_text("# trails of my Mac\n")
    (d / "sub").mkdir()
    return d


def test_a_directory_is_its_trails_once_each(var_audit: Path) -> None:
    found = discover([str(var_audit)])
    names = [Path(i.path).name for i in found.items]
    assert names == ["20260301090000.20260301091715", "20260302090000.not_terminated",
                     "README.md"]  # current read once (its target); config, hidden, dirs out
    assert all(i.found and i.kind == "trail" for i in found.items)


def test_sniffing_skips_the_readme_and_says_so(var_audit: Path) -> None:
    found = discover([str(var_audit)], sniff=True)
    assert [Path(i.path).name for i in found.trails] == [
        "20260301090000.20260301091715", "20260302090000.not_terminated"]
    assert found.skipped == [(str(var_audit / "README.md"), "not a BSM trail")]
    assert is_trail(var_audit / "20260302090000.not_terminated")  # compressed: by content


def test_named_files_datasets_and_stdin(var_audit: Path, tmp_path: Path) -> None:
    convert([str(WORKLOAD)], tmp_path / "ds")
    found = discover(["-", str(tmp_path / "ds"), str(var_audit / "README.md")], sniff=True)
    assert [i.kind for i in found.items] == ["stdin", "dataset", "trail"]
    assert not found.items[2].found  # named: the reader will say it is not a trail
    assert has_records(tmp_path / "ds")
    with pytest.raises(InputError, match="no such file or directory"):
        discover([str(tmp_path / "nothing")])
    with pytest.raises(InputError, match="is a knox dataset"):
        expand([str(tmp_path / "ds")])


def test_inputs_discovered_once_are_handed_on(var_audit: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from knox_analytics import inputs
    from knox_analytics.catalog import Catalog

    found = discover([str(var_audit)])
    sniffed = found.sniff()
    assert sniffed.sniffed and not found.sniffed
    assert [Path(p).name for p, _ in sniffed.skipped] == ["README.md"]
    assert sniffed.sniff() is sniffed and discover(sniffed, sniff=True) is sniffed

    def looked(*_args: object) -> None:
        raise AssertionError("the inputs were looked at again")

    for name in ("_check_readable", "is_trail", "has_records", "dataset_root"):
        monkeypatch.setattr(inputs, name, looked)
    with Catalog(sniffed) as cat:
        assert cat.inputs is sniffed
        assert cat.query("SELECT count(*) AS n FROM records").column("n")[0].as_py() == 2 * 3006
    summary = convert(sniffed, tmp_path / "ds")
    assert [Path(f.path).name for f in summary.files] == [
        "20260301090000.20260301091715", "20260302090000.not_terminated"]


def test_the_check_before_converting_sniffs_a_directory_until_its_first_trail(
        var_audit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``knox convert`` and ``knox reduce`` decide whether a directory holds trails before
    they write: one sniff for a copy of /var/audit (its first file), every file of /etc."""
    from knox_analytics import inputs

    sniffed: list[str] = []
    real = inputs.is_trail
    monkeypatch.setattr(inputs, "is_trail", lambda p: sniffed.append(Path(p).name) or real(p))
    expand([str(var_audit)])
    assert sniffed == ["20260301090000.20260301091715"]
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    (etc / "motd").write_bytes(b"")
    sniffed.clear()
    with pytest.raises(InputError, match=r"etc: no audit trails found \(1 file is not a "
                                         r"BSM audit trail, 1 file is empty\)"):
        expand([str(var_audit), str(etc)])
    assert sniffed == ["20260301090000.20260301091715", "hosts", "motd"]
