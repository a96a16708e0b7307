"""PostgreSQL: the closing INSERTs of concurrent writes, committed together as one statement.

A write whose changes are all `Connection.insert_later` INSERTs (a filed request: the request, its
approvers, the owner's card, the audit entry) ends in one autocommit statement
(`workflows.later_inserts`). Rather than each writer sending its own, it hands its INSERTs to the
`InsertGroup` (`workflows.statement_groups`), whose statement carries the rows of every writer
waiting, table by table, as arrays:

    WITH confide_group_1 AS (
        INSERT INTO outbox (...) SELECT r.c1, ... FROM unnest($1::text[], ...) AS r(c1, ...))
    INSERT INTO audit_unsealed (...) SELECT r.c1, ... FROM unnest($9::text[], ...) AS r(c1, ...)

Its text depends only on which INSERTs it carries, not on how many rows or whose, so PostgreSQL
plans it once.

What a writer is promised does not change: its `Database.write()` returns only once the statement
holding its rows has committed, and raises if it did not. If that statement fails on the server (one
writer's row breaks a constraint, say), PostgreSQL has undone all of it: each writer's INSERTs are
then sent again on their own, so each hears its own outcome and no writer pays for another's. If the
connection fails instead, nobody can know whether the statement committed; every writer of the group
raises, as a writer whose own statement met that error always has.

Rows keep their order: a writer's rows into one table are consecutive, in the order it gave them,
and take their serial ids in that order (`unnest` yields its arrays' elements in order, and an
INSERT ... SELECT draws each row's id as the row comes).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa

from workflows.connection import CommitNotes, merge_commit_notes, sqlalchemy_error
from workflows.later_inserts import PLACEHOLDER, LaterInserts, as_one_statement, plain_insert_parts
from workflows.statement_groups import OwnConnection, StatementGroup, settle

# Writers one statement carries at most; more wait for the next (sent as soon as it returns).
MAX_WRITERS = 256
# Group statements remembered, by the INSERTs they carry.
_SQL_CACHE_SIZE = 256


@dataclass
class _Writer:
    inserts: LaterInserts
    notes: CommitNotes


_Waiting = tuple[_Writer, asyncio.Future[Any]]


class InsertGroup(StatementGroup[_Writer]):
    """`on_commit` hears the notes of each statement's writers, merged (`Database.after_commit`)."""

    def __init__(
        self, connection: OwnConnection, on_commit: Callable[[CommitNotes], None], dialect: sa.Dialect
    ):
        super().__init__(connection, max_items=MAX_WRITERS)
        self._on_commit = on_commit
        self._dialect = dialect

    async def commit(self, inserts: LaterInserts, notes: CommitNotes) -> None:
        """Return once these INSERTs have committed; raise if they did not (or may not have)."""
        await self._hand_over(_Writer(inserts, notes))

    async def _send(self, group: list[_Waiting]) -> None:
        try:
            statement = await self._statement(group)
            if statement is None:  # an INSERT an array cannot carry: each writer's own statement
                await self._send_each(group)
                return
            sql, values = statement
            await (await self.connection.driver()).execute(sql, *values)
        except asyncpg.PostgresError as error:
            if self._outcome_unknown(error):
                await self._fail_all(group, error)
            elif len(group) == 1:
                writer, outcome = group[0]
                settle(outcome, error=sqlalchemy_error(writer.inserts.statement()[0], error, self._dialect))
            else:  # PostgreSQL undid the whole statement: each writer's INSERTs again, on their own
                await self._send_each(group)
            return
        except BaseException as error:
            await self._fail_all(group, error)
            return
        self._committed(group)

    def _outcome_unknown(self, error: asyncpg.PostgresError) -> bool:
        """Whether the statement may have committed after all: the connection was lost (asyncpg
        reports that as a PostgresError too) or closed with the error, so its answer never came.
        Sending those rows again could commit them twice."""
        if isinstance(error, asyncpg.PostgresConnectionError):
            return True
        return self.connection.driver_if_open() is None

    async def _send_each(self, group: list[_Waiting]) -> None:
        for n, (writer, outcome) in enumerate(group):
            sql, values = writer.inserts.statement()
            try:
                await (await self.connection.driver()).execute(sql, *values)
            except asyncpg.PostgresError as error:
                if self._outcome_unknown(error):
                    await self._fail_all(group[n:], error)
                    return
                settle(outcome, error=sqlalchemy_error(sql, error, self._dialect))
                continue
            except BaseException as error:
                await self._fail_all(group[n:], error)
                return
            self._committed([(writer, outcome)])

    def _committed(self, group: list[_Waiting]) -> None:
        self.statements_sent += 1
        for _writer, outcome in group:
            settle(outcome)
        notes = [writer.notes for writer, _outcome in group if writer.notes]
        if notes:
            self._on_commit(merge_commit_notes(notes))

    async def _statement(self, group: list[_Waiting]) -> tuple[str, list[Any]] | None:
        """One writer's own statement, or the group's: one INSERT of arrays per distinct INSERT."""
        if len(group) == 1:
            return group[0][0].inserts.statement()
        rows_by_insert: dict[str, list[tuple[Any, ...]]] = {}
        for writer, _outcome in group:
            for insert_sql, rows in writer.inserts.rows_by_insert():
                rows_by_insert.setdefault(insert_sql, []).extend(rows)
        # In a fixed order (the parts are independent): the same INSERTs make the same statement,
        # which PostgreSQL plans once, whichever writer came first.
        rows_by_insert = dict(sorted(rows_by_insert.items()))
        shape: list[tuple[str, tuple[str, ...]]] = []
        for insert_sql in rows_by_insert:
            types = await self.connection.array_types(insert_sql)
            if types is None:
                return None
            shape.append((insert_sql, types))
        values = [list(column) for rows in rows_by_insert.values() for column in zip(*rows, strict=True)]
        return group_sql(tuple(shape)), values


@functools.lru_cache(maxsize=_SQL_CACHE_SIZE)
def group_sql(shape: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """The statement inserting arrays of rows for each (single-row INSERT, its parameters' array types)."""
    inserts = []
    offset = 0
    for insert_sql, types in shape:
        table, columns, row = plain_insert_parts(insert_sql)
        names = ", ".join(f"c{n}" for n in range(1, len(types) + 1))
        arrays = ", ".join(f"${offset + n}::{type_}" for n, type_ in enumerate(types, 1))
        # "($1, $2::JSON)" → "r.c1, r.c2::JSON": the row as written, reading each value from the arrays.
        selected = PLACEHOLDER.sub(lambda m: f"r.c{m.group(1)}", row[1:-1])
        rows = f"unnest({arrays}) AS r({names})"
        inserts.append(f"INSERT INTO {table} ({columns}) SELECT {selected} FROM {rows}")
        offset += len(types)
    return as_one_statement(inserts, "confide_group")
