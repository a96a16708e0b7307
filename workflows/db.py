"""The database: engine creation for SQLite and PostgreSQL, transactions, and migrations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from workflows import audit

MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(database_url: str) -> str:
    """Map the URLs people write (sqlite:///x.db, postgres://...) to SQLAlchemy's async drivers."""
    url = database_url.strip()
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


class Database:
    """An async engine plus the two kinds of transaction Confide uses.

    `hide_parameters`: a database error's message would otherwise carry the statement's parameters
    (user text, receipt hashes) into whatever logs the exception.
    """

    def __init__(self, database_url: str, *, pool_size: int = 10):
        self.url = async_url(database_url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(
                self.url, connect_args={"timeout": 30}, hide_parameters=True
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True
            )
        # SQLite has one writer at a time. This process's writers queue here, in order, rather than in
        # SQLite's busy handler, whose growing sleeps made the slowest writes wait for seconds
        # (BENCHMARKS.md). Other processes still meet the busy handler.
        self._sqlite_writer = asyncio.Lock() if self.is_sqlite else None
        # Called after every committed write: the deliverer wakes here instead of polling.
        self.after_commit: list[Callable[[], None]] = []

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE)
        so that two writers queue instead of failing on a lock upgrade."""
        async with self._writer_turn(), self.engine.connect() as conn:
            try:
                async with conn.begin():
                    yield conn
                    if conn.in_transaction():  # not rolled back on purpose (a dry run)
                        await audit.append_pending(conn)
            finally:
                audit.discard_pending(conn)
        for callback in self.after_commit:
            callback()

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        if self._sqlite_writer is None:
            yield
            return
        async with self._sqlite_writer:
            yield

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction: a consistent snapshot that blocks no writer."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(confide_read_only=True)
            async with conn.begin():
                yield conn

    async def migrate(self) -> None:
        """Apply every Alembic revision not yet applied."""
        async with self.engine.connect() as conn:
            await conn.run_sync(_upgrade)
            await conn.commit()

    async def migration_state(self) -> tuple[set[str], set[str]]:
        """(applied revisions, revisions the code expects)."""
        async with self.engine.connect() as conn:
            applied = await conn.run_sync(lambda c: set(MigrationContext.configure(c).get_current_heads()))
        expected = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        return applied, expected

    async def is_ready(self) -> bool:
        applied, expected = await self.migration_state()
        return applied == expected

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: sa.Connection) -> None:
    command.upgrade(alembic_config(connection), "heads")


def _configure_sqlite(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling is replaced by explicit BEGINs, as SQLAlchemy documents,
    # so that writers can take the lock at BEGIN (IMMEDIATE) and readers never do.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        read_only = conn.get_execution_options().get("confide_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
