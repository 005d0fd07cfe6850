"""An expert's first hour (issue 23): pipes, who did it, one exit-code rule, the shell.

In process (fast); the Ctrl-C tests, which need a real process and a real signal, are in
test_interrupt.py.  Fixture: ``tests/data/trails/synthetic-workload.bsm`` and its truth.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from knox_analytics.cli.output import print_table


# -- item 2: piped tables ---------------------------------------------------------------
def test_piped_table_has_no_trailing_padding(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """One very long value must not pad every other line to its width: each line ends
    at its last character, and each column is as wide as its widest value shown."""
    monkeypatch.delenv("COLUMNS", raising=False)
    long = "x" * 3000
    table = pa.table({"pid": [1, 22, 333], "command_line": ["ls", long, "id -u"],
                      "user": ["alice", "bob", "root"]})
    print_table(table, title="commands")
    lines = capsys.readouterr().out.splitlines()
    assert all(line == line.rstrip() for line in lines)
    head = lines.index(next(x for x in lines if x.startswith("pid")))
    header, rows = lines[head], lines[head + 2:]
    # pid is 3 wide (its widest value and its header), command_line 3000, user 5
    assert header.index("command_line") == 3 + 3
    assert header.index("user") == 3 + 3 + 3000 + 3
    assert rows[0] == "1     ls" + " " * (3000 - 2) + "   alice"
    assert len(rows[1]) == 3 + 3 + 3000 + 3 + 3
    assert lines[head + 1] == "─" * (3 + 3 + 3000 + 3 + 5)
