"""A process pool whose workers hold no dataset lock and die with the process that made it.

Pool workers are forked without exec, so close-on-exec does not help: every worker
inherits the open lock file of the dataset (:meth:`DatasetWriter.lock_identity`), and a
``flock`` lock lives as long as any descriptor of it does.  After ``kill -9`` of the
converting process its workers would keep waiting for work, holding the lock, and every
later convert would fail "another knox process is writing this dataset".  So each worker,
first thing:

* closes its copy of the lock descriptor (checked by device and inode, so under a
  ``spawn`` start method -- nothing inherited -- it never closes an unrelated descriptor);
* arranges to die with its parent: ``PR_SET_PDEATHSIG`` on Linux; elsewhere a thread
  blocked on a pipe whose only write end the parent holds (each worker closes its
  inherited copy), which reads end-of-file when the parent is gone however it ended;
  where the pipe was not inherited (``spawn``), the thread watches ``getppid()``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from knox_analytics.allocator import return_freed_memory

#: Linux: ask the kernel to kill a worker when its parent dies (else: the pipe).
USE_PDEATHSIG = sys.platform.startswith("linux")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
#: Seconds between parent checks where neither prctl nor the pipe is available.
POLL_SECONDS = 0.5

Identity = tuple[int, int, int]  # descriptor, st_dev, st_ino


def identity(fd: int) -> Identity:
    """A descriptor with what it refers to, so a child closes only that file."""
    st = os.fstat(fd)
    return (fd, st.st_dev, st.st_ino)


def _close_if_same(item: Identity) -> None:
    fd, dev, ino = item
    with contextlib.suppress(OSError):
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) == (dev, ino):
            os.close(fd)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _watch_pipe(read_fd: int) -> None:
    with contextlib.suppress(OSError):
        while os.read(read_fd, 1):
            pass
    _die()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    _die()


def _set_pdeathsig() -> bool:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True) if name else ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def init_worker(parent: int, inherited: tuple[Identity, ...], pipe: tuple[Identity, Identity],
                pdeathsig: bool) -> None:
    """The pool initializer (runs first in every worker; see the module docstring)."""
    return_freed_memory()  # as the CLI's own process (a spawned worker inherits nothing)
    for item in inherited:
        _close_if_same(item)
    read_end, write_end = pipe
    _close_if_same(write_end)  # else the pipe never reads end-of-file
    if pdeathsig and _set_pdeathsig():
        watcher = None
    else:
        try:
            same = os.fstat(read_end[0])
            inherited_pipe = (same.st_dev, same.st_ino) == read_end[1:]
        except OSError:
            inherited_pipe = False
        watcher = threading.Thread(
            target=_watch_pipe if inherited_pipe else _watch_parent,
            args=(read_end[0] if inherited_pipe else parent,), daemon=True,
            name="knox-parent-watch")
        watcher.start()
    if os.getppid() != parent:  # the parent died before the watch was in place
        _die()


@contextlib.contextmanager
def worker_pool(jobs: int, *, inherited: tuple[int, ...] = ()) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor of ``jobs`` workers that close ``inherited`` descriptors
    (the dataset lock) and die with this process."""
    read_fd, write_fd = os.pipe()
    try:
        initargs = (os.getpid(), tuple(identity(fd) for fd in inherited),
                    (identity(read_fd), identity(write_fd)), USE_PDEATHSIG)
        with ProcessPoolExecutor(max_workers=jobs, initializer=init_worker,
                                 initargs=initargs) as pool:
            yield pool
    finally:
        os.close(read_fd)
        os.close(write_fd)
