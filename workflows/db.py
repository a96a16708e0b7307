"""The database: engine creation for SQLite and PostgreSQL, transactions, and migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from workflows import audit
from workflows.connection import (
    CommitNotes,
    Connection,
    InlineConnection,
    PostgresConnection,
    merge_commit_notes,
    take_commit_notes,
)
from workflows.insert_group import InsertGroup
from workflows.later_inserts import LaterInserts
from workflows.read_group import ReadGroup
from workflows.sqlite_checkpoints import Checkpointer
from workflows.statement_cache import StatementCache
from workflows.statement_groups import OwnConnection

logger = logging.getLogger("confide.db")

MIGRATIONS = Path(__file__).parent / "migrations"
# How long a SQLite writer waits for another process's write transaction before giving up.
WRITE_LOCK_WAIT_SECONDS = 30.0
# PostgreSQL: the longest a request waits for a pooled connection (SQLAlchemy's pool_timeout).
POOL_WAIT_SECONDS = 30.0
# SQLite writers committed together at most (`Database._group_write`).
MAX_GROUP = 32
# SQLite's own wait while opening the file (switching a new file to WAL takes a lock).
CONNECT_BUSY_SECONDS = 30.0


def engine_url(database_url: str) -> str:
    """Map the URLs people write to SQLAlchemy's drivers: SQLite's own module (sqlite:///x.db, also
    accepted as sqlite+aiosqlite:// from older settings), asyncpg for PostgreSQL (postgres://...)."""
    url = database_url.strip()
    for prefix in ("sqlite+aiosqlite:", "sqlite+pysqlite:", "sqlite:"):
        if url.startswith(prefix):
            return "sqlite:" + url.removeprefix(prefix)
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


class Database:
    """The engine plus the two kinds of transaction Confide uses, on SQLite or PostgreSQL.

    SQLite runs inline on the event loop (`workflows.connection` says why); PostgreSQL runs through
    SQLAlchemy's asyncio layer over asyncpg. Either way a workflow gets a `Connection`.

    `hide_parameters`: a database error's message would otherwise carry the statement's parameters
    (user text, receipt hashes) into whatever logs the exception.
    """

    def __init__(self, database_url: str, *, pool_size: int = 20, background_checkpoints: bool = False):
        """`background_checkpoints`: a long-running process (serve) checkpoints SQLite's WAL from a
        worker thread (`start_background_work`) instead of inside commits on the event loop."""
        self.url = engine_url(database_url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.async_engine: AsyncEngine | None = None
        if self.is_sqlite:
            # No pool limit: a checkout that waited for a free connection would block the event loop.
            self.sync_engine = sa.create_engine(
                self.url,
                poolclass=sa.pool.QueuePool,
                pool_size=pool_size,
                max_overflow=-1,
                connect_args={"timeout": CONNECT_BUSY_SECONDS},
                hide_parameters=True,
            )
            _configure_sqlite(self.sync_engine, autocheckpoint=not background_checkpoints)
        else:
            # No overflow: a connection opened for a burst and closed after it cost a backend process
            # on the server and ~2 ms of client CPU, and under steady load the pool kept doing that
            # (BENCHMARKS.md). Requests beyond the pool wait for a connection instead.
            # Autocommit: SQLAlchemy begins nothing. A read needs no transaction, and a write begins
            # its own on asyncpg when it first needs one (`PostgresConnection`); migrations ask for
            # one (`_connection`).
            # Two connections more than the requests' turns: the statement groups' (`_insert_group`,
            # `_read_group`).
            self.async_engine = create_async_engine(
                self.url,
                pool_size=pool_size + 2,
                max_overflow=0,
                pool_pre_ping=True,
                hide_parameters=True,
                isolation_level="AUTOCOMMIT",
            )
            self.sync_engine = self.async_engine.sync_engine
        # PostgreSQL: requests beyond the pool take turns here, first come first served. The pool's own
        # queue is not fair: a connection given back goes to a request that asks before the waiter
        # woken for it runs, and that waiter waits again. Under load some requests lost many turns:
        # taking turns here took a third off the write p99 (BENCHMARKS.md).
        self._connection_turns = asyncio.Semaphore(pool_size) if self.async_engine is not None else None
        # PostgreSQL connections kept checked out between requests, handed out in those turns: a
        # checkout from SQLAlchemy's pool and its return cost about as much client CPU as a query.
        self._kept: list[AsyncConnection] = []
        # SQLite has one writer at a time. This process's writers queue here, in order, rather than in
        # SQLite's busy handler, whose growing sleeps made the slowest writes wait for seconds
        # (BENCHMARKS.md). Writers of other processes are waited for in `_begin_sqlite_write`.
        self._sqlite_writer = asyncio.Lock() if self.is_sqlite else None
        self._statements = StatementCache(self.sync_engine.dialect)
        # The connection those writers take turns on: kept open, since only one of them can use a
        # connection at a time anyway, and a pool checkout and return cost more than a statement.
        self._sqlite_write_connection: sa.Connection | None = None
        # SQLite: the transaction the writers of this process are adding to, and the tasks that will
        # commit one (`_group_write`).
        self._group: _WriteGroup | None = None
        self._flushers: set[asyncio.Task[None]] = set()
        # Called after every committed write with what it noted (`note_for_commit`): the deliverer
        # and the audit forwarder wake here instead of polling.
        self.after_commit: list[Callable[[CommitNotes], None]] = []
        # PostgreSQL: concurrent writes whose changes are all batched INSERTs commit them together, and
        # concurrent requests' reads of a statement are answered together (statement_groups).
        self._insert_group: InsertGroup | None = None
        self._read_group: ReadGroup | None = None
        if self.async_engine is not None:
            connect = self.async_engine.connect
            dialect = self.sync_engine.dialect
            self._insert_group = InsertGroup(OwnConnection(connect, "insert"), self._notify, dialect)
            self._read_group = ReadGroup(OwnConnection(connect, "read"))
        self._checkpointer = (
            Checkpointer(str(self.sync_engine.url.database))
            if self.is_sqlite and background_checkpoints
            else None
        )

    def start_background_work(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.start()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        """A read-write transaction, committed when the block ends (and before it returns). On
        SQLite the writers of this process queue and commit in groups (`_group_write`)."""
        if self.is_sqlite:
            async with self._group_write() as conn:
                yield conn
            return
        assert self._insert_group is not None
        closing_inserts: LaterInserts | None = None
        conn = self._postgres_connection(transaction=True)
        committed = False
        try:
            yield conn
            if conn.in_transaction():  # not rolled back on purpose (a dry run)
                await audit.append_pending(conn)
                closing_inserts = conn.take_closing_inserts()
                if closing_inserts is None:
                    await conn.finish()
                    committed = True
        except BaseException:
            await conn.abandon()
            raise
        finally:
            await self._give_back(conn)  # first: the bookkeeping below needs no connection
            audit.discard_pending(conn)
            notes = take_commit_notes(conn)
        if closing_inserts is not None:
            # Its connection is given back first: the group's own sends it, and a writer holding a
            # turn while it waits would only keep another request from one.
            await self._insert_group.commit(closing_inserts, notes)  # tells the listeners itself
        elif committed and notes:  # a dry run's notes are news of nothing
            self._notify(notes)

    def _notify(self, notes: CommitNotes) -> None:
        for callback in self.after_commit:
            try:
                callback(notes)
            except Exception:  # a listener's bug must not undo the news for the others, nor the write
                logger.exception("after-commit callback failed")

    @asynccontextmanager
    async def _group_write(self) -> AsyncIterator[Connection]:
        """SQLite: one writer at a time, and the writers that reach the database while one COMMIT
        is pending share it: one COMMIT makes all of their work durable.

        Why: a commit writes every page the transaction changed to the log, and concurrent requests
        change the same few pages (the ends of the same tables and indexes); committing each alone was
        a quarter of a write's CPU under load (BENCHMARKS.md). The first writer of a group leaves the
        transaction open and queues a flusher task for the writer turn, which commits once the loop
        has run the tasks ready meanwhile: under load those are other requests, whose writes join the
        group; on an idle server the flusher runs next, so a lone write waits one loop iteration.
        The first writer has the transaction to itself; each later one works in a savepoint, so a
        writer whose block fails, or that rolls back on purpose, is undone without touching the
        others. Every writer returns only once the COMMIT holding its work is done, and raises if that
        COMMIT fails: nothing is acknowledged before it is durable. The MAX_GROUP-th writer commits at
        once, which bounds how long the first one waits."""
        assert self._sqlite_writer is not None
        await self._sqlite_writer.acquire()
        try:
            first = self._group is None
            group = await self._begin_group() if first else self._group
            assert group is not None
            driver = group.connection.connection.driver_connection
            if not first:
                self._in_group(group, driver, "SAVEPOINT confide_writer")
            conn = InlineConnection(group.connection, self._statements, in_savepoint=not first)
            try:
                yield conn
                if conn.in_transaction():  # not rolled back on purpose (a dry run)
                    await audit.append_pending(conn)
            except BaseException:
                self._undo_writer(group, driver, conn, first)
                raise
            finally:
                audit.discard_pending(conn)
                notes = take_commit_notes(conn)
            if not conn.in_transaction():  # rolled back on purpose
                self._undo_writer(group, driver, conn, first)
                return
            self._in_group(group, driver, None if first else "RELEASE confide_writer")
            group.notes.append(notes)
            if len(group.notes) < MAX_GROUP:
                self._flush_later(group)
            else:
                self._commit_group(group)
        finally:
            self._sqlite_writer.release()
        await asyncio.shield(group.committed)

    def _undo_writer(
        self, group: _WriteGroup, driver: sqlite3.Connection, conn: InlineConnection, first: bool
    ) -> None:
        """A writer failed or rolled back: to its savepoint, or the whole transaction if it is alone.
        Never raises: the writer's own error is what it raises."""
        if first:  # nobody else has written in this transaction
            self._group = None
            if group.books.is_active:  # not rolled back on purpose already
                with contextlib.suppress(Exception):
                    group.books.rollback()
            group.committed.cancel()
            return
        try:
            self._in_group(group, driver, "ROLLBACK TO confide_writer" if conn.in_transaction() else None)
            self._in_group(group, driver, "RELEASE confide_writer")
        except Exception:  # the group has failed: its writers hear it from their COMMIT
            pass

    def _in_group(self, group: _WriteGroup, driver: sqlite3.Connection, sql: str | None) -> None:
        """Run a savepoint statement in the group's transaction, first checking that SQLite has not
        rolled the whole transaction back on an error (a full disk, say: it may, for some errors).
        If it has, or the statement fails, the group fails: every writer in it raises, rather than
        hearing that a COMMIT of nothing made its work durable."""
        try:
            if not driver.in_transaction:
                raise sqlite3.OperationalError("SQLite rolled the write transaction back")
            if sql is not None:
                driver.execute(sql)
        except BaseException as error:
            self._fail_group(group, error)
            raise

    def _fail_group(self, group: _WriteGroup, error: BaseException) -> None:
        if self._group is group:
            self._group = None
        if group.books.is_active:
            with contextlib.suppress(Exception):
                group.books.rollback()
        if not group.committed.done():
            group.committed.set_exception(error)

    async def _begin_group(self) -> _WriteGroup:
        sync_conn = self._write_connection()
        await _begin_sqlite_write(sync_conn.connection.driver_connection)
        self._group = _WriteGroup(sync_conn, _books_of_begun(sync_conn))
        return self._group

    def _flush_later(self, group: _WriteGroup) -> None:
        if group.flusher is None:
            group.flusher = asyncio.get_running_loop().create_task(self._flush(group), name="sqlite-commit")
            self._flushers.add(group.flusher)
            group.flusher.add_done_callback(self._flushers.discard)

    async def _flush(self, group: _WriteGroup) -> None:
        assert self._sqlite_writer is not None
        async with self._sqlite_writer:
            if self._group is group:
                self._commit_group(group)

    def _commit_group(self, group: _WriteGroup) -> None:
        """COMMIT (the caller holds the writer turn), then tell the writers and the listeners."""
        try:
            self._in_group(group, group.connection.connection.driver_connection, None)
            group.books.commit()
        except BaseException as error:
            self._fail_group(group, error)
            return
        self._group = None
        group.committed.set_result(None)
        if group.notes:
            self._notify(merge_commit_notes(group.notes))

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        """A read that blocks no writer: on SQLite one snapshot (a read transaction); on PostgreSQL
        statements without a transaction (the engine's autocommit), each seeing what was committed
        when it began (READ COMMITTED gives each statement its own snapshot inside a transaction
        too, so a read would gain nothing from BEGIN and COMMIT but two round trips)."""
        if self.async_engine is not None:
            conn = self._postgres_connection(transaction=False)
            try:
                yield conn
            except BaseException:
                await conn.discard_if_broken()
                raise
            finally:
                await self._give_back(conn)
            return
        with self.sync_engine.connect() as sync_conn:
            sync_conn.connection.driver_connection.execute("BEGIN")
            with _books_of_begun(sync_conn):
                yield InlineConnection(sync_conn, self._statements)

    def _write_connection(self) -> sa.Connection:
        """This process's SQLite write connection (callers hold the writer turn); a new one if the
        last was invalidated by an error that made it unusable."""
        conn = self._sqlite_write_connection
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                conn.close()
            conn = self._sqlite_write_connection = self.sync_engine.connect()
        return conn

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A connection outside any transaction of ours (migrations run their own)."""
        if self.async_engine is not None:
            async with self._turn():
                # Kept connections hold all of the pool's once it has served that many at once.
                async_conn = await self._checkout()
                try:
                    # Alembic's transaction must be a real one: a failed migration leaves nothing.
                    yield await async_conn.execution_options(isolation_level="READ COMMITTED")
                finally:
                    # Back to SQLAlchemy's pool, not kept: that resets its isolation level.
                    await async_conn.close()
            return
        with self.sync_engine.connect() as sync_conn:
            yield InlineConnection(sync_conn, self._statements)

    def _postgres_connection(self, *, transaction: bool) -> PostgresConnection:
        """A write's or a read's connection, lent a pooled one only if a statement needs it: requests
        whose reads and INSERTs all go to the statement groups take no turn and no checkout."""
        return PostgresConnection(
            self._lend,
            self._statements,
            self.sync_engine.dialect,
            transaction=transaction,
            reads=self._read_group,
        )

    async def _lend(self) -> AsyncConnection:
        """A PostgreSQL connection, in turn: a kept one if any is free, else a new one from the pool.
        `_give_back` returns it, and the turn."""
        await self._take_turn()
        try:
            return await self._checkout()
        except BaseException:
            self._release_turn()
            raise

    async def _give_back(self, conn: PostgresConnection) -> None:
        """Keep or close the connection a write or read was lent, if it was lent one, and end its turn."""
        async_conn = conn.give_back()
        if async_conn is None:
            return
        try:
            await self._keep_or_close(async_conn)
        finally:
            self._release_turn()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        await self._take_turn()
        try:
            yield
        finally:
            self._release_turn()

    async def _take_turn(self) -> None:
        """One of the pool's connections to use (`_connection_turns`). Waiting longer than the pool
        would have (its timeout, 30 s) raises as the pool does."""
        turns = self._connection_turns
        assert turns is not None
        if not turns.locked():
            # A turn is free and nobody waits: taken at once. Arming and cancelling a timeout for it
            # anyway was ~5% of the `/access request` handler's samples under load (py-spy).
            await turns.acquire()
        else:
            try:
                async with asyncio.timeout(POOL_WAIT_SECONDS):
                    await turns.acquire()
            except TimeoutError:
                raise sa.exc.TimeoutError(
                    f"no database connection came free within {POOL_WAIT_SECONDS:.0f} s"
                    " (CONFIDE_DATABASE_POOL_SIZE connections, all in use)"
                ) from None

    def _release_turn(self) -> None:
        assert self._connection_turns is not None
        self._connection_turns.release()

    async def _checkout(self) -> AsyncConnection:
        """A kept connection if one is free, else one from SQLAlchemy's pool (callers hold a turn).

        A kept connection whose server side went away while it waited (a database restart, an idle
        timeout, a terminated backend) is closed instead of handed out: asyncpg has read the server's
        goodbye by then, so telling costs no round trip. The pool pings what it hands out
        (`pool_pre_ping`): one round trip whenever a connection comes from it rather than from the
        kept ones (first opened, replacing a closed one, or after a migration check such as
        `/healthz`, which gives its connection back to the pool)."""
        assert self.async_engine is not None
        while self._kept:
            async_conn = self._kept.pop()
            if not _server_closed(async_conn):
                return async_conn
            try:
                await async_conn.invalidate()
                await async_conn.close()
            except Exception:  # it is gone either way; the request still gets a working one
                logger.exception("could not discard a database connection the server closed")
        return await self.async_engine.connect()

    async def _keep_or_close(self, async_conn: AsyncConnection) -> None:
        """Keep a connection for the next request, unless it broke (it is then closed: SQLAlchemy
        discards an invalidated one). Our transactions are always over by now (`PostgresConnection`);
        SQLAlchemy's own bookkeeping of one, begun by a statement it ran, is reset."""
        if async_conn.invalidated or async_conn.closed:
            await async_conn.close()
            return
        if async_conn.in_transaction():  # autocommit: a rollback sends nothing, it clears the books
            await async_conn.rollback()
        self._kept.append(async_conn)

    async def wait_for_group_commits(self) -> None:
        """Let the SQLite group commits under way finish (before the connection is closed)."""
        while self._flushers:
            await asyncio.gather(*self._flushers, return_exceptions=True)

    async def migrate(self) -> None:
        """Apply every Alembic revision not yet applied."""
        async with self._connection() as conn:
            await conn.run_sync(_upgrade, self.is_sqlite)

    async def migration_state(self) -> tuple[set[str], set[str]]:
        """(applied revisions, revisions the code expects)."""
        async with self._connection() as conn:
            applied = await conn.run_sync(lambda c: set(MigrationContext.configure(c).get_current_heads()))
        expected = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        return applied, expected

    async def is_ready(self) -> bool:
        applied, expected = await self.migration_state()
        return applied == expected

    async def dispose(self) -> None:
        await self.wait_for_group_commits()
        for group in (self._insert_group, self._read_group):
            if group is not None:
                await group.close()
        if self._checkpointer is not None:
            await self._checkpointer.stop()
        if self.async_engine is not None:
            while self._kept:
                await self._kept.pop().close()
            await self.async_engine.dispose()
        else:
            if self._sqlite_write_connection is not None:
                self._sqlite_write_connection.close()
                self._sqlite_write_connection = None
            self.sync_engine.dispose()


def _server_closed(async_conn: AsyncConnection) -> bool:
    """Whether asyncpg knows the server closed this connection (no I/O: it read the goodbye)."""
    return bool(async_conn.sync_connection.connection.driver_connection.is_closed())


@dataclass
class _WriteGroup:
    """SQLite writers sharing one transaction: its connection and books, what each writer noted, and
    the COMMIT they wait for."""

    connection: sa.Connection
    books: sa.RootTransaction
    notes: list[CommitNotes] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None
    committed: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def __post_init__(self) -> None:
        # A group whose writers all failed or were cancelled has nobody to read a failed COMMIT.
        self.committed.add_done_callback(lambda f: f.cancelled() or f.exception())


def _books_of_begun(sync_conn: sa.Connection) -> sa.RootTransaction:
    """SQLAlchemy's transaction over one begun on the driver: its begin emits nothing on pysqlite
    (isolation_level None), it only keeps the books; its commit or rollback ends the transaction."""
    return sync_conn.begin()


async def _begin_sqlite_write(driver: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting with asyncio.sleep while another process holds SQLite's write lock
    (the connection's busy timeout is 0, so SQLite answers at once instead of blocking the loop).

    BEGIN goes straight to the driver rather than through a SQLAlchemy "begin" event: any engine
    event makes SQLAlchemy dispatch events around every statement, a tenth of a statement's cost."""
    deadline = time.monotonic() + WRITE_LOCK_WAIT_SECONDS
    delay = 0.001
    while True:
        try:
            driver.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    # The primary code: extended ones (SQLITE_BUSY_RECOVERY while another process recovers the log
    # after a crash, for one) are worth waiting for too.
    return getattr(error, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: sa.Connection, is_sqlite: bool) -> None:
    driver = connection.connection.driver_connection
    if is_sqlite:
        # Start-up, not a request: here waiting in SQLite's busy handler (for another replica
        # migrating at the same moment) is what we want. A run commits whole or not at all.
        driver.execute(f"PRAGMA busy_timeout={int(WRITE_LOCK_WAIT_SECONDS * 1000)}")
    try:
        if is_sqlite:
            driver.execute("BEGIN IMMEDIATE")
            # Emits nothing on pysqlite, but tells Alembic the run is inside a transaction already.
            # Otherwise Alembic begins and commits one per migration: the first commit ends the
            # BEGIN IMMEDIATE and every later migration runs statement by statement in autocommit.
            connection.begin()
        command.upgrade(alembic_config(connection), "heads")
        connection.commit()
    finally:
        if is_sqlite:
            driver.execute("PRAGMA busy_timeout=0")


def _configure_sqlite(engine: sa.Engine, *, autocheckpoint: bool) -> None:
    # pysqlite's own transaction handling is replaced by explicit BEGINs (Database._transaction), as
    # SQLAlchemy documents, so that writers take the lock at BEGIN (IMMEDIATE) and readers never do.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # may wait (connect timeout) while the file is new
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # workflows/sqlite_checkpoints.py does it
        # From here on SQLite never waits for a lock: the connection is used on the event loop, and
        # readers in WAL mode never need to; writers wait in `_begin_sqlite_write`.
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()
