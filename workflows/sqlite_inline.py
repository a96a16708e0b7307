"""SQLite for the async engine without a thread round trip per cursor call.

aiosqlite runs every cursor call (open, execute, fetch, close) on a worker thread and hands the
result back through the event loop. For the small, indexed statements Confide runs, that round trip
costs many times the statement itself, and under load it was most of a request's CPU (BENCHMARKS.md).

This connection speaks the part of aiosqlite's API that SQLAlchemy's aiosqlite dialect uses, but runs
statements inline. The two calls that can wait on another process go to a thread: BEGIN IMMEDIATE
(waits while another process holds the write lock) and the COMMIT of a write transaction (it may
checkpoint the WAL to disk). Within this process, `Database.write` queues writers on an asyncio lock,
so no statement waits on a lock held by this process.

Plug it in with `create_async_engine("sqlite+aiosqlite:///path", async_creator=inline_connector(path))`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any


class InlineCursor:
    def __init__(self, owner: InlineConnection, cursor: sqlite3.Cursor):
        self._owner = owner
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        if sql.lstrip()[:15].upper() == "BEGIN IMMEDIATE":
            await asyncio.to_thread(self._cursor.execute, sql, parameters)
            self._owner.writing = True
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's queue to its thread: SQLAlchemy's isolation-level setter puts
    (future, function) on it; here the function simply runs."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # handed to the awaiting caller, as aiosqlite would
            future.set_exception(exc)


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # SQLAlchemy checks it before commit/rollback
        self._tx = _RunNow()
        self.writing = False

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._conn.cursor())

    async def commit(self) -> None:
        if self.writing:
            self.writing = False
            await asyncio.to_thread(self._conn.commit)
        else:
            self._conn.commit()

    async def rollback(self) -> None:
        self.writing = False
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level


def inline_connector(path: str, *, timeout: float = 30.0) -> Callable[[], Awaitable[InlineConnection]]:
    async def connect() -> InlineConnection:
        conn = await asyncio.to_thread(sqlite3.connect, path, timeout=timeout, check_same_thread=False)
        return InlineConnection(conn)

    return connect
