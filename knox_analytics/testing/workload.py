"""A deterministic workload generator: a simulated workday on a Mac, as a BSM trail plus a
ground-truth sidecar.

Same seed, same parameters -> the same bytes, on every machine and Python version (only
:class:`random.Random` with an integer seed, no ``hash()``, no clock).  The trail opens and
closes with auditd's stand-alone file tokens; in between, the records of several users
(root 0, alice 501, bob 502, daemons with the unset auid 0xffffffff) interleave: console and
ssh logins with failures, su and sudo, shells that fork/vfork/posix_spawn, execs with awkward
argv (spaces, quotes, commas, newlines, UTF-8, empty strings, an empty argv, more than 128
arguments) and sometimes an environment, file activity (open/openat with the AUE_OPEN_* event
that matches the flags, create, unlink, rename, chmod, mkdir) with ENOENT / EACCES / EPERM /
EEXIST failures, network (socket, bind, listen, connect, accept with socket_ex, sock_inet32,
sock_inet128 and sock_unix; ECONNREFUSED, ETIMEDOUT, EADDRINUSE), authentication events,
exits, and pids that a later, different process reuses.  Token variants are mixed per
process: header32 / header32_ex / header64, subject32 / subject32_ex / subject64 /
subject64_ex (IPv6 terminals), return32 / return64, attr32 / attr64, arg32 / arg64.

Example::

    >>> import io
    >>> out = io.BytesIO()
    >>> stats = generate(out, None, seed=1, records=200)
    >>> stats.records, out.getvalue()[:1] == b"\\x11"
    (200, True)

From the shell: ``python -m knox_analytics.workload --seed 1 --size 300MB -o day.bsm
--truth day.truth.jsonl`` (``knox_analytics.workload`` forwards here).

The simulator is test and benchmark data, not part of the runtime package: nothing under
``knox_analytics`` but :mod:`knox_analytics.workload` and this subpackage imports it.
:mod:`host` holds the Mac's numbers, :mod:`toks` the tokens (written by
:mod:`knox_analytics.bsm.encode`), :mod:`machine` the process table and the trail writer,
:mod:`simulation` the system calls and the scheduler, :mod:`workday` who does what.

The truth sidecar
=================
One JSON object per line, one line per row of the decoded table, in trail order: the
stand-alone file tokens (first and last line) and every record.  Keys of a record line
(the shape of ``tests/data/trails/synthetic-workload.truth.jsonl``, plus the process keys):

================  ==========================================================================
i                 row number (0-based, file tokens included)
offset, length    byte offset of the record in the trail, record length
event             event number; ``event_name`` its name in audit_event; ``emod`` modifier (0)
header            header token kind (header32, header32_ex, header64); ``host`` for _ex kinds
time, sec, msec   ISO time ``2026-03-02T08:00:00.034Z`` (UTC), and the header's seconds / msec
user              name of the subject's euid (root, alice, bob, _mdnsresponder)
tokens            token names in order, header and trailer included
subject           {kind, auid, euid, egid, ruid, rgid, pid, sid, tid_port, tid_addr}
return            return32: {status, errno, errno_name, value, value_u32}; return64: {kind:
                  "return64", status, errno, errno_name, value}.  errno is the BSM errno
                  (audit_errno.h), value is signed (-1 on failure), value_u32 its u32 form
paths             every path token, in order (always present, maybe empty)
argv, env         exec_args / exec_env strings (only when the record has them)
attrs             [{kind, mode (octal string, e.g. "100644"), uid, gid, fsid, nodeid, dev}]
args              [{kind, n, name, value}] (value as written, unsigned)
sockets           socket_ex: {kind, domain_bsm, type_bsm, atype, laddr, lport, raddr, rport};
                  sock_inet32/128: {kind, family, addr, port}; sock_unix: {kind, family, path}
texts             text tokens; ``exit``: {status, value} of the exit token
pid, ppid         the subject's pid and the pid of its parent process instance (0 if unknown)
process_instance  unique id of the subject's process incarnation (a reused pid gets a new one)
command           the program the subject runs; for an exec (execve / posix_spawn) record the
                  basename of argv[0] (of the path if argv is empty) of the new program
child_pid         fork / vfork / posix_spawn records: the child's pid and process instance
child_instance    (absent when the call failed)
================  ==========================================================================

A file-token line has ``i, offset, length, header: "file", tokens: ["file"], time, sec,
msec, file_name`` and no ``event``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time as _time
from collections.abc import Sequence
from datetime import UTC, datetime
from random import Random
from typing import BinaryIO, TextIO

from knox_analytics.errors import KnoxError, UsageError
from knox_analytics.testing.machine import Machine, WorkloadStats
from knox_analytics.testing.workday import Workday

__all__ = ["DEFAULT_START", "WorkloadStats", "generate", "main", "parse_size"]

DEFAULT_START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DEFAULT_HOSTS = ("192.168.1.23", "2001:db8::17")
DEFAULT_RECORDS = 3000
#: The simulated activity is spread over about this much time, whatever the trail size.
WORKDAY_MS = 10 * 3600 * 1000
AVG_RECORD_BYTES = 120  # measured on generated trails: to turn a byte target into a pace


def generate(out: BinaryIO, truth: TextIO | None = None, *, seed: int = 0,
             target_bytes: int | None = None, records: int | None = None,
             start: datetime = DEFAULT_START,
             hosts: Sequence[str] = DEFAULT_HOSTS) -> WorkloadStats:
    """Write a simulated day of BSM records to ``out`` and its truth sidecar to ``truth``.

    Stops after ``records`` records, else once ``target_bytes`` bytes are written (the
    last record may go past it), else after 3,000 records; auditd's startup and shutdown
    records and the file tokens at both ends are included.  ``hosts`` are the machine's
    addresses written in header32_ex tokens.  Same arguments -> same bytes.

    Example::

        with open("day.bsm", "wb") as f, open("day.truth.jsonl", "w") as t:
            stats = generate(f, t, seed=1, records=3000)
    """
    if records is not None and records < 2:
        raise UsageError(f"records={records}: at least 2 (auditd startup and shutdown)")
    if target_bytes is not None and target_bytes < 1:
        raise UsageError(f"target_bytes={target_bytes}: must be positive")
    if records is None and target_bytes is None:
        records = DEFAULT_RECORDS
    t0 = _time.perf_counter()
    rng = Random(seed)
    start_ms = int(start.timestamp() * 1000)
    machine = Machine(out, truth, rng, start_ms, hosts)
    estimate = records or max(1, (target_bytes or 0) // AVG_RECORD_BYTES)
    # mean think time: ~9 records a command, shells often idle at once; fits one workday
    pace = min(600_000.0, max(20.0, WORKDAY_MS * 1.5 / (estimate / 9)))
    sim = Workday(machine, rng, pace)
    stamp = _time.strftime("%Y%m%d%H%M%S", _time.gmtime(start_ms // 1000))
    machine.file_token(f"/var/audit/{stamp}.not_terminated")
    if records is not None:
        machine.max_records = records - 1  # the last one is auditd's shutdown record
    if target_bytes is not None:
        machine.max_bytes = target_bytes
    sim.spawn(sim.booting())
    sim.run()
    machine.max_records = machine.max_bytes = 1 << 62
    sim.shutdown()
    end = _time.strftime("%Y%m%d%H%M%S", _time.gmtime(machine.now // 1000))
    machine.file_token(f"/var/audit/{stamp}.{end}")
    machine.flush()
    stats = machine.stats
    stats.last_ms = machine.now
    stats.seconds = _time.perf_counter() - t0
    return stats


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B?|B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``300MB`` -> 300,000,000; ``64MiB`` -> 67,108,864; a bare number is bytes."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"--size {text!r}: expected a size such as 300MB, 64MiB or 1500000")
    unit = (m.group(2) or "B").upper()
    base = 1024 if "I" in unit else 1000
    power = {"B": 0, "K": 1, "M": 2, "G": 3}[unit[0]]
    return int(float(m.group(1)) * base**power)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m knox_analytics.workload --seed 1 --size 300MB -o FILE [--truth F]``."""
    ap = argparse.ArgumentParser(
        prog="python -m knox_analytics.workload",
        description="Write a deterministic simulated workday as a BSM trail.",
        epilog="Example: python -m knox_analytics.workload --seed 1 --size 300MB "
               "-o day.bsm --truth day.truth.jsonl")
    ap.add_argument("-o", "--output", required=True, help="trail file to write")
    ap.add_argument("--truth", help="also write the ground-truth sidecar (JSON lines)")
    ap.add_argument("--seed", type=int, default=0)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--size", type=parse_size, help="stop after about this many bytes")
    group.add_argument("--records", type=int, help="stop after this many records")
    args = ap.parse_args(argv)
    try:
        with open(args.output, "wb") as out, \
                (open(args.truth, "w", encoding="utf-8") if args.truth else _Null()) as truth:
            stats = generate(out, truth, seed=args.seed, target_bytes=args.size,
                             records=args.records)
    except (KnoxError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.output}: {stats.records} records, {stats.bytes} bytes, "
          f"{stats.processes} processes, {stats.reused_pids} reused pids "
          f"({stats.records_per_second:,.0f} records/s)", file=sys.stderr)
    return 0


class _Null:
    """Stands in for the sidecar file when none is asked for (``with`` yields None)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
