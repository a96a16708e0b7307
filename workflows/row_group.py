"""PostgreSQL: concurrent requests' one-row reads of the same statement, answered by one statement.

Every filed request first reads its standing (`workflows.access`): one row, a round trip of its
own. Under load, the `RowGroup` (`workflows.statement_groups`) sends that statement once for all of
the requests waiting, each request's parameters one row of arrays, and each answer comes back
numbered with the request it belongs to:

    SELECT q.*, r.confide_n
    FROM unnest($1::text[], $2::timestamptz[], ...) WITH ORDINALITY AS r(c1, c2, ..., confide_n)
    CROSS JOIN LATERAL (<the statement, reading r.c1 where it read $1>) AS q

The answers are what each statement would have read on its own at that moment: a read outside a
transaction sees what was committed when its statement began, and one statement is one moment for
all of them. If the statement fails on the server, each request's statement is sent again alone,
so each hears its own outcome.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import asyncpg

from workflows.later_inserts import PLACEHOLDER
from workflows.statement_groups import OwnConnection, StatementGroup, settle

# Requests one statement answers at most; more wait for the next.
MAX_READS = 256

_Read = tuple[str, tuple[Any, ...]]  # the statement's SQL, its parameters
_Waiting = tuple[_Read, asyncio.Future[Any]]


class RowGroup(StatementGroup[_Read]):
    def __init__(self, connection: OwnConnection):
        super().__init__(connection, max_items=MAX_READS)

    async def fetch(self, sql: str, values: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """The rows this statement reads with these parameters (one, for the statements given here).
        Raises asyncpg's error if it fails."""
        return await self._hand_over((sql, values))

    async def _send(self, group: list[_Waiting]) -> None:
        by_statement: dict[str, list[_Waiting]] = {}
        for waiting in group:
            by_statement.setdefault(waiting[0][0], []).append(waiting)
        try:
            for sql, reads in by_statement.items():
                await self._send_reads(sql, reads)
        except BaseException as error:
            await self._fail_all(group, error)  # those not answered yet

    async def _send_reads(self, sql: str, reads: list[_Waiting]) -> None:
        try:
            types = await self.connection.array_types(sql) if len(reads) > 1 else None
        except asyncpg.PostgresError:
            types = None
        if types is None:
            await self._send_each(reads)
            return
        values = [
            list(column) for column in zip(*(read_values for (_sql, read_values), _ in reads), strict=True)
        ]
        try:
            rows = await (await self.connection.driver()).fetch(row_group_sql(sql, types), *values)
        except asyncpg.PostgresError:
            await self._send_each(reads)  # each alone: each hears its own outcome
            return
        self.statements_sent += 1
        answers: list[list[tuple[Any, ...]]] = [[] for _ in reads]
        for row in rows:
            answers[row[-1] - 1].append(tuple(row)[:-1])
        for (_read, outcome), answer in zip(reads, answers, strict=True):
            settle(outcome, answer)

    async def _send_each(self, reads: list[_Waiting]) -> None:
        for (sql, values), outcome in reads:
            try:
                rows = await (await self.connection.driver()).fetch(sql, *values)
            except asyncpg.PostgresError as error:
                settle(outcome, error=error)
                continue
            self.statements_sent += 1
            settle(outcome, [tuple(row) for row in rows])


@functools.lru_cache(maxsize=256)
def row_group_sql(sql: str, types: tuple[str, ...]) -> str:
    """The statement answering `sql` for every row of parameter arrays of these types."""
    names = ", ".join(f"c{n}" for n in range(1, len(types) + 1))
    arrays = ", ".join(f"${n}::{type_}" for n, type_ in enumerate(types, 1))
    # SQLAlchemy binds every value, so each "$n" in its SQL is a placeholder, never literal text.
    lateral = PLACEHOLDER.sub(lambda m: f"r.c{m.group(1)}", sql)
    return (
        f"SELECT q.*, r.confide_n FROM unnest({arrays}) WITH ORDINALITY AS r({names}, confide_n) "
        f"CROSS JOIN LATERAL ({lateral}) AS q"
    )
