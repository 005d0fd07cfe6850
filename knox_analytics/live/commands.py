"""Live questions: every exec, login or network record as it happens, answered by the
offline question.

``knox commands``, ``knox logins`` and ``knox network`` with no TRAIL or DATASET read the
audit pipe (or ``--source``, or ``--follow TRAIL``) and answer through the *same*
definitions as offline: each decoded batch, with a small carried process state in front
of it, is put in a :class:`knox_analytics.catalog.Catalog` and asked the question (one of
:data:`LIVE_QUESTIONS`) with the same :class:`knox_analytics.questions.Filters`
(``--command`` a glob, ``--user`` login, effective or real user, ...).  The carried state
is what the ``process_instances`` view needs from earlier batches to name an exec's parent
or a connection's command: for every pid, the last record that started it
(``process_starts``) and its last exit — read back from the same views, so there is no
second definition of a process either.  It is bounded by the pid space.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from knox_analytics.bsm.reader import Batch
from knox_analytics.errors import UsageError
from knox_analytics.live.device import PipeStats
from knox_analytics.live.stream import live_chunks
from knox_analytics.questions import QUESTIONS, Filters, ask, parse_time

#: The questions answered live (one record at a time makes sense for them).
LIVE_QUESTIONS = ("commands", "logins", "network")

#: The records that carry the process state from batch to batch (see module docstring):
#: for every pid its last start and its last exit, unless that exit came before the
#: start; for ``network`` also its last successful exec since (what names the command of
#: a later connection: :data:`_CARRY_IMAGES`; ``commands`` has the exec in the batch, and
#: carrying it costs 2.6 times the CPU a batch).  Row offsets, not bytes: the carried rows
#: are Arrow rows, decoded once.
_CARRY = """
WITH starts AS (
    SELECT s.child_pid AS pid, r.time, r."offset" FROM process_starts AS s
    JOIN records AS r USING ("offset") WHERE s.child_pid IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY s.child_pid
                               ORDER BY r.time DESC NULLS FIRST, r."offset" DESC) = 1),
exits AS (
    SELECT pid, time, "offset" FROM records WHERE is_exit_event(event_name) AND pid IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY pid
                               ORDER BY time DESC NULLS FIRST, "offset" DESC) = 1)
{images}
SELECT "offset" FROM starts
UNION ALL
SELECT e."offset" FROM exits AS e LEFT JOIN starts AS s USING (pid)
WHERE s.time IS NULL OR e.time IS NULL OR e.time >= s.time
{with_images}
"""
_CARRY_IMAGES = ("""images AS (
    SELECT exec_pid AS pid, time, "offset" FROM execs
    WHERE success AND exec_pid IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY exec_pid
                               ORDER BY time DESC NULLS FIRST, "offset" DESC) = 1)""",
                 """UNION ALL
SELECT x."offset" FROM images AS x LEFT JOIN starts AS s USING (pid)
WHERE s.time IS NULL OR x.time IS NULL OR x.time >= s.time""")


def filters_from(since: str | datetime | None = None, until: str | datetime | None = None,
                 **kw: Any) -> Filters:
    """:class:`Filters` from keyword arguments (datetimes allowed for since/until)."""
    def text(t: str | datetime | None) -> str | None:
        return t.isoformat() if isinstance(t, datetime) else t
    return Filters(since=text(since), until=text(until), **kw)


class QuestionOverStream:
    """Answers ``question`` for each batch of a stream, carrying the process state.

    Each batch is decoded once (by the stream's decoder): its rows and the carried rows
    go to a catalog as one Arrow table (:meth:`Catalog.from_tables`), nothing is written
    or decoded again, and the carried state stays as Arrow rows (at most two per pid,
    three for network).
    """

    question = "commands"

    def __init__(self, filters: Filters = Filters(), users: Any = None,
                 question: str | None = None) -> None:
        if question is not None:
            if question not in LIVE_QUESTIONS:
                raise UsageError(f"{question!r} is not answered live; live questions: "
                                 f"{', '.join(LIVE_QUESTIONS)}")
            self.question = question
        # a relative --since 30m means 30 minutes before the start, not before each batch
        self.filters = replace(filters, **{k: parse_time(v).isoformat() for k, v in
                                           (("since", filters.since),
                                            ("until", filters.until)) if v})
        from knox_analytics.engine import load_users

        self.users = load_users(users)  # once: a directory service may be slow to list
        self._carried: pa.Table | None = None  # rows, offsets renumbered 0..n-1

    @property
    def carried_rows(self) -> int:
        """How many rows carry the process state now (at most two per pid, three for network)."""
        return 0 if self._carried is None else self._carried.num_rows

    def answer(self, batch: Batch) -> pa.Table:
        """Every column of the question's view for the rows of ``batch``, filtered."""
        from knox_analytics.catalog import Catalog

        if batch.records == 0:
            return pa.table({})
        # Offsets order the rows and join the views: the carried rows take 0..n-1 and the
        # batch follows, so a stream that starts over (a rotated trail) cannot collide.
        n = self.carried_rows
        rows = _with_offsets(batch.table, pc.add(pc.subtract(
            batch.table.column("offset"), batch.offset), n))
        if self._carried is not None:
            rows = pa.concat_tables([self._carried, rows.cast(self._carried.schema)])
        with Catalog.from_tables(rows, users=self.users) as cat:
            table = ask(cat, self.question, self.filters, all_columns=True)
            images, with_images = _CARRY_IMAGES if self.question == "network" else ("", "")
            keep = cat.query(_CARRY.format(images=f",{images}" if images else "",
                                           with_images=with_images)).column("offset")
        carried = rows.filter(pc.is_in(rows.column("offset"), keep))
        carried = carried.sort_by([("offset", "ascending")])
        self._carried = _with_offsets(carried, pa.array(range(carried.num_rows), pa.int64()))
        table = table.filter(pc.greater_equal(table.column("offset"), n))
        return _restore_place(table, batch, n)


class CommandsOverStream(QuestionOverStream):
    """:class:`QuestionOverStream` for ``commands`` (the first live question)."""


def _with_offsets(table: pa.Table, offsets: Any) -> pa.Table:
    i = table.column_names.index("offset")
    return table.set_column(i, table.field(i), pc.cast(offsets, table.field(i).type))


def _restore_place(table: pa.Table, batch: Batch, carried: int) -> pa.Table:
    """Give rows the stream's source name and offsets instead of the catalog's."""
    if "source" in table.column_names:
        i = table.column_names.index("source")
        table = table.set_column(i, "source", pa.array([batch.source] * len(table),
                                                       pa.string()))
    if "offset" in table.column_names:
        i = table.column_names.index("offset")
        shift = batch.offset - carried
        table = table.set_column(i, "offset", pc.add(table.column("offset"), shift))
    return table


def shown(table: pa.Table, question: str = "commands") -> pa.Table:
    """The columns offline ``knox QUESTION`` prints, in its order."""
    return table.select(list(QUESTIONS[question][1]))


def live_commands(source: str | None = None, follow: bool = False, *,
                  stop: Callable[[], bool] | None = None, poll: float = 0.25,
                  on_stats: Callable[[PipeStats], None] | None = None,
                  filters: Filters | None = None, users: Any = None,
                  read_size: int | None = None,
                  **filter_args: Any) -> Iterator[dict[str, Any]]:
    """Yield one dict per exec (every column of the ``commands`` view) as records arrive.

    ``filters`` (or the same as keywords: ``user``, ``pid``, ``command`` glob, ``failed``,
    ``since``/``until``) select exactly as offline ``knox commands``.  From the audit pipe,
    ``on_stats`` gets its drop/truncate counters every minute and at the end (print them:
    a live view that silently drops records misleads).

    >>> for c in live_commands(source="/tmp/audit.fifo", user="alice"):  # doctest: +SKIP
    ...     print(c["pid"], c["command_line"])
    """
    for table in live_command_tables(source, follow, stop=stop, poll=poll,
                                     on_stats=on_stats, filters=filters, users=users,
                                     read_size=read_size, **filter_args):
        yield from table.to_pylist()


def live_command_tables(source: str | None = None, follow: bool = False, *,
                        stop: Callable[[], bool] | None = None, poll: float = 0.25,
                        on_stats: Callable[[PipeStats], None] | None = None,
                        filters: Filters | None = None, users: Any = None,
                        read_size: int | None = None, sudo: bool = False,
                        **filter_args: Any) -> Iterator[pa.Table]:
    """Like :func:`live_commands`, one table (the rows of one batch) at a time
    (``sudo``: see :func:`~knox_analytics.live.stream.live_chunks`)."""
    return live_question_tables("commands", source, follow, stop=stop, poll=poll,
                                on_stats=on_stats, filters=filters, users=users,
                                read_size=read_size, sudo=sudo, **filter_args)


def live_question_tables(question: str, source: str | None = None, follow: bool = False,
                         *, stop: Callable[[], bool] | None = None, poll: float = 0.25,
                         on_stats: Callable[[PipeStats], None] | None = None,
                         filters: Filters | None = None, users: Any = None,
                         read_size: int | None = None, sudo: bool = False,
                         **filter_args: Any) -> Iterator[pa.Table]:
    """Every column of ``question`` (one of :data:`LIVE_QUESTIONS`) for the records of
    each batch, one table a batch with rows (the arguments as :func:`live_commands`)."""
    asker = QuestionOverStream(filters or filters_from(**filter_args), users, question)
    for batch in live_chunks(source, follow=follow, stop=stop, poll=poll,
                             on_stats=on_stats, read_size=read_size, sudo=sudo):
        table = asker.answer(batch)
        if table.num_rows:
            yield table
