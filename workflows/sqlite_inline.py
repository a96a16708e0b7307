"""SQLite for the async engine without a thread round trip per cursor call.

aiosqlite runs every cursor call (open, execute, fetch, close) on a worker thread and hands the
result back through the event loop. For the small, indexed statements Confide runs, that round trip
costs many times the statement itself, and under load it was most of a request's CPU (BENCHMARKS.md).

This connection speaks the part of aiosqlite's API that SQLAlchemy's aiosqlite dialect uses, but runs
statements inline, on the event loop. Nothing inline may wait, so:
- BEGIN IMMEDIATE is tried without waiting; only when another process holds the write lock does it
  wait for it, on a thread. (Writers of this process queue in `Database.write` and never meet here.)
- Connections do not checkpoint the WAL on commit (that occasionally took tens of milliseconds);
  a checkpoint runs on a thread, from its own connection, every CHECKPOINT_EVERY write commits.

Plug it in with `create_async_engine("sqlite+aiosqlite:///path", async_creator=inline_connector(path))`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

BUSY_TIMEOUT_SECONDS = 30.0
CHECKPOINT_EVERY = 100  # write commits between two checkpoints


class InlineCursor:
    def __init__(self, owner: InlineConnection, cursor: sqlite3.Cursor):
        self._owner = owner
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        if sql == "BEGIN IMMEDIATE":
            await self._owner.begin_immediate()
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


class Checkpointer:
    """Moves the WAL into the database file on a thread, from a connection of its own."""

    def __init__(self, path: str):
        self.path = path
        self.commits = 0
        self._running: asyncio.Future[Any] | None = None

    def committed(self) -> None:
        self.commits += 1
        if self.commits >= CHECKPOINT_EVERY and (self._running is None or self._running.done()):
            self.commits = 0
            self._running = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))

    def _checkpoint(self) -> None:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # waits for nobody
        finally:
            conn.close()


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection, checkpointer: Checkpointer):
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # SQLAlchemy checks it before commit/rollback
        self._tx = _RunNow()
        self._checkpointer = checkpointer
        self._writing = False

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._conn.cursor())

    async def begin_immediate(self) -> None:
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # another process is writing: wait for it off the loop
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            await asyncio.to_thread(self._conn.execute, "BEGIN IMMEDIATE")
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        self._writing = True

    async def commit(self) -> None:
        self._conn.commit()
        if self._writing:
            self._writing = False
            self._checkpointer.committed()

    async def rollback(self) -> None:
        self._writing = False
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


def inline_connector(path: str) -> Callable[[], Awaitable[InlineConnection]]:
    checkpointer = Checkpointer(path)

    def open_connection() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer does it, off the loop
        return conn

    async def connect() -> InlineConnection:
        return InlineConnection(await asyncio.to_thread(open_connection), checkpointer)

    return connect
