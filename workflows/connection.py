"""The connection the workflows are given, and its SQLite form that runs on the event loop itself.

Workflows only `await conn.execute(...)` (and a few relatives), so they are written against the
`Connection` protocol below. On PostgreSQL that is SQLAlchemy's `AsyncConnection` over asyncpg.

On SQLite it is an `InlineConnection`: a synchronous SQLAlchemy connection whose calls run at once,
on the event loop's thread. An indexed SQLite statement takes microseconds, far less than handing
it to aiosqlite's thread and back (several thread switches per statement, each waiting for the GIL)
plus SQLAlchemy's greenlet bridge; under load those hops were most of a request's cost
(BENCHMARKS.md). Running inline is safe because nothing on the loop waits inside SQLite: readers
never wait in WAL mode, this process's writers queue on an asyncio lock before they begin, and a
writer of another process is waited for with asyncio.sleep (see `Database.write`), never in
SQLite's busy handler.

An awaited call that never suspends does not give the loop back, though: without `_give_turn` a
transaction of thousands of statements (a sweep with much due, a catalog sync) would hold the loop,
and every other request's ack, for all of its run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from workflows.sqlite_statements import StatementCache

T = TypeVar("T")

# The longest one connection's statements run back to back before other tasks get a turn.
TURN_SECONDS = 0.005


class Connection(Protocol):
    """What a workflow may do with the connection of its transaction."""

    @property
    def info(self) -> dict[Any, Any]: ...

    @property
    def dialect(self) -> sa.Dialect: ...

    async def execute(self, statement: Any, parameters: Any = None) -> sa.CursorResult[Any]: ...

    async def scalar(self, statement: Any, parameters: Any = None) -> Any: ...

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> sa.CursorResult[Any]: ...

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    async def rollback(self) -> None: ...

    def in_transaction(self) -> bool: ...


# What a transaction noted for those who act after its commit (`Database.after_commit`), e.g. whom
# it queued messages for; kept in the connection's info and cleared when the transaction ends.
_COMMIT_NOTES = "confide_commit_notes"
CommitNotes = Mapping[str, frozenset[Any]]


def note_for_commit(conn: Connection, topic: str, value: Any) -> None:
    conn.info.setdefault(_COMMIT_NOTES, {}).setdefault(topic, set()).add(value)


def take_commit_notes(conn: Connection) -> CommitNotes:
    notes = conn.info.pop(_COMMIT_NOTES, None) or {}
    return {topic: frozenset(values) for topic, values in notes.items()}


class InlineConnection:
    """A synchronous SQLAlchemy connection behind the awaitable interface of `Connection`."""

    __slots__ = ("sync_connection", "statements", "_turn_began")

    def __init__(self, sync_connection: sa.Connection, statements: StatementCache | None = None):
        self.sync_connection = sync_connection
        self.statements = statements  # repeated statements run on the driver (sqlite_statements.py)
        self._turn_began = time.perf_counter()

    async def _give_turn(self) -> None:
        """Let other tasks run once this connection has kept the loop for TURN_SECONDS (a clock
        read per statement, a loop iteration only every few milliseconds)."""
        if time.perf_counter() - self._turn_began >= TURN_SECONDS:
            await asyncio.sleep(0)
            self._turn_began = time.perf_counter()

    @property
    def info(self) -> dict[Any, Any]:
        return self.sync_connection.info

    @property
    def dialect(self) -> sa.Dialect:
        return self.sync_connection.dialect

    async def execute(
        self,
        statement: Any,
        parameters: Any = None,
        *,
        execution_options: Mapping[str, Any] | None = None,
    ) -> sa.CursorResult[Any]:
        await self._give_turn()
        if self.statements is not None and not execution_options and self.sync_connection.in_transaction():
            result = self.statements.run(self.sync_connection, statement, parameters)
            if result is not None:
                return result
        return self.sync_connection.execute(statement, parameters, execution_options=execution_options)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> sa.CursorResult[Any]:
        await self._give_turn()
        return self.sync_connection.exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self.sync_connection, *args, **kwargs)

    async def rollback(self) -> None:
        self.sync_connection.rollback()

    async def commit(self) -> None:
        self.sync_connection.commit()

    def in_transaction(self) -> bool:
        return self.sync_connection.in_transaction()

    def get_execution_options(self) -> Mapping[str, Any]:
        return self.sync_connection.get_execution_options()
