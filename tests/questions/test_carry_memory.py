"""The carry between epochs is picked within DuckDB's memory limit, however many epochs
came before and however long the exec histories the carried rows hold.

Each (machine, pid)'s latest carry row used to be picked by a window over the rows of
every earlier epoch's carry file; once the partition key held the machine's name, the
first question on a 2 GB trail ran out of the 512 MB limit at epoch 15."""

from __future__ import annotations

from pathlib import Path

import duckdb

from knox_analytics.derived.build import latest_carry


def _carry_files(root: Path, epochs: int, pids: int) -> list[Path]:
    con = duckdb.connect()
    files = []
    for n in range(epochs):
        path = root / f"carry-{n}.parquet"
        con.execute(
            f"COPY (SELECT CASE WHEN i % 3 = 0 THEN 'mac-b' ELSE '' END AS machine, "
            f"(i % {pids})::UINTEGER AS pid, {n} AS epoch, "
            "[{'time': i, 'path': '/usr/local/bin/a-long-enough-path/' || i, "
            "'argv': ['tool', '--flag', 'value-' || i]} FOR x IN range(20)] AS execs "
            f"FROM range({n * 1000}, {n * 1000} + {pids}) AS t(i)) "
            f"TO '{path}' (FORMAT parquet)")
        files.append(path)
    return files


def test_latest_carry_of_many_epochs_fits_a_small_memory_limit(tmp_path: Path) -> None:
    files = _carry_files(tmp_path, epochs=12, pids=30_000)
    con = duckdb.connect()
    con.execute("SET memory_limit = '100MB'")
    con.execute("SET threads = 2")
    con.execute(f"CREATE TABLE carry AS {latest_carry(files)}")
    # one row per key, from the latest file holding it (every key is in every file)
    assert con.sql("SELECT count(*), count(DISTINCT (machine, pid)), min(epoch), "
                   "max(epoch) FROM carry").fetchall() == [(30_000, 30_000, 11, 11)]


def test_latest_carry_keeps_the_keys_asked_for(tmp_path: Path) -> None:
    files = _carry_files(tmp_path, epochs=3, pids=50)
    con = duckdb.connect()
    con.execute("CREATE TABLE wanted AS SELECT * FROM (VALUES ('', 1::UINTEGER), "
                "('mac-b', 3::UINTEGER), ('mac-b', 1::UINTEGER)) AS t(machine, pid)")
    got = con.sql(f"SELECT machine, pid, epoch FROM ({latest_carry(files, 'wanted')}) "
                  "ORDER BY ALL").fetchall()
    # each wanted key's latest file, found by hand (a key's machine varies by file here)
    latest: dict[tuple[str, int], int] = {}
    for n in range(3):
        for i in range(n * 1000, n * 1000 + 50):
            latest[("mac-b" if i % 3 == 0 else "", i % 50)] = n
    wanted = [("", 1), ("mac-b", 3), ("mac-b", 1)]
    assert got == sorted((m, p, latest[m, p]) for m, p in wanted if (m, p) in latest)
    assert len(got) >= 2

