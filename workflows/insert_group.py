"""PostgreSQL: the closing statements of concurrent writes, committed together as one.

A write whose changes are all `Connection.insert_later` INSERTs (a filed request: the request, its
approvers, the owner's card, the audit entry) ends in one autocommit statement
(`workflows.later_inserts`). Under load, fifty such writers each sending their own meant fifty
round trips and fifty commits, and on a machine PostgreSQL shares with the app each of them wakes a
backend and the app's loop: per write, that cost about as much CPU as all the statement's work
(BENCHMARKS.md, section 1). So each writer hands its INSERTs here instead, and one task sends them:
the writers that finish while a statement is on its way gather for the next, which carries all of
their rows, table by table, as arrays:

    WITH confide_group_1 AS (
        INSERT INTO outbox (...) SELECT r.c1, ... FROM unnest($1::text[], ...) AS r(c1, ...))
    INSERT INTO audit_unsealed (...) SELECT r.c1, ... FROM unnest($9::text[], ...) AS r(c1, ...)

Its text depends only on which INSERTs it carries, not on how many rows, so PostgreSQL plans it
once. A lone writer's rows go the same way, a loop iteration later than they would have alone.

What a writer is promised does not change: its `Database.write()` returns only once the statement
holding its rows has committed, and raises if it did not. If that statement fails on the server (one
writer's row breaks a constraint, say), PostgreSQL has undone all of it: each writer's INSERTs are
then sent again on their own, so each hears its own outcome and no writer pays for another's. If the
connection fails instead, nobody can know whether the statement committed; every writer of the group
raises, as a writer whose own statement met that error always has.

Rows keep their order: a writer's rows into one table are consecutive, in the order it gave them,
and take their serial ids in that order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa

from workflows.connection import CommitNotes, merge_commit_notes, sqlalchemy_error
from workflows.later_inserts import PLACEHOLDER, LaterInserts, plain_insert_parts

logger = logging.getLogger("confide.db")

# Writers' INSERTs one statement carries at most; more wait for the next (they are sent at once).
MAX_WRITERS = 256
# Group statements remembered, by the INSERTs they carry.
_SQL_CACHE_SIZE = 256


@dataclass
class _Writer:
    inserts: LaterInserts
    notes: CommitNotes
    committed: asyncio.Future[None]


class InsertGroup:
    """Sends the closing INSERTs of concurrent writes as one statement, on a connection of its own.

    `connect` opens that connection (SQLAlchemy's, so its codecs are set up); `on_commit` hears each
    committed statement's writers' notes merged (`Database.after_commit`)."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        on_commit: Callable[[CommitNotes], None],
        dialect: sa.Dialect,
    ):
        self._connect = connect
        self._on_commit = on_commit
        self._dialect = dialect
        self._waiting: list[_Writer] = []
        self._sender: asyncio.Task[None] | None = None
        self._connection: Any = None  # SQLAlchemy's AsyncConnection, opened on first use
        # Each INSERT's parameter types, as PostgreSQL infers them: the arrays are cast to them.
        self._types: dict[str, tuple[str, ...] | None] = {}
        self.statements_sent = 0  # how many statements carried writers' rows (for tests and benches)

    async def commit(self, inserts: LaterInserts, notes: CommitNotes) -> None:
        """Return once these INSERTs have committed; raise if they did not (or may not have)."""
        loop = asyncio.get_running_loop()
        writer = _Writer(inserts, notes, loop.create_future())
        self._waiting.append(writer)
        if self._sender is None:
            self._sender = loop.create_task(self._send_waiting(), name="postgres-insert-group")
        # Shielded: a writer cancelled while its rows are on their way leaves the others' alone.
        await asyncio.shield(writer.committed)

    async def close(self) -> None:
        """Let the statements under way finish, then close the connection."""
        while self._sender is not None:
            await asyncio.shield(self._sender)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    async def _send_waiting(self) -> None:
        try:
            # Writers finishing in this turn of the loop join the first statement.
            await asyncio.sleep(0)
            while self._waiting:
                group, self._waiting = self._waiting[:MAX_WRITERS], self._waiting[MAX_WRITERS:]
                await self._send(group)
        finally:
            self._sender = None
            for writer in self._waiting:  # only if cancelled (a shutdown): they must not wait forever
                _fail(writer, RuntimeError("the database is closing; this write was not sent"))
            self._waiting = []

    async def _send(self, group: list[_Writer]) -> None:
        try:
            driver = await self._driver()
            statement = await self._statement(driver, group)
            if statement is None:  # an INSERT an array cannot carry: each writer's own statement
                await self._send_each(group)
                return
            sql, values = statement
            await driver.execute(sql, *values)
        except asyncpg.PostgresError as error:
            if len(group) == 1:
                _fail(group[0], sqlalchemy_error(group[0].inserts.statement()[0], error, self._dialect))
            else:  # PostgreSQL undid the whole statement: each writer's INSERTs again, on their own
                await self._send_each(group)
            return
        except BaseException as error:
            await self._fail_all(group, error)
            return
        self.statements_sent += 1
        self._committed(group)

    async def _send_each(self, group: list[_Writer]) -> None:
        for n, writer in enumerate(group):
            sql, values = writer.inserts.statement()
            try:
                driver = await self._driver()
                await driver.execute(sql, *values)
            except asyncpg.PostgresError as error:
                _fail(writer, sqlalchemy_error(sql, error, self._dialect))
                continue
            except BaseException as error:
                await self._fail_all(group[n:], error)
                return
            self.statements_sent += 1
            self._committed([writer])

    async def _fail_all(self, group: list[_Writer], error: BaseException) -> None:
        """The connection failed (or the sender was cancelled): whether the statement committed is
        unknown, so every writer in it raises. Cancellation is passed on."""
        await self._drop_connection()
        for writer in group:
            _fail(writer, error)
        if not isinstance(error, Exception):
            raise error

    def _committed(self, group: list[_Writer]) -> None:
        notes = [writer.notes for writer in group if writer.notes]
        for writer in group:
            if not writer.committed.done():
                writer.committed.set_result(None)
        if notes:
            self._on_commit(merge_commit_notes(notes))

    async def _statement(self, driver: Any, group: list[_Writer]) -> tuple[str, list[Any]] | None:
        """One writer's own statement, or the group's: one INSERT of arrays per distinct INSERT
        (None if one of them has a parameter an array cannot carry)."""
        if len(group) == 1:
            return group[0].inserts.statement()
        rows_by_insert: OrderedDict[str, list[tuple[Any, ...]]] = OrderedDict()
        for writer in group:
            for insert_sql, rows in writer.inserts.rows_by_insert():
                rows_by_insert.setdefault(insert_sql, []).extend(rows)
        shape: list[tuple[str, tuple[str, ...]]] = []
        for insert_sql in rows_by_insert:
            types = await self._types_of(driver, insert_sql)
            if types is None:
                return None
            shape.append((insert_sql, types))
        values = [list(column) for rows in rows_by_insert.values() for column in zip(*rows, strict=True)]
        return group_sql(tuple(shape)), values

    async def _types_of(self, driver: Any, insert_sql: str) -> tuple[str, ...] | None:
        if insert_sql not in self._types:
            parameters = (await driver.prepare(insert_sql)).get_parameters()
            self._types[insert_sql] = (
                tuple(f'"{p.schema}"."{p.name}"' for p in parameters)
                if all(p.kind == "scalar" for p in parameters)
                else None
            )
        return self._types[insert_sql]

    async def _driver(self) -> Any:
        connection = self._connection
        if connection is not None and connection.sync_connection.connection.driver_connection.is_closed():
            await self._drop_connection()  # the server closed it meanwhile (a restart, a timeout)
            connection = None
        if connection is None:
            connection = self._connection = await self._connect()
        return connection.sync_connection.connection.driver_connection

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.invalidate()
            await connection.close()
        except Exception:  # it is gone either way; the next statement opens another
            logger.exception("could not discard the insert group's database connection")


def _fail(writer: _Writer, error: BaseException) -> None:
    if not writer.committed.done():
        writer.committed.set_exception(error)


_group_sql_cache: OrderedDict[tuple[tuple[str, tuple[str, ...]], ...], str] = OrderedDict()


def group_sql(shape: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """The statement inserting arrays of rows for each (single-row INSERT, its parameter types)."""
    sql = _group_sql_cache.get(shape)
    if sql is not None:
        _group_sql_cache.move_to_end(shape)
        return sql
    inserts = []
    offset = 0
    for insert_sql, types in shape:
        table, columns, row = plain_insert_parts(insert_sql)
        names = ", ".join(f"c{n}" for n in range(1, len(types) + 1))
        arrays = ", ".join(f"${offset + n}::{type_}[]" for n, type_ in enumerate(types, 1))
        # "($1, $2::JSON)" → "r.c1, r.c2::JSON": the row as written, reading each value from the arrays.
        selected = PLACEHOLDER.sub(lambda m: f"r.c{m.group(1)}", row[1:-1])
        rows = f"unnest({arrays}) AS r({names})"
        inserts.append(f"INSERT INTO {table} ({columns}) SELECT {selected} FROM {rows}")
        offset += len(types)
    if len(inserts) == 1:
        sql = inserts[0]
    else:
        ctes = ", ".join(f"confide_group_{n} AS ({insert})" for n, insert in enumerate(inserts[:-1], 1))
        sql = f"WITH {ctes} {inserts[-1]}"
    _group_sql_cache[shape] = sql
    if len(_group_sql_cache) > _SQL_CACHE_SIZE:
        _group_sql_cache.popitem(last=False)
    return sql
