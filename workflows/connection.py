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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

T = TypeVar("T")


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


class InlineConnection:
    """A synchronous SQLAlchemy connection behind the awaitable interface of `Connection`."""

    __slots__ = ("sync_connection",)

    def __init__(self, sync_connection: sa.Connection):
        self.sync_connection = sync_connection

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
        return self.sync_connection.execute(statement, parameters, execution_options=execution_options)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return self.sync_connection.scalar(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> sa.CursorResult[Any]:
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
