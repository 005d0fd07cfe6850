"""What the simulated Mac's kernel writes: event, errno and socket numbers, host constants.

Event, errno and socket numbers come from the packaged OpenBSM tables (``bsm/tables.py``,
never the host's ``/etc/security``: the same bytes on every machine); only the macOS host
constants below are not in them.  Example::

    >>> EVENTS["AUE_EXECVE"], BSM_ERRNO["ENOENT"]
    (23, 2)
"""

from __future__ import annotations

from collections.abc import Callable

from knox_analytics.bsm.tables import Tables, load_tables
from knox_analytics.errors import KnoxError

# sock_inet32/128/unix and the socket(2) arguments carry macOS host values (sys/socket.h),
# while socket_ex carries BSM numbers (audit_domain.h, audit_socket_type.h).
AF_UNIX, AF_INET, AF_INET6, SOCK_STREAM, SOCK_DGRAM = 1, 2, 30, 1, 2
# macOS open(2) flags (sys/fcntl.h), as the arg token "flags" records them.
O_WRONLY, O_RDWR, O_APPEND, O_CREAT, O_TRUNC, O_EXCL = 0x1, 0x2, 0x8, 0x200, 0x400, 0x800
O_DIRECTORY = 0x100000  # not an access mode: still AUE_OPEN_R
AT_FDCWD = 0xFFFFFFFE  # -2 as the u32 an arg32 token holds
FSID = 16777220  # the APFS data volume's fsid on the Macs the synthetic trails model


def _tables() -> Tables:
    # "builtin": the packaged tables, never the host's /etc/security (same bytes anywhere)
    return load_tables("builtin")


class _Numbers(dict[str, int]):
    """name -> number, filled from a table on first use (unknown name: KnoxError)."""

    def __init__(self, lookup: Callable[[str], int | None], what: str) -> None:
        super().__init__()
        self.lookup, self.what = lookup, what

    def __missing__(self, name: str) -> int:
        num = self.lookup(name)
        if num is None:
            raise KnoxError(f"workload: {self.what} {name!r} is not in the packaged tables")
        self[name] = num
        return num


EVENTS = _Numbers(lambda n: _tables().events.number(n), "event")
BSM_ERRNO = _Numbers(lambda n: _tables().errnos.number(n), "errno")
BSM_DOMAIN = _Numbers(lambda n: _tables().socket_domains.number(n), "socket domain")
BSM_SOCK_TYPE = _Numbers(lambda n: _tables().socket_types.number(n), "socket type")
