"""PostgreSQL: concurrent requests' reads of the same statement, answered by one statement.

Every filed request first reads its standing (`workflows.access`), and every `/access list` and App
Home its grants and requests: a round trip each. Under load, the `ReadGroup`
(`workflows.statement_groups`) sends such a statement once for all of the requests waiting, each
request's parameters one row of arrays, and each answer row comes back numbered with the request it
belongs to and its place in that request's answer:

    SELECT q.*, r.confide_n
    FROM unnest($1::text[], $2::timestamptz[], ...) WITH ORDINALITY AS r(c1, c2, ..., confide_n)
    CROSS JOIN LATERAL (
        SELECT s.*, row_number() OVER () AS confide_k FROM (<the statement, reading r.c1 where it
        read $1>) AS s
    ) AS q
    ORDER BY r.confide_n, q.confide_k

(its aliases written here without their `confide_` prefix).

(`row_number() OVER ()` numbers the rows as the statement returns them, in its own ORDER BY.)

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


class ReadGroup(StatementGroup[_Read]):
    def __init__(self, connection: OwnConnection):
        super().__init__(connection, max_items=MAX_READS)

    async def fetch(self, sql: str, values: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """The rows this statement reads with these parameters, in its order. Raises asyncpg's error
        if it fails."""
        return await self._hand_over((sql, values))

    async def _send(self, group: list[_Waiting]) -> None:
        by_statement: dict[str, list[_Waiting]] = {}
        for waiting in group:
            if not waiting[1].cancelled():  # nobody waits for it: not read (nor an id drawn for it)
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
            rows = await (await self.connection.driver()).fetch(read_group_sql(sql, types), *values)
        except asyncpg.PostgresError:
            await self._send_each(reads)  # each alone: each hears its own outcome
            return
        self.statements_sent += 1
        answers: list[list[tuple[Any, ...]]] = [[] for _ in reads]
        for row in rows:  # in order: by request, then by place in its answer
            answers[row[-1] - 1].append(tuple(row)[:-2])
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
def read_group_sql(sql: str, types: tuple[str, ...]) -> str:
    """The statement answering `sql` for every row of parameter arrays of these types."""
    names = ", ".join(f"c{n}" for n in range(1, len(types) + 1))
    arrays = ", ".join(f"${n}::{type_}" for n, type_ in enumerate(types, 1))
    # SQLAlchemy binds every value, so each "$n" in its SQL is a placeholder, never literal text. The
    # aliases are prefixed so that no name in the statement itself can shadow them.
    lateral = PLACEHOLDER.sub(lambda m: f"confide_r.c{m.group(1)}", sql)
    return (
        "SELECT confide_q.*, confide_r.confide_n "
        f"FROM unnest({arrays}) WITH ORDINALITY AS confide_r({names}, confide_n) "
        "CROSS JOIN LATERAL (SELECT confide_s.*, row_number() OVER () AS confide_k "
        f"FROM ({lateral}) AS confide_s) AS confide_q "
        "ORDER BY confide_r.confide_n, confide_q.confide_k"
    )
