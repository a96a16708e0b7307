"""PostgreSQL: statements of concurrent requests sent together, on a connection of the group's own.

Under load, each request sending its own statement means a round trip each, and on a machine
PostgreSQL shares with the app each one wakes a backend and the app's loop: per write, that cost
about as much CPU as all of the statements' work (BENCHMARKS.md, section 1). A `StatementGroup`
gathers what requests hand it and sends it as one statement: those that arrive while a statement is
on its way gather for the next, so the busier the server, the more one statement carries, and a lone
request's statement goes a loop iteration later than it would have alone. `workflows.insert_group`
commits writes' closing INSERTs this way; `workflows.read_group` answers reads.

The statement runs in a task of the group's, not the requester's: a request cancelled meanwhile
(its client gone) must not cancel the others' statement, nor leave a connection mid-statement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

logger = logging.getLogger("confide.db")

Item = TypeVar("Item")


class OwnConnection:
    """A group's own connection, outside the requests' pool turns: opened on first use, replaced
    once the server has closed it."""

    def __init__(self, connect: Callable[[], Awaitable[Any]], name: str):
        self._connect = connect  # SQLAlchemy's engine.connect, so its codecs are set up
        self.name = name
        self._connection: Any = None  # SQLAlchemy's AsyncConnection
        # Each statement's parameter types, as PostgreSQL infers them (None: one an array can't carry).
        self._types: dict[str, tuple[str, ...] | None] = {}

    async def driver(self) -> Any:
        """asyncpg's connection (the server closed the last one: a restart, a timeout; a new one)."""
        connection = self._connection
        if connection is not None and connection.sync_connection.connection.driver_connection.is_closed():
            await self.drop()
            connection = None
        if connection is None:
            connection = self._connection = await self._connect()
        return connection.sync_connection.connection.driver_connection

    def driver_if_open(self) -> Any:
        """asyncpg's connection if one is open and the server has not closed it, else None."""
        connection = self._connection
        if connection is None:
            return None
        driver = connection.sync_connection.connection.driver_connection
        return None if driver.is_closed() else driver

    async def array_types(self, sql: str) -> tuple[str, ...] | None:
        """The array type of each of this statement's parameters (`$1::"pg_catalog"."int4"[]`);
        None if one of them is not a plain scalar. Asked of PostgreSQL once per statement."""
        if sql not in self._types:
            parameters = (await (await self.driver()).prepare(sql)).get_parameters()
            self._types[sql] = (
                tuple(f'"{p.schema}"."{p.name}"[]' for p in parameters)
                if all(p.kind == "scalar" for p in parameters)
                else None
            )
        return self._types[sql]

    async def drop(self) -> None:
        """Discard the connection after an error that may have broken it; the next use opens one."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.invalidate()
            await connection.close()
        except Exception:  # it is gone either way
            logger.exception("could not discard the %s group's database connection", self.name)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


class StatementGroup(Generic[Item]):
    """What requests hand over (`_hand_over`) sent in groups of at most `max_items`, one statement
    on the way at a time, by `_send`, which must settle every item's future."""

    def __init__(self, connection: OwnConnection, *, max_items: int):
        self.connection = connection
        self._max_items = max_items
        self._waiting: list[tuple[Item, asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None
        # Statements that ran and carried requests' items, a group's or (after its failure) one's own.
        self.statements_sent = 0

    async def _hand_over(self, item: Item) -> Any:
        """The item's outcome, once its statement has run."""
        loop = asyncio.get_running_loop()
        outcome = loop.create_future()
        outcome.add_done_callback(_retrieve)  # an item whose requester was cancelled: nobody reads it
        self._waiting.append((item, outcome))
        if self._sender is None:
            self._sender = loop.create_task(
                self._send_waiting(), name=f"postgres-{self.connection.name}-group"
            )
        # A requester cancelled meanwhile cancels only its own future: the item stays in its group,
        # whose statement the others still wait for (settling skips a future already done).
        return await outcome

    async def _send(self, group: list[tuple[Item, asyncio.Future[Any]]]) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Let the statements under way finish, then close the connection."""
        while self._sender is not None:
            await asyncio.shield(self._sender)
        await self.connection.close()

    async def _send_waiting(self) -> None:
        try:
            await asyncio.sleep(0)  # requests handing over in this turn of the loop join the first
            while self._waiting:
                group, self._waiting = self._waiting[: self._max_items], self._waiting[self._max_items :]
                try:
                    await self._send(group)
                except Exception as error:  # a bug in `_send`: its requesters hear of it, not wait forever
                    logger.exception("the %s group failed to send a statement", self.connection.name)
                    await self._fail_all(group, error)
        finally:
            self._sender = None
            for _item, outcome in self._waiting:  # only if cancelled (a shutdown): nobody waits forever
                settle(outcome, error=_closing())
            self._waiting = []

    async def _fail_all(self, group: list[tuple[Item, asyncio.Future[Any]]], error: BaseException) -> None:
        """The connection failed, or the sender was cancelled: whether the statement ran is unknown,
        so every item in it fails. Cancellation is passed on."""
        told = error if isinstance(error, Exception) else _closing()
        for _item, outcome in group:  # first: nothing below may leave a requester waiting
            settle(outcome, error=told)
        await self.connection.drop()
        if not isinstance(error, Exception):
            raise error


def settle(outcome: asyncio.Future[Any], result: Any = None, *, error: BaseException | None = None) -> None:
    if outcome.done():
        return
    if error is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(result)


def _closing() -> RuntimeError:
    return RuntimeError("the database is closing: this statement may not have run")


def _retrieve(outcome: asyncio.Future[Any]) -> None:
    if not outcome.cancelled():
        outcome.exception()
