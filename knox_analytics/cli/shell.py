"""``knox shell``: an interactive SQL prompt over the knox views, with the duckdb CLI's habits.

Several statements on a line each print their result; ``.mode table|csv|json|ndjson``,
``.output FILE`` (results appended to FILE until ``.output`` alone), ``.timer on|off``,
``.tables`` (the views a user asks; ``.tables all`` adds the building blocks), ``.schema``
and tab completion of views, columns, keywords and dot commands.  Ctrl-C cancels the
running statement (or the one being typed) and keeps the session.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import re
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import typer

from knox_analytics.cli.common import Inputs, Tz, Users, open_catalog, warn
from knox_analytics.errors import UsageError

if TYPE_CHECKING:
    from knox_analytics.catalog import Catalog

#: Views that are steps of other views (process reconstruction, derived-state carry):
#: queryable, but not what ``.tables`` offers a reader (``.tables all`` lists them).
BUILDING_BLOCKS = frozenset({
    "activity", "exec_successes", "instance_commands", "instance_lookup",
    "process_carry", "process_events", "process_instances", "process_starts",
    "record_process"})
MODES = ("table", "csv", "json", "ndjson")
DOT_COMMANDS = (".tables", ".schema", ".mode", ".output", ".timer", ".help", ".quit",
                ".exit")
KEYWORDS = ("SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "LIMIT", "COUNT(*)",
            "DISTINCT", "JOIN", "LEFT JOIN", "USING", "HAVING", "DESCRIBE", "AND", "OR",
            "NOT", "LIKE", "AS", "DESC", "WITH")

SHELL_HELP = """.tables [all]        the views (all: with the steps other views are built from)
.schema VIEW         the columns of VIEW
.mode [MODE]         how results print: table (default), csv, json, ndjson
.output [FILE]       append results to FILE (refused if it exists: .output FILE --force
                     replaces it); .output alone: back to the terminal
.timer on|off        print each statement's run time (real, user and sys CPU)
.help                this text
.quit                leave (also .exit, \\q, Ctrl-D)"""


def shell(inputs: Inputs = None, users: Users = None, tz: Tz = "UTC") -> None:
    """Interactive DuckDB SQL prompt with the knox views loaded (end with ; — .quit leaves).

    Dot commands as in the duckdb CLI: .tables, .schema VIEW, .mode csv|json|table,
    .output FILE, .timer on, .help, .quit; Tab completes view and column names.

    Example: knox shell audit-parquet
    """
    with open_catalog(inputs, users) as cat:
        session = Shell(cat, tz)
        warn(f"knox shell — views: {', '.join(session.tables())}. End statements with "
             "';', '.help' for dot commands, '.quit' to leave.")
        try:
            session.repl()
        finally:
            session.set_output(None)


@dataclass
class Shell:
    """One session's state: the catalog, the time zone, and the dot commands' settings."""

    cat: Catalog
    tz: str = "UTC"
    mode: str = "table"
    timer: bool = False
    out: IO[bytes] | None = None
    out_name: str | None = None
    _words: list[str] = field(default_factory=list)

    # -- the loop -----------------------------------------------------------------------
    def repl(self) -> None:
        """Read lines until .quit or end of input; run each complete statement."""
        self._complete()
        buffer: list[str] = []
        while True:
            try:
                line = input("knox> " if not buffer else "  ... ")
            except EOFError:
                typer.echo("", err=True)
                return
            except KeyboardInterrupt:  # Ctrl-C drops the statement being typed, as psql
                buffer.clear()
                typer.echo("", err=True)
                continue
            if not buffer and line.strip().startswith((".", "\\")):
                if not self.dot(line.strip()):
                    return
                continue
            buffer.append(line)
            text = "\n".join(buffer).strip()
            if not text.endswith(";"):
                continue
            buffer.clear()
            self.run(text)

    def run(self, text: str) -> None:
        """Run every statement of ``text``, printing each result in the current mode."""
        try:
            statements = [s.query for s in self.cat.con.extract_statements(text)]
        except Exception as exc:  # a parse error: duckdb says where
            warn(f"knox: SQL: {_first_line(exc)}")
            return
        for sql in statements:
            if not self.one(sql.strip().rstrip(";")):
                return  # an error or Ctrl-C stops the rest of the line, as duckdb does

    def one(self, sql: str) -> bool:
        """Run one statement; False when it failed or was cancelled."""
        cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        try:
            table = self.cat.query(sql)
        except UsageError as exc:
            warn(f"knox: {self._known_names(str(exc))}")
            return False
        except KeyboardInterrupt:  # Ctrl-C cancels the statement, not the session
            _absorb_pending_interrupt()
            warn("knox: interrupted: the statement was cancelled")
            return False
        self.show(table)
        if self.timer:
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            warn(f"Run Time (s): real {time.perf_counter() - wall0:.3f} "
                 f"user {cpu.ru_utime - cpu0.ru_utime:.3f} "
                 f"sys {cpu.ru_stime - cpu0.ru_stime:.3f}")
        return True

    def show(self, table: object) -> None:
        """Print ``table`` in the current mode, to the terminal or the .output file."""
        from knox_analytics.cli.output import print_table, write_text

        with _stdout(self.out):
            if self.mode == "table":
                print_table(table, tz=self.tz)  # type: ignore[arg-type]
            else:
                write_text(table, self.mode, None, self.tz)  # type: ignore[arg-type]

    # -- dot commands ---------------------------------------------------------------------
    def dot(self, line: str) -> bool:
        """Run a dot command on its own line; False when it asks to leave."""
        word, _, arg = line.partition(" ")
        arg = arg.strip()
        if word in (".quit", ".exit", "\\q"):
            return False
        if word in (".tables", ".views"):
            typer.echo("  ".join(self.tables(everything=arg == "all")))
        elif word == ".schema" and arg:
            self.one(f"SELECT column_name, column_type FROM (DESCRIBE {arg})")
        elif word == ".mode":
            self._mode(arg)
        elif word == ".output":
            self._output(arg)
        elif word == ".timer" and arg in ("on", "off"):
            self.timer = arg == "on"
        elif word == ".help":
            typer.echo(SHELL_HELP)
        else:
            warn(f"knox: unknown dot command {line!r} (.help lists them)")
        return True

    def tables(self, everything: bool = False) -> list[str]:
        """The views a reader asks (with ``everything``, the building blocks too)."""
        return [v for v in self.cat.views() if everything or v not in BUILDING_BLOCKS]

    def _mode(self, arg: str) -> None:
        if not arg:
            typer.echo(self.mode)
        elif arg in MODES:
            self.mode = arg
        else:
            warn(f"knox: .mode {arg}: expected one of {', '.join(MODES)}")

    def _output(self, arg: str) -> None:
        name, _, flag = arg.partition(" ")
        if not name:
            self.set_output(None)
            return
        path = Path(name).expanduser()
        if path.exists() and flag.strip() != "--force":
            warn(f"knox: .output {name}: exists (.output {name} --force replaces it)")
            return
        try:
            self.set_output(path)
        except OSError as exc:
            warn(f"knox: .output {name}: {exc.strerror or exc}")

    def set_output(self, path: Path | None) -> None:
        """Send results to ``path`` (created or replaced), or back to stdout (None)."""
        if self.out is not None:
            self.out.close()
            warn(f"knox: results written to {self.out_name}")
        self.out, self.out_name = None, None
        if path is not None:
            self.out = path.open("wb")
            self.out_name = str(path)

    # -- names ----------------------------------------------------------------------------
    def _known_names(self, message: str) -> str:
        """DuckDB suggests its own catalog for a missing table (``pg_sequences``): a name
        near a knox view is suggested instead, else .tables is named."""
        m = re.search(r"Table with name (\S+) does not exist!", message)
        if not m:
            return message
        name = m.group(1)
        near = difflib.get_close_matches(name, self.cat.views(), n=1, cutoff=0.6)
        hint = f'did you mean "{near[0]}"?' if near else ".tables lists the views"
        return f"SQL: no view or table named {name}; {hint}"

    def _complete(self) -> None:
        """Tab completion (readline, where Python has it) of views, columns, keywords."""
        try:
            import readline
        except ImportError:
            return
        views = self.cat.views()
        columns: set[str] = set()
        with contextlib.suppress(Exception):
            rows = self.cat.con.sql("SELECT DISTINCT column_name FROM duckdb_columns() "
                                    "WHERE NOT internal").fetchall()
            columns = {r[0] for r in rows}
        self._words = sorted({*views, *columns, *KEYWORDS, *(k.lower() for k in KEYWORDS),
                              *DOT_COMMANDS})
        readline.set_completer(self.completions)
        readline.set_completer_delims(" \t\n,;()=<>'\"")
        readline.parse_and_bind("tab: complete")

    def completions(self, text: str, state: int) -> str | None:
        """readline's completer: the ``state``-th word starting with ``text``."""
        found = [w for w in self._words if w.startswith(text)]
        return found[state] if state < len(found) else None


@contextlib.contextmanager
def _stdout(target: IO[bytes] | None) -> Iterator[None]:
    """sys.stdout (text and .buffer) pointed at ``target`` for the writers of output.py;
    None: left as it is."""
    if target is None:
        yield
        return
    wrapper = io.TextIOWrapper(target, encoding="utf-8", newline="", write_through=True)
    saved, sys.stdout = sys.stdout, wrapper
    try:
        yield
    finally:
        wrapper.flush()
        sys.stdout = saved
        wrapper.detach()  # the .output file stays open for the next result


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _absorb_pending_interrupt() -> None:
    """DuckDB stops the statement (the interrupt watcher) before CPython has run the
    SIGINT handler, which then raises at its next check: let it run here, where it is
    the same Ctrl-C, not out of the session."""
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(0)  # a C call: pending signal handlers run as it returns
