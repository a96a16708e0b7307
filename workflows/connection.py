"""The connection the workflows are given: its SQLite form, which runs on the event loop itself, and
its PostgreSQL form.

Workflows only `await conn.execute(...)` (and a few relatives), so they are written against the
`Connection` protocol below. On PostgreSQL that is a `PostgresConnection`: SQLAlchemy's
`AsyncConnection` over asyncpg, with repeated statements run on asyncpg directly. Either form runs
repeated statements through `workflows.statement_cache`.

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
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import asyncpg
import sqlalchemy as sa

from workflows.later_inserts import LaterInserts, plain_insert_table
from workflows.read_group import ReadGroup
from workflows.statement_cache import Prepared, StatementCache

T = TypeVar("T")
logger = logging.getLogger("confide.db")

# Key in a connection's info: the audit entries its write inserts as it ends (`workflows.audit`).
PENDING_AUDIT = "confide_pending_audit"

# The longest one connection's statements run back to back before other tasks get a turn.
TURN_SECONDS = 0.005


class Connection(Protocol):
    """What a workflow may do with the connection of its transaction."""

    @property
    def info(self) -> dict[Any, Any]: ...

    @property
    def dialect(self) -> sa.Dialect: ...

    async def execute(self, statement: Any, parameters: Any = None) -> sa.CursorResult[Any]: ...

    async def insert_later(self, statement: Any, parameters: Any) -> None:
        """An INSERT whose result nobody reads, run with the transaction by the time it commits at the
        latest (on PostgreSQL, batched with the others into one statement). Its errors, such as a
        violated constraint, may surface at a later statement or when the write's block ends."""

    async def execute_last(self, statement: Any, parameters: Any = None) -> sa.CursorResult[Any]:
        """The write's last statement: no statement may follow it in the block, nor an audit entry be
        recorded after it. On PostgreSQL a write whose only change this is (no INSERTs waiting, no
        audit entries) runs it without a transaction of its own: one statement is atomic, and it
        commits as it runs."""

    async def read_rows(self, statement: Any, parameters: Any) -> list[sa.Row[Any]]:
        """The rows this SELECT reads, in its order (as `execute(...).all()`). On PostgreSQL, before
        a write has changed anything, concurrent requests' reads of the same statement are answered
        by one statement (`workflows.read_group`). For the reads every request of a kind makes."""

    async def read_row(self, statement: Any, parameters: Any) -> sa.Row[Any]:
        """`read_rows` of a SELECT that reads exactly one row (as `execute(...).one()`)."""

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


def merge_commit_notes(notes: list[CommitNotes]) -> CommitNotes:
    """The notes of several transactions committed as one."""
    merged: dict[str, frozenset[Any]] = {}
    for one in notes:
        for topic, values in one.items():
            merged[topic] = merged.get(topic, frozenset()) | values
    return merged


class InlineConnection:
    """A synchronous SQLAlchemy connection behind the awaitable interface of `Connection`."""

    __slots__ = ("sync_connection", "statements", "_turn_began", "_in_savepoint", "_rolled_back", "_sqlite")

    def __init__(
        self,
        sync_connection: sa.Connection,
        statements: StatementCache | None = None,
        *,
        in_savepoint: bool = False,
    ):
        self.sync_connection = sync_connection
        self.statements = statements  # repeated statements run on the driver (statement_cache.py)
        self._turn_began = time.perf_counter()
        # A writer of a SQLite group (`Database._group_write`): its transaction is the savepoint
        # `confide_writer` in one shared with other writers, which commit with it.
        self._in_savepoint = in_savepoint
        self._rolled_back = False
        self._sqlite: sqlite3.Connection | None = None

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
        self._refuse_after_rollback()
        if self.statements is not None and not execution_options and self.sync_connection.in_transaction():
            prepared = self.statements.prepare(statement, parameters)
            if prepared is not None:
                return self._run(prepared)
        return self.sync_connection.execute(statement, parameters, execution_options=execution_options)

    def _run(self, prepared: Prepared) -> Any:
        cursor = self._driver().cursor()
        try:
            if prepared.many:
                cursor.executemany(prepared.sql, prepared.values)
                rows: list[Any] = []
            else:
                cursor.execute(prepared.sql, prepared.values[0])
                rows = cursor.fetchall() if prepared.returns_rows else []
        except sqlite3.Error as error:
            assert self.statements is not None
            raise self.statements.driver_error(prepared, error, sqlite3.Error) from error
        rowcount = cursor.rowcount
        cursor.close()
        return prepared.result(rows, rowcount)

    def _driver(self) -> sqlite3.Connection:
        """sqlite3's connection, looked up once (through SQLAlchemy it is two properties deep)."""
        if self._sqlite is None:
            self._sqlite = self.sync_connection.connection.driver_connection
        return self._sqlite

    async def insert_later(self, statement: Any, parameters: Any) -> None:
        """`Connection.insert_later`: on SQLite a statement costs microseconds, so it runs now."""
        await self.execute(statement, parameters)

    async def execute_last(self, statement: Any, parameters: Any = None) -> sa.CursorResult[Any]:
        """`Connection.execute_last`: SQLite commits its writers together anyway."""
        return await self.execute(statement, parameters)

    async def read_rows(self, statement: Any, parameters: Any) -> list[sa.Row[Any]]:
        return (await self.execute(statement, parameters)).all()

    async def read_row(self, statement: Any, parameters: Any) -> sa.Row[Any]:
        return (await self.execute(statement, parameters)).one()

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> sa.CursorResult[Any]:
        await self._give_turn()
        self._refuse_after_rollback()
        return self.sync_connection.exec_driver_sql(statement, parameters)

    def _refuse_after_rollback(self) -> None:
        # Statements after a rollback would run outside the transaction (or, in a SQLite write group,
        # inside the others' one) and commit on their own.
        if self._rolled_back:
            raise RuntimeError("this transaction was rolled back; start another for more statements")

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self.sync_connection, *args, **kwargs)

    async def rollback(self) -> None:
        if self._in_savepoint:
            if not self._rolled_back:
                self._driver().execute("ROLLBACK TO confide_writer")
        else:
            self.sync_connection.rollback()
        self._rolled_back = True

    async def commit(self) -> None:
        if self._in_savepoint:
            raise RuntimeError("a SQLite writer commits when its `Database.write()` block ends")
        self.sync_connection.commit()

    def in_transaction(self) -> bool:
        return not self._rolled_back and self.sync_connection.in_transaction()

    def get_execution_options(self) -> Mapping[str, Any]:
        return self.sync_connection.get_execution_options()


class PostgresConnection:
    """SQLAlchemy's `AsyncConnection` over asyncpg, with repeated statements run on asyncpg directly
    (`workflows.statement_cache`).

    SQLAlchemy's connection is in autocommit mode: it never begins a transaction itself. A write
    (`transaction=True`) begins one on asyncpg only when a statement needs it, that is, when it may
    change or lock something; reads before then run on their own, which under READ COMMITTED sees
    what they would have seen inside the transaction (each statement takes its own snapshot either
    way). INSERTs given to `insert_later` wait in a batch (`workflows.later_inserts`) and are sent
    as one statement before the next statement or by `finish`. So a write whose changes are all such
    INSERTs is its reads plus one statement, without BEGIN or COMMIT: two round trips for a filed
    request, where it was eight.

    The pooled connection itself is lent only when a statement needs it (`connection`): a request
    whose reads and INSERTs all go to the statement groups never takes one, nor waits for one. Its
    owner (`Database`) gives it back when the block ends."""

    __slots__ = (
        "async_connection",
        "statements",
        "_lend",
        "_lending",
        "_returned",
        "_dialect",
        "_info",
        "_writes",
        "_driver",
        "_transaction",
        "_later",
        "_ran_alone",
        "_done",
        "_reads",
    )

    def __init__(
        self,
        lend: Callable[[], Awaitable[Any]],
        statements: StatementCache,
        dialect: sa.Dialect,
        *,
        transaction: bool,
        reads: ReadGroup | None = None,
    ):
        self._lend = lend  # a pooled AsyncConnection, in autocommit mode, once one is needed
        self._lending = False
        self._returned = False  # the block has ended: no connection may be lent any more
        self.async_connection: Any = None  # that connection, once lent
        self._dialect = dialect
        # This write's own notes (audit entries, commit notes): not the pooled connection's `info`,
        # which outlives the write, and which a write that needs no connection never has.
        self._info: dict[Any, Any] = {}
        self.statements = statements
        self._reads = reads  # answers `read_rows` with other requests' (`workflows.read_group`)
        self._writes = transaction
        self._driver: Any = None  # the asyncpg connection under SQLAlchemy's
        self._transaction: Any = None  # asyncpg's, once begun
        self._later = LaterInserts()
        self._ran_alone = False  # `execute_last` ran the write's only statement on its own
        self._done = False  # rolled back, committed or abandoned: no more statements

    @property
    def info(self) -> dict[Any, Any]:
        return self._info

    @property
    def dialect(self) -> sa.Dialect:
        return self._dialect

    async def connection(self) -> Any:
        """The pooled `AsyncConnection` this write or read runs on, lent at its first need."""
        if self.async_connection is None:
            if self._returned:  # lending one now would hold it, and its turn, for good
                raise RuntimeError("this connection's block has ended; start another for more statements")
            if self._lending:  # two statements at once on one connection: asyncpg refuses that too
                raise RuntimeError("this connection is already running a statement")
            self._lending = True
            try:
                self.async_connection = await self._lend()
            finally:
                self._lending = False
        return self.async_connection

    def give_back(self) -> Any:
        """End the block: the connection lent, if any, for its owner to keep or close. No statement
        runs here after this (the connection may be another request's by then)."""
        self._returned = True
        lent, self.async_connection, self._driver = self.async_connection, None, None
        return lent

    async def execute(
        self,
        statement: Any,
        parameters: Any = None,
        *,
        execution_options: Mapping[str, Any] | None = None,
    ) -> sa.CursorResult[Any]:
        return await self._execute(statement, parameters, execution_options, alone=False)

    async def _execute(
        self, statement: Any, parameters: Any, execution_options: Mapping[str, Any] | None, *, alone: bool
    ) -> sa.CursorResult[Any]:
        """`alone`: the write's only statement (`execute_last`), so it begins no transaction."""
        await self._before_statement(only_reads=alone or _only_reads(statement))
        if not execution_options:
            prepared = self.statements.prepare(statement, parameters)
            if prepared is not None:
                return await self._run(prepared)
        async_connection = await self.connection()
        return await async_connection.execute(statement, parameters, execution_options=execution_options)

    async def insert_later(self, statement: Any, parameters: Any) -> None:
        """Run this INSERT with the transaction, by the time it commits at the latest; its result
        is not wanted. Outside a write it simply runs."""
        prepared = self.statements.prepare(statement, parameters) if self._writes else None
        table = plain_insert_table(prepared.sql) if prepared is not None else None
        if prepared is None or table is None or not LaterInserts.can_take(prepared.values):
            await self.execute(statement, parameters)  # sends the batch first
            return
        self._check_open()
        if not self._later.fits(table, prepared.sql, prepared.values):
            await self._send_later(begin=True)
        self._later.add(table, prepared.sql, prepared.values)

    async def execute_last(self, statement: Any, parameters: Any = None) -> sa.CursorResult[Any]:
        """`Connection.execute_last`: a write that has begun nothing and has nothing to insert as it
        ends (INSERTs waiting, audit entries recorded) runs this statement on its own, atomic without
        BEGIN or COMMIT (one round trip, not three)."""
        if not self._writes or self._transaction is not None or self._later or self.info.get(PENDING_AUDIT):
            return await self.execute(statement, parameters)
        result = await self._execute(statement, parameters, None, alone=True)
        self._ran_alone = True
        return result

    async def _before_statement(self, *, only_reads: bool) -> None:
        """Begin the write's transaction if this statement needs it, sending waiting INSERTs first
        (the statement may read what they insert)."""
        self._check_open()
        if self._later:
            await self._send_later(begin=True)
        elif self._writes and self._transaction is None and not only_reads:
            await self._begin()

    async def _begin(self) -> None:
        driver = await self._asyncpg()
        # READ COMMITTED whatever the server's default: the reads run before BEGIN rely on it.
        transaction = driver.transaction(isolation="read_committed")
        # Kept before it starts: if BEGIN fails or is cancelled midway, `abandon` still rolls back,
        # or discards the connection, rather than pool it inside a transaction nobody tracks.
        self._transaction = transaction
        await transaction.start()

    async def _send_later(self, *, begin: bool) -> None:
        """Send the batch of INSERTs as one statement, in the transaction (begun first if `begin`:
        more statements follow, and they must commit with these)."""
        if not self._later:
            return
        if begin and self._transaction is None:
            await self._begin()
        sql, values = self._later.statement()
        self._later.clear()
        driver = await self._asyncpg()
        try:
            await driver.execute(sql, *values)
        except asyncpg.PostgresError as error:
            raise sqlalchemy_error(sql, error, self.dialect) from error

    async def finish(self) -> None:
        """Commit the write: the waiting INSERTs, then COMMIT. With nothing begun, the INSERTs are
        one statement, atomic on its own (though `Database.write` hands such a write's INSERTs to
        its insert group instead: `take_closing_inserts`)."""
        if self._ran_alone:  # committed as it ran
            self._done = True
            return
        self._check_open()
        self._done = True
        if self._later:
            await self._send_later(begin=False)
        if self._transaction is not None:
            await self._transaction.commit()
            self._transaction = None

    def take_closing_inserts(self) -> LaterInserts | None:
        """End a write whose only changes are INSERTs waiting to be sent (nothing begun, nothing run
        alone), handing them over to be committed with other writers' (`workflows.insert_group`);
        None for any other write, which `finish` commits."""
        if self._ran_alone or self._transaction is not None or not self._later:
            return None
        self._check_open()
        self._done = True
        inserts, self._later = self._later, LaterInserts()
        return inserts

    async def abandon(self) -> None:
        """The write failed: roll back what was begun and drop what waits. If the connection cannot
        even roll back, SQLAlchemy is told to discard it rather than pool it mid-transaction."""
        self._done = True
        self._later.clear()
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            try:
                await transaction.rollback()
            except BaseException as error:
                await self._discard()
                if not isinstance(error, Exception):  # cancelled meanwhile: still cancelled
                    raise
                return  # otherwise the write's own error is the one worth raising
        await self.discard_if_broken()

    async def discard_if_broken(self) -> None:
        """After an error: a connection closed under us, or still inside a transaction (a BEGIN
        cancelled after it reached the server), is discarded, never pooled. Statements sent on
        asyncpg directly bypass SQLAlchemy, which would otherwise notice."""
        driver = self._driver
        if driver is not None and (driver.is_closed() or driver.is_in_transaction()):
            await self._discard()

    async def _discard(self) -> None:
        if self.async_connection is None:  # none was lent: nothing to discard
            return
        try:
            await self.async_connection.invalidate()
        except Exception:  # the caller's error is the one worth raising
            logger.exception("could not discard a broken database connection")

    def _check_open(self) -> None:
        if self._returned:
            raise RuntimeError("this connection's block has ended; start another for more statements")
        if self._ran_alone:
            raise RuntimeError("execute_last ran this write's last statement; nothing may follow it")
        if self._done:
            raise RuntimeError("this transaction has ended; start another for more statements")

    async def _asyncpg(self) -> Any:
        if self._driver is None:
            async_connection = await self.connection()
            checked_out = async_connection.sync_connection
            if checked_out.invalidated or checked_out.closed:  # reconnecting: SQLAlchemy's way, with I/O
                self._driver = (await async_connection.get_raw_connection()).driver_connection
            else:
                # Already connected, so no I/O: read it without the greenlet hop of
                # `get_raw_connection` (tens of µs, a tenth of a read's client CPU).
                self._driver = checked_out.connection.driver_connection
        return self._driver

    async def _run(self, prepared: Prepared) -> Any:
        driver = await self._asyncpg()
        try:
            if prepared.many:
                await driver.executemany(prepared.sql, prepared.values)
                return prepared.result([], prepared.batch_rowcount)
            if prepared.returns_rows:
                rows = await driver.fetch(prepared.sql, *prepared.values[0])
                return prepared.result(rows, len(rows))
            status = await driver.execute(prepared.sql, *prepared.values[0])
        except asyncpg.PostgresError as error:
            raise sqlalchemy_error(prepared.sql, error, self.dialect) from error
        count = status.rsplit(" ", 1)[-1]  # "UPDATE 3", "INSERT 0 1", "DELETE 0"
        return prepared.result([], int(count) if count.isdigit() else -1)

    async def read_rows(self, statement: Any, parameters: Any) -> list[sa.Row[Any]]:
        """`Connection.read_rows`: asked of the read group while the write has changed nothing (so
        another connection reads just what this one would), else run here."""
        return (await self._read_together(statement, parameters)).all()

    async def read_row(self, statement: Any, parameters: Any) -> sa.Row[Any]:
        return (await self._read_together(statement, parameters)).one()

    async def _read_together(self, statement: Any, parameters: Any) -> Any:
        if (
            self._reads is not None
            and self._transaction is None
            and not self._later
            and _only_reads(statement)
        ):
            self._check_open()
            prepared = self.statements.prepare(statement, parameters)
            if prepared is not None and prepared.returns_rows and not prepared.many:
                try:
                    rows = await self._reads.fetch(prepared.sql, prepared.values[0])
                except asyncpg.PostgresError as error:
                    raise sqlalchemy_error(prepared.sql, error, self.dialect) from error
                return prepared.result(rows, len(rows))
        return await self.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> sa.CursorResult[Any]:
        await self._before_statement(only_reads=False)
        return await (await self.connection()).exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        await self._before_statement(only_reads=False)
        return await (await self.connection()).run_sync(fn, *args, **kwargs)

    async def rollback(self) -> None:
        """Undo the write on purpose (a dry run)."""
        await self.abandon()

    def in_transaction(self) -> bool:
        """A write that has not ended (nor been rolled back)."""
        return self._writes and not self._done


def _only_reads(statement: Any) -> bool:
    """A SELECT that locks nothing: it may run before the write's transaction begins."""
    return isinstance(statement, sa.Select | sa.CompoundSelect) and statement._for_update_arg is None


def sqlalchemy_error(sql: str, error: Exception, dialect: sa.Dialect) -> sa.exc.DBAPIError:
    """asyncpg's error as SQLAlchemy raises it, parameters hidden (the engine's hide_parameters)."""
    if isinstance(error, asyncpg.IntegrityConstraintViolationError):  # named as SQLAlchemy names it
        return sa.exc.IntegrityError(sql, None, error, hide_parameters=True)
    return sa.exc.DBAPIError.instance(
        sql, None, error, asyncpg.PostgresError, hide_parameters=True, dialect=dialect
    )
