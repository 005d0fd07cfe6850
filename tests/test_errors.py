"""Errors live in one file: every exception class the package defines is in errors.py,
under the one root ``KnoxError`` and a builtin base.  Read from the source with
:mod:`ast` (a class defined anywhere, even inside a function, is found).  No fixture."""

from __future__ import annotations

import ast
import inspect

from knoxtest import ROOT

from knox_analytics import errors

PACKAGE = ROOT / "knox_analytics"
#: Control-flow signals that never reach a caller of the package, each with the one place
#: that catches it.  A new entry needs the same kind of reason.
SIGNALS = {
    ("bsm/tokenreader.py", "_Short"): "a token runs past its bytes: the praudit reader's -1",
    ("bsm/tokenreader.py", "Undecodable"): "caught by both decoders: a damage reason",
    ("detect/compile.py", "Unsupported"): "caught by detect/rules.py: the rule is skipped, said",
    ("live/capture.py", "_Stop"): "a signal handler ends the capture's wait",
    ("testing/machine.py", "TargetReached"): "the simulator's end, caught in simulation.py",
}
_BASES = ("Exception", "Error", "Exit", "Interrupt", "Signal", "Reached", "Stop", "Short",
          "Undecodable", "Unsupported")


def _exception_classes() -> set[tuple[str, str]]:
    """(module path, class name) of every class whose bases look like an exception."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
            if any(b.endswith(_BASES) for b in bases):
                found.add((path.relative_to(PACKAGE).as_posix(), node.name))
    return found


def test_every_exception_class_is_in_errors_py() -> None:
    classes = _exception_classes()
    assert ("errors.py", "KnoxError") in classes  # the scan sees errors.py's own classes
    elsewhere = {c for c in classes if c[0] != "errors.py"}
    assert elsewhere == set(SIGNALS)


def test_every_error_is_a_knox_error_and_a_builtin() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if c.__module__ == errors.__name__ and c is not errors.KnoxError]
    assert len(classes) >= 11
    for cls in classes:
        assert issubclass(cls, errors.KnoxError), cls
        builtin = [b for b in cls.__mro__ if b.__module__ == "builtins"
                   and b not in (Exception, BaseException, object)]
        assert builtin, f"{cls.__name__} has no builtin base besides Exception"


def test_moved_errors_are_raised_from_errors_py() -> None:
    """The modules that raise them use the one class (no second definition)."""
    from knox_analytics.cli import output
    from knox_analytics.live import auditon, capture, processes

    assert output.OutputError is errors.OutputError
    assert auditon.AuditonError is errors.AuditonError
    assert processes.ProcessListError is errors.ProcessListError
    assert capture.DiskFullError is errors.DiskFullError
    assert issubclass(errors.DiskFullError, OSError)
    assert issubclass(errors.SqlGenError, errors.KnoxError)
