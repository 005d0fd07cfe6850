"""Give freed memory back to the system, so a long conversion's peak stays its live data.

Convert allocates and frees arrays of a few MiB per chunk, millions of times.  glibc's
malloc serves allocations of 128 KiB or more by ``mmap`` (and gives them back on free)
only until the first such block is freed: it then raises that threshold, up to 32 MiB,
and later arrays come from heaps that keep what was freed.  Arrow's default allocator
(mimalloc) keeps freed segments too.  Measured with ``knox convert --no-derive`` on the
1 GB generated trail (7 M records): peak RSS 650-670 MiB before, 545-575 MiB with a fixed
threshold of 4 MiB and Arrow on the system allocator, for the same CPU time (a 128 KiB
threshold gave 540 MiB but cost a fifth more CPU in ``munmap``).

Only where the C library is glibc (``mallopt`` exists): macOS's and FreeBSD's allocators
behave otherwise and are left as they are.  A process-wide setting, so the CLI makes it
(and its workers: pool initializers call it too); a notebook is left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

#: glibc's ``M_MMAP_THRESHOLD`` (malloc.h); setting it also turns its growth off.
M_MMAP_THRESHOLD = -3
#: Blocks at least this big are mapped and unmapped on their own.
MMAP_THRESHOLD = 4 << 20


@functools.cache
def return_freed_memory() -> bool:
    """Make this process give freed blocks of :data:`MMAP_THRESHOLD` or more back to the
    system, and Arrow (unless ``ARROW_DEFAULT_MEMORY_POOL`` says otherwise) allocate
    through the same C library.  True: done; False: not glibc, nothing changed.  Call it
    before pyarrow allocates (the CLI does, first): Arrow reads the variable once."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = (ctypes.CDLL(name) if name else ctypes.CDLL(None)).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        return False
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    return True
