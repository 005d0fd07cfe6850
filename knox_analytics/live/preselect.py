"""Preselection of file sources: ``--source FILE|FIFO|-`` gives what the audit pipe would.

The audit pipe hands out only the records of the classes it was configured with
(``flags`` for attributable records, ``naflags`` for records whose audit user is unset),
by the event's classes and the record's outcome, as au_preselect(3) does (``+lo``: login
successes only, ``-lo``: failures only, as in audit_control(5) and ``auditreduce -c``).
A record without a return token is selected when its class is in either mask, as knox's
``--class`` does.  A trail read through ``knox auditpipe CLASSES --source`` is preselected
the same way here, so ``knox auditpipe lo --source trail.bsm`` passes only login records.
Records pass through unchanged (their bytes as read); damaged byte ranges pass through
too, so the reader downstream reports them instead of losing them silently.  ``all`` (for
both kinds of record) selects everything and decodes nothing.

    >>> sel = Preselector(AuMask(0x1000, 0x1000), AuMask(0x1000, 0x1000))  # doctest: +SKIP
    >>> sel.feed(open("trail.bsm", "rb").read())  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from knox_analytics.bsm.classes import ALL_BITS, AuMask
from knox_analytics.live.source import Source

if TYPE_CHECKING:
    from knox_analytics.bsm.reader import Batch

UNSET_AUID = 0xFFFFFFFF


def selects_everything(flags: AuMask, naflags: AuMask) -> bool:
    """``all`` for both outcomes and both kinds of record: nothing to preselect."""
    return all(m == ALL_BITS for m in (flags.success, flags.failure, naflags.success,
                                       naflags.failure))


class Preselector:
    """Bytes in, the preselected records' bytes out (in order, record boundaries kept)."""

    def __init__(self, flags: AuMask, naflags: AuMask, name: str = "<source>") -> None:
        from knox_analytics.bsm.reader import StreamDecoder

        self.flags, self.naflags = flags, naflags
        self.decoder = StreamDecoder(name, keep_data=True)
        self.passed = self.dropped = 0

    def feed(self, data: bytes) -> bytes:
        """The selected bytes of the records ``data`` completes."""
        return b"".join(self._select(b) for b in self.decoder.feed(data))

    def close(self) -> bytes:
        """End of input: what is left (a truncated record passes on as damage)."""
        return b"".join(self._select(b) for b in self.decoder.close())

    def _select(self, batch: Batch) -> bytes:
        import numpy as np

        t = batch.table
        keep = np.zeros(t.num_rows, dtype=bool)
        if t.num_rows:
            masks = self.decoder.tables.events.masks
            event = t.column("event").to_numpy(zero_copy_only=False)
            cls = masks[event.astype(np.int64)].astype(np.uint64)
            success = t.column("success")
            ok = success.fill_null(True).to_numpy(zero_copy_only=False)
            failed = ~success.fill_null(False).to_numpy(zero_copy_only=False)
            auid = t.column("auid").fill_null(UNSET_AUID).to_numpy(zero_copy_only=False)
            na = auid == UNSET_AUID

            def wanted(m: AuMask) -> np.ndarray:
                # no return token (both true): either outcome's classes select it
                return ((ok & ((cls & m.success) != 0))
                        | (failed & ((cls & m.failure) != 0)))

            keep = np.where(na, wanted(self.naflags), wanted(self.flags))
            keep &= t.column("header_token").to_numpy(zero_copy_only=False) != 0x11
        self.passed += int(keep.sum())
        self.dropped += int(t.num_rows - keep.sum())
        starts = t.column("offset").to_numpy(zero_copy_only=False)[keep].astype(np.int64)
        lengths = t.column("length").to_numpy(zero_copy_only=False)[keep].astype(np.int64)
        if batch.damage:  # few: pass them on for the reader downstream to report
            starts = np.concatenate([starts, [d.offset for d in batch.damage]])
            lengths = np.concatenate([lengths, [d.length for d in batch.damage]])
            order = np.argsort(starts, kind="stable")
            starts, lengths = starts[order], lengths[order]
        if not len(starts):
            return b""
        # every selected byte's index in the batch, without a loop over records
        starts = starts - batch.offset
        total = int(lengths.sum())
        ends = np.cumsum(lengths)
        index = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lengths),
                                                             lengths)
        return np.frombuffer(batch.data, dtype=np.uint8)[index].tobytes()


@dataclass
class PreselectedSource(Source):
    """A file, FIFO or stdin source that reads only the preselected records' bytes."""

    preselect: Preselector | None = None

    def read(self, n: int | None = None) -> bytes:
        """The selected records of what is available (b'' at end of input)."""
        assert self.preselect is not None
        while data := os.read(self.fd, n or self.read_size):
            if out := self.preselect.feed(data):
                return out
        return self.preselect.close()


def preselected(source: Source, flags: AuMask, naflags: AuMask) -> Source:
    """``source`` reading only what an audit pipe configured with ``flags``/``naflags``
    would hand out (the audit pipe itself preselects in the kernel: returned as is)."""
    if source.kind == "device" or selects_everything(flags, naflags):
        return source
    fields_ = {f.name: getattr(source, f.name) for f in fields(Source)}
    return PreselectedSource(**fields_, preselect=Preselector(flags, naflags, source.name))
