"""Ctrl-C that stops a DuckDB statement at once.

CPython runs a signal handler only when the main thread returns to the interpreter, and
a DuckDB statement keeps it in C for as long as it runs (DuckDB looks at Python's signals
only between its tasks: a self-join ignored Ctrl-C for minutes).  So :func:`install`
asks CPython to also write each signal's number to a socket (``signal.set_wakeup_fd``,
done in C as the signal arrives) and a watcher thread, blocked on that socket, wakes up
and calls ``interrupt()`` on every live catalog connection: DuckDB checks that flag
inside its operators and stops within milliseconds.  The statement then fails with
``duckdb.InterruptException``, which the catalog turns into :class:`KeyboardInterrupt`.

Only the ``knox`` command installs it (a notebook kernel has its own signal plumbing);
connections register with :func:`watch` whether or not it is installed.
"""

from __future__ import annotations

import signal
import socket
import threading
import weakref
from typing import Any

#: the DuckDB connections a Ctrl-C interrupts (weak: a closed catalog is forgotten)
_connections: weakref.WeakSet[Any] = weakref.WeakSet()
_installed = False


def watch(connection: Any) -> None:
    """Let Ctrl-C interrupt ``connection``'s running statement."""
    _connections.add(connection)


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def install() -> bool:
    """Make Ctrl-C interrupt running DuckDB statements (from the main thread only; False
    where it cannot be done)."""
    global _installed
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except (ValueError, OSError):
        reader.close()
        writer.close()
        return False
    signal.signal(signal.SIGINT, _raise_interrupt)
    threading.Thread(target=_watcher, args=(reader, writer), name="knox-interrupt",
                     daemon=True).start()
    _installed = True
    return True


def _watcher(reader: socket.socket, _writer: socket.socket) -> None:
    while True:
        try:
            data = reader.recv(256)
        except OSError:
            return
        if not data:
            return
        # A command that installed its own SIGINT handler (capture stops cleanly on
        # it) keeps its meaning: only ours means "stop the statement".
        if signal.SIGINT in data and signal.getsignal(signal.SIGINT) is _raise_interrupt:
            interrupt_all()


def interrupt_all() -> None:
    """Interrupt the running statement of every watched connection."""
    for connection in list(_connections):
        try:
            connection.interrupt()
        except Exception:  # a connection closed meanwhile has nothing to stop
            continue


def is_interrupt(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is a Ctrl-C: KeyboardInterrupt, DuckDB's
    interrupt, or DuckDB's "Query interrupted" (its own look at Python's signals)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, KeyboardInterrupt):
            return True
        if type(exc).__name__ == "InterruptException":
            return True
        if isinstance(exc, RuntimeError) and str(exc) == "Query interrupted":
            return True
        exc = exc.__cause__ or exc.__context__
    return False
