"""Catalog: a converted dataset answers exactly like the trail it came from.

Fixtures: ``tests/data/trails/synthetic-workload.bsm`` and ``macos-10.9-apple.bsm``
(provenance in tests/data/trails/README.md), converted with the real converter.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from knoxtest import TRAILS, WORKDAY

from knox_analytics import Catalog
from knox_analytics.convert import convert
from knox_analytics.engine import load_users
from knox_analytics.errors import InputError, UsageError

DATA = TRAILS
TRAIL = DATA / "synthetic-workload.bsm"
APPLE = DATA / "macos-10.9-apple.bsm"
VIEWS = ["events", "commands", "processes", "file_access", "errors", "errors_by_errno",
         "errors_by_command", "errors_by_path", "network", "logins"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ds") / "audit-parquet"
    convert([TRAIL, APPLE], root, host="mac1")
    return root


def answers(cat: Catalog, view: str) -> list[tuple]:
    # ids: datasets only; the label names the dataset's machine, which qualifies its
    # process instances ('<pid>@<ms>@mac1'): the trails read directly are one unnamed one
    cols = [c for c in cat.sql(f"SELECT * FROM {view} LIMIT 0").columns
            if c not in ("date", "host", "source", "record_id", "machine")]
    sel = ", ".join(f'"{c}"' for c in cols)
    return sorted((tuple(_unlabelled(v) for v in row)
                   for row in cat.sql(f"SELECT {sel} FROM {view}").fetchall()), key=repr)


def _unlabelled(value: object) -> object:
    if isinstance(value, str) and value.endswith("@mac1") and value.count("@") == 2:
        return value.removesuffix("@mac1")
    return value


@pytest.fixture(scope="module")
def both(dataset: Path) -> tuple[Catalog, Catalog]:
    with Catalog([dataset]) as a, Catalog([TRAIL, APPLE]) as b:
        yield a, b


@pytest.mark.parametrize("view", VIEWS)
def test_dataset_answers_like_trails(both: tuple[Catalog, Catalog], view: str) -> None:
    a, b = both
    assert answers(a, view) == answers(b, view)


def test_dataset_hive_columns(dataset: Path) -> None:
    with Catalog([dataset]) as cat:
        got = cat.sql("SELECT host, CAST(date AS VARCHAR), count(*) FROM records "
                      "GROUP BY ALL ORDER BY ALL").fetchall()
    assert got == [("mac1", "2013-11-04", 54), ("mac1", "2026-03-01", 3006)]


def test_reconvert_is_idempotent(dataset: Path) -> None:
    summary = convert([TRAIL, APPLE], dataset)
    assert [f.action for f in summary.files] == ["skipped", "skipped"]
    with Catalog([dataset]) as cat:
        assert cat.sql("SELECT count(*) FROM records").fetchall() == [(3060,)]


def test_directory_of_trails_and_mixed_inputs(tmp_path: Path, dataset: Path) -> None:
    d = tmp_path / "audit"
    d.mkdir()
    shutil.copy(APPLE, d / "20131118000000.20131119000000")
    (d / "current").symlink_to(d / "20131118000000.20131119000000")
    with Catalog([d]) as cat:  # `current` links to a listed trail: read once
        assert cat.sql("SELECT count(*) FROM records").fetchall() == [(54,)]
    with Catalog([dataset, d]) as cat:
        assert cat.sql("SELECT count(*) FROM records").fetchall() == [(3060 + 54,)]


def test_users_from_passwd_file(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("# from the audited Mac\nalice:*:501:20::/Users/alice:/bin/zsh\n"
                      "bob:*:502:20::/Users/bob:/bin/zsh\n")
    assert load_users(passwd) == {0: "root", 501: "alice", 502: "bob"}
    with Catalog([TRAIL], users=passwd) as cat:
        got = cat.sql('SELECT "user", count(*) FROM events GROUP BY 1 ORDER BY 1').fetchall()
    assert got == [("alice", 1341), ("bob", 1292), ("root", 373)]
    passwd.write_text("garbage\n")
    with pytest.raises(InputError, match="passwd: line 1: expected name:password:id"):
        load_users(passwd)


def test_empty_catalog_has_views_and_lookups() -> None:
    with Catalog() as cat:
        assert {"events", "commands", "processes", "file_access", "errors", "network",
                "logins"} <= set(cat.views())
        assert cat.sql("SELECT count(*) FROM commands").fetchall() == [(0,)]
        assert cat.sql("SELECT name FROM audit_events WHERE event = 23").fetchall() == \
            [("AUE_EXECVE",)]


def test_errors_are_knox_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        Catalog([tmp_path / "missing.bsm"])
    with Catalog() as cat, pytest.raises(UsageError, match="SQL"):
        cat.query("SELECT nope FROM commands")


def test_every_sql_file_states_its_question() -> None:
    from knox_analytics.engine import sql_files

    files = sql_files()
    for f in files:
        assert f.text.startswith("-- Question: "), f.name
        assert f.defines, f.name
    assert len({v for f in files for v in f.defines}) == sum(len(f.defines) for f in files)


def test_derived_tables_are_cached_beside_the_dataset(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    convert([APPLE], root, derive=False)  # derived by the first question instead
    with Catalog([root]) as cat:
        first = cat.sql("SELECT count(*) FROM processes").fetchall()
    cached = list((root / "_knox_cache").glob("derived-*/seg-*/processes.parquet-cache"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    with Catalog([root]) as cat:
        assert cat.sql("SELECT count(*) FROM processes").fetchall() == first
    assert cached[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
    convert([TRAIL], root, derive=False)  # later records: derived from them alone
    with Catalog([root]) as cat:
        assert cat.sql("SELECT count(*) FROM processes").fetchall() != first
        assert len(cat.derived_parts) == 1 and len(cat.derived_parts[0]) == 1
    assert cached[0].stat().st_mtime_ns == stamp
    # readers that glob every *.parquet still see only records
    with Catalog() as cat:
        n = cat.sql(f"SELECT count(*) FROM read_parquet('{root}/**/*.parquet')").fetchall()
    assert n == [(3060,)]


def test_convert_derives_the_process_state_for_the_first_question(tmp_path: Path) -> None:
    """knox convert --derive extends the derived state itself: the first question reads
    no part."""
    root = tmp_path / "ds"
    assert convert([APPLE], root, derive=True).derive_seconds > 0
    with Catalog([root]) as cat:
        cat.sql("SELECT count(*) FROM processes").fetchall()
        assert cat.derived_parts == []
    convert([TRAIL], root, derive=True)
    with Catalog([root]) as cat:
        cat.sql("SELECT count(*) FROM commands").fetchall()
        assert cat.derived_parts == []


def test_convert_extends_a_kept_state_by_default(tmp_path: Path) -> None:
    """By default knox convert derives only where the dataset already keeps a derived
    state (a question was asked): the new records then cost the convert, not the next
    question; a fresh dataset is not derived at convert (its first derivation is a pass
    over every record)."""
    root = tmp_path / "ds"
    assert convert([APPLE], root).derive_seconds == 0
    assert not (root / "_knox_cache").exists()
    with Catalog([root], users={501: "alice"}) as cat:  # a state of other settings only
        cat.sql("SELECT count(*) FROM processes").fetchall()
    assert convert([TRAIL], root).derive_seconds == 0
    with Catalog([root]) as cat:  # the default settings' state, derived by the question
        cat.sql("SELECT count(*) FROM processes").fetchall()
        assert cat.derived_parts != []
    more = WORKDAY  # a later day
    assert convert([more], root).derive_seconds > 0
    with Catalog([root]) as cat:
        cat.sql("SELECT count(*) FROM commands").fetchall()
        assert cat.derived_parts == []
    assert convert([APPLE, TRAIL, more], root, derive=False).derive_seconds == 0


def test_a_question_during_a_compaction_sees_one_snapshot(tmp_path: Path) -> None:
    """A capture compacts while questions run: a question (a catalog) reads the parts of
    the manifest version it started from, in ``_retired/<version>/`` once a compaction
    moved them there; glob readers see the new parts only; nothing is retried."""
    from knox_analytics.store import DatasetWriter, load_manifest
    from knox_analytics.store.snapshot import RETIRED_DIR

    root = tmp_path / "ds"
    convert([TRAIL], root, derive=False)
    convert([APPLE], root, derive=False)
    convert([WORKDAY], root, derive=False)
    before = load_manifest(root).parts
    with Catalog([root]) as cat:
        want = cat.query("SELECT count(*) AS n, sum(\"offset\") AS s FROM records").to_pylist()
        processes = cat.query("SELECT count(*) AS n FROM processes").to_pylist()
        parts = cat.query("SELECT DISTINCT filename FROM read_parquet("
                          f"'{root}/host=*/date=*/*.parquet', filename = true)").num_rows
        with DatasetWriter(root) as writer:
            retired = writer.compact({p.rsplit("/", 1)[0] for p in writer.manifest.parts},
                                     min_parts=1)
        assert retired == parts and (root / RETIRED_DIR).is_dir()
        assert not any((root / p).exists() for p in before)  # all moved away
        # the same question after the compaction: the same snapshot, read where it is now
        assert cat.query("SELECT count(*) AS n, sum(\"offset\") AS s FROM records"
                         ).to_pylist() == want
        assert cat.query("SELECT count(*) AS n FROM processes").to_pylist() == processes
    with Catalog([root]) as cat:  # a new question reads the compacted parts, once each
        assert cat.query("SELECT count(*) AS n, sum(\"offset\") AS s FROM records"
                         ).to_pylist() == want
        n = cat.sql(f"SELECT count(*) FROM read_parquet('{root}/host=*/date=*/*.parquet')"
                    ).fetchall()[0][0]
    assert n == want[0]["n"]


def test_catalog_code_matches_no_error_text() -> None:
    """No retry is left that recognises a vanished file by DuckDB's message."""
    from knox_analytics import catalog

    text = Path(catalog.__file__).read_text(encoding="utf-8")
    assert "No files found" not in text and "DatasetChanged" not in text
