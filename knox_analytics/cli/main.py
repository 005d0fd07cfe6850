"""Entry point of the ``knox`` command: one Typer app, one module per command group.

Each command module defines ``register(app)``; library errors (``KnoxError``) become one
line on stderr and a non-zero exit code, never a traceback.

Command modules are imported only when one of their commands runs (or shows its help):
``knox --help`` lists :data:`COMMANDS` from the one-line summaries below, so it starts
without numpy, pyarrow or duckdb.  A test checks each summary against the command's own
help text, so the two cannot drift.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

# Command modules under knox_analytics.cli, each with register(app).
COMMAND_MODULES: list[str] = [
    "convert",
    "print",
    "reduce",
    "summary",
    "live",
    "capture",
    "query",
    "questions",
    "plot",
    "detect",
]

#: command -> (module, the first line of its help), in the order `knox --help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("convert", "Convert BSM trails into a hive-partitioned Parquet dataset "
                "(zstd)."),
    "print": ("print", "Print audit records like praudit (byte-identical text), as XML, "
              "or as JSON Lines."),
    "reduce": ("reduce", "Write the selected records as a BSM trail (auditreduce): "
               "byte-identical records, for a file or a pipe."),
    "summary": ("summary", "What a trail or dataset holds, on one screen: the first thing "
                "to run on unknown data."),
    "commands": ("questions", "Which commands ran: time, pid, parent pid, user, outcome, "
                 "command line."),
    "files": ("questions", "Which files processes touched: operation, path(s), open flags, "
              "outcome."),
    "errors": ("questions", "Where errors came from: every failed record, or a summary "
               "--by errno|command|path."),
    "tree": ("questions", "Process tree of a --pid (or of every process running "
             "--command): ancestors, the process, its descendants."),
    "network": ("questions", "Network activity: connect/bind/accept/send/recv with "
                "addresses, ports, outcome."),
    "logins": ("questions", "Logins, logouts, su/sudo, ssh and authorisation (classes lo, "
               "aa), with outcome."),
    "events": ("questions", "Every record with readable names — or, with --list, the known "
               "audit events."),
    "classes": ("questions", "The audit classes (code, mask, description) used by --class."),
    "query": ("query", "Run SQL over datasets or trails, with every knox view defined."),
    "shell": ("query", "Interactive DuckDB SQL prompt with the knox views loaded (end with "
              "; — .quit leaves)."),
    "detect": ("detect", "Run Sigma rules over trails and datasets and print the alerts."),
    "plot": ("plot", "Draw the pictures of the notebooks to a PNG, SVG or PDF file."),
    "auditpipe": ("live", "Stream raw audit records of CLASSES to stdout (never to a "
                  "terminal)."),
    "capture": ("capture", "Capture records crash-safely into raw segments and a Parquet "
                "dataset."),
    "paudit": ("live", "Pass through raw records of processes NAME... and all their "
               "descendants."),
    "pwait": ("live", "Block until a process named NAME execs; print its pid and command "
              "line."),
    "auditon": ("live", "Read and change the kernel audit settings through auditon(2) "
                "(macOS, FreeBSD)."),
}

HELP = ("Know what's happening: decode, convert and query BSM audit trails "
        "(macOS / FreeBSD auditing).\n\nExample: knox convert /var/audit -o audit-parquet")


def version() -> str:
    """knox's version, without importing the package's heavy parts."""
    from knox_analytics import __version__

    return __version__


def _group_class() -> type:
    from typer.core import TyperCommand, TyperGroup
    from typer.exceptions import Exit

    class KnoxGroup(TyperGroup):
        """Commands resolved on use; `knox --help` lists them from :data:`COMMANDS`."""

        _loaded: dict[str, Any] = {}  # noqa: RUF012 - one per process, on purpose

        def list_commands(self, ctx: Any) -> list[str]:
            return list(COMMANDS)

        def get_command(self, ctx: Any, cmd_name: str) -> Any:
            if cmd_name in self._loaded:
                return self._loaded[cmd_name]
            if cmd_name not in COMMANDS:
                return None
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name][1])  # listing only

        def resolve_command(self, ctx: Any, args: list[str]) -> Any:
            if args and args[0] in COMMANDS:
                self._loaded.update(load_commands(COMMANDS[args[0]][0]))
            return super().resolve_command(ctx, args)

        def invoke(self, ctx: Any) -> Any:
            from knox_analytics.interrupt import is_interrupt

            try:
                return super().invoke(ctx)
            except KeyboardInterrupt:
                # click would say "Aborted!" and exit 1; the README promises 130
                # (EXIT_INTERRUPTED).
                _interrupted()
            except BrokenPipeError:
                # `knox ... | head` closed the pipe: not an error (click would exit 1).
                # stdout now points at /dev/null so the last flush is quiet too.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise Exit(0) from None
            except Exception as exc:
                if not is_interrupt(exc):  # DuckDB's own "Query interrupted"
                    raise
                _interrupted()

    return KnoxGroup


def _interrupted() -> None:
    # Nothing that imports typer: the Ctrl-C may have come while typer was importing.
    from knox_analytics.cli.exits import EXIT_INTERRUPTED

    sys.stderr.write("knox: interrupted\n")
    sys.stderr.flush()
    sys.exit(EXIT_INTERRUPTED)


def load_commands(*modules: str) -> dict[str, Any]:
    """The click commands the given command modules register (all of them: none given)."""
    import typer

    sub = typer.Typer(rich_markup_mode="rich")
    for name in modules or COMMAND_MODULES:
        importlib.import_module(f"knox_analytics.cli.{name}").register(sub)
    group = typer.main.get_group(sub)
    for cmd in group.commands.values():
        _unwrap(cmd)
    return dict(group.commands)


def _unwrap(cmd: Any) -> None:
    """Join the source's line breaks inside each help paragraph, so that the terminal
    wraps the text at its own width instead of reflowing 80-column lines raggedly.
    Indented paragraphs and lists keep their lines."""
    if cmd.help:
        paras = cmd.help.split("\n\n")
        cmd.help = "\n\n".join(p if _keeps_lines(p) else " ".join(p.split())
                                 for p in paras)
    for sub in getattr(cmd, "commands", {}).values():
        _unwrap(sub)


def _readable_help() -> None:
    """typer's help as a person reads it: values named as :func:`value_name` says (typer
    is loaded already: no cost), and help tables folded (:func:`_fold_help_tables`) when
    a help is drawn, not on every start (rich's tables cost 65 ms to import)."""
    import typer.core

    for kind in (typer.core.TyperOption, typer.core.TyperArgument):
        kind.display_type_rich = value_name  # type: ignore[method-assign]
    for kind in (typer.core.TyperCommand, typer.core.TyperGroup):
        if not getattr(kind.format_help, "_knox_folds", False):
            kind.format_help = _folding(kind.format_help)  # type: ignore[method-assign]


def _folding(format_help: Any) -> Any:
    def wrapper(self: Any, ctx: Any, formatter: Any) -> Any:
        _fold_help_tables()
        return format_help(self, ctx, formatter)

    wrapper._knox_folds = True  # type: ignore[attr-defined]
    return wrapper


def _fold_help_tables() -> None:
    """Table cells that fold a long word (a path in a help text, a long option name)
    onto the next line instead of cutting it with an ellipsis at 80 columns."""
    import typer.rich_utils
    from rich.columns import Columns
    from rich.table import Table
    from rich.text import Text

    if getattr(typer.rich_utils.Table, "_knox_folds", False):
        return

    class FoldingTable(Table):
        _knox_folds = True

        def add_row(self, *renderables: Any, **kwargs: Any) -> None:
            super().add_row(*renderables, **kwargs)
            for column in self.columns:
                column.overflow = "fold"
            for column in self.columns[:-1]:  # names whole: the help text wraps instead
                column.no_wrap = True
            for cell in renderables:  # a help cell is Columns of texts: its own tables
                for part in cell.renderables if isinstance(cell, Columns) else ():
                    if isinstance(part, Text):
                        part.overflow = "fold"

    typer.rich_utils.Table = FoldingTable  # type: ignore[misc]


def value_name(param: Any, ctx: Any) -> str | None:
    """What ``--help`` shows after an option: nothing for a flag, the choices, ``N`` for a
    number, else the parameter's name in capitals (``--users USERS``, ``INPUTS...``),
    instead of typer's ``<bool>``/``<str>``/``<list[Path]>`` type names."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    label = (type(param).display_type(param, ctx) or "").strip("<>")
    if "|" in label and not label.startswith("list["):
        return label  # the choices
    if label in ("int", "float", "int range", "float range"):
        return "N"
    name = (param.name or "value").upper()
    return name + "..." if label.startswith("list[") else name


def _keeps_lines(paragraph: str) -> bool:
    """A list ("- item"), an indented block or click's \\b marker keeps its lines."""
    lines = paragraph.strip("\n").splitlines()
    return paragraph.startswith(("\b", " ")) or any(
        x.lstrip().startswith(("- ", "* ")) for x in lines) or any(
        x.startswith("  ") for x in lines[1:])


def _version_callback(value: bool) -> None:
    if value:
        import typer

        typer.echo(f"knox {version()}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The knox Typer app."""
    import typer

    _readable_help()
    app = typer.Typer(name="knox", help=HELP, no_args_is_help=True, add_completion=False,
                      rich_markup_mode="rich", cls=_group_class())

    @app.callback()
    def _root(version: bool = typer.Option(
            False, "--version", help="Print knox's version and exit.", is_eager=True,
            callback=_version_callback)) -> None:
        pass

    return app


def __getattr__(name: str) -> Any:
    # `from knox_analytics.cli.main import app` (tests, docs) builds it on first use, so
    # that run() can guard everything, imports included, against Ctrl-C.
    if name == "app":
        globals()["app"] = app = build_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    """Console-script entry point."""
    try:
        from knox_analytics.allocator import return_freed_memory
        from knox_analytics.interrupt import install

        install()  # Ctrl-C stops a running DuckDB statement at once
        return_freed_memory()  # convert's peak: its live data, not what it freed
        _run()
    except KeyboardInterrupt:
        _interrupted()


def _run() -> None:
    from knox_analytics.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, warn
    from knox_analytics.errors import KnoxError, NoAnswerError, UsageError

    try:
        build_app()()
    except NoAnswerError as exc:  # a fair question, no answer: said, not an error
        warn(f"knox: {exc}")
        sys.exit(EXIT_OK)
    except UsageError as exc:  # arguments that do not fit together: like typer's own
        warn(f"knox: {exc}")
        sys.exit(EXIT_USAGE)
    except KnoxError as exc:
        warn(f"knox: {exc}")
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:  # closed while typer itself wrote (help text | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except OSError as exc:  # a file system refusal we did not foresee: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        warn(f"knox: {where}{exc.strerror or exc}")
        sys.exit(EXIT_ERROR)
