"""The connection pool: a burst larger than the pool waits for connections rather than opening more."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.conftest import ConfideFactory, postgres_only
from workflows import db as db_module
from workflows.db import Database, _server_closed


async def test_a_burst_beyond_the_pool_reuses_its_connections(confide_factory: ConfideFactory):
    # Opening and closing a connection per burst request cost PostgreSQL a backend process each time
    # (BENCHMARKS.md, section 1); the pool's size is the most a process ever opens.
    confide = await confide_factory.start(confide_database_pool_size=3, deliver=False)
    opened: list[object] = []
    event.listen(confide.db.sync_engine, "connect", lambda dbapi_conn, record: opened.append(record))

    answers = await asyncio.gather(*(confide.slack.command("U0EMP01", "/access", "list") for _ in range(30)))
    answers += await asyncio.gather(*(confide.slack.command("U0EMP02", "/access", "list") for _ in range(30)))

    assert all(status == 200 and "active grant" in body["text"] for status, body in answers)
    assert len(opened) <= 3


@postgres_only
async def test_requests_beyond_the_pool_get_a_connection_in_the_order_they_asked(
    database_url: str, monkeypatch: pytest.MonkeyPatch
):
    """A connection given back goes to the longest waiter, not to a request that happens to ask
    before that waiter runs again (SQLAlchemy's pool queue handed it to the latter, and the waiter
    waited again: under load, a long tail)."""
    db = Database(database_url, pool_size=1)
    served: list[str] = []
    release, newcomer_arrives = asyncio.Event(), asyncio.Event()

    async def use(name: str) -> None:
        async with db.read() as conn:
            await conn.execute(sa.text("SELECT 1"))  # lent a connection for it, in turn
            served.append(name)
            if name == "first":
                await release.wait()

    give_back = db._keep_or_close

    async def arrive_as_the_first_connection_goes_back(async_conn: object) -> None:
        await give_back(async_conn)  # type: ignore[arg-type]
        if release.is_set():  # a request arrives just then: it runs before the woken waiter
            newcomer_arrives.set()

    monkeypatch.setattr(db, "_keep_or_close", arrive_as_the_first_connection_goes_back)

    async def newcomer() -> None:
        await newcomer_arrives.wait()
        await use("newcomer")

    tasks = [asyncio.create_task(use("first")), asyncio.create_task(newcomer())]
    while served != ["first"]:
        await asyncio.sleep(0.01)
    tasks += [asyncio.create_task(use(f"waiter {n}")) for n in range(3)]
    await asyncio.sleep(0.1)  # all three are waiting
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    await db.dispose()
    assert served == ["first", "waiter 0", "waiter 1", "waiter 2", "newcomer"]


@postgres_only
async def test_a_request_that_waits_too_long_for_a_connection_is_told_so(
    database_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(db_module, "POOL_WAIT_SECONDS", 0.2)
    db = Database(database_url, pool_size=1)
    async with db.read() as holder:
        await holder.connection()  # type: ignore[attr-defined]
        with pytest.raises(sa.exc.TimeoutError, match="no database connection came free"):
            async with db.read() as conn:
                await conn.execute(sa.text("SELECT 1"))
    async with db.read() as conn:  # the turn it never got is not lost
        assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
    await db.dispose()


@postgres_only
async def test_kept_connections_leave_room_for_migrations_and_broken_ones_are_not_kept(
    database_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(db_module, "POOL_WAIT_SECONDS", 2.0)  # a wait for a connection fails fast
    db = Database(database_url, pool_size=2)
    await db.migrate()
    both_in_use = asyncio.Event()

    async def read(held: list[object]) -> None:
        async with db.read() as conn:
            held.append(conn)
            if len(held) == 2:
                both_in_use.set()
            await both_in_use.wait()
            await conn.execute(sa.text("SELECT 1"))

    held: list[object] = []
    await asyncio.gather(read(held), read(held))  # both of the pool's connections now kept
    applied, expected = await db.migration_state()  # needs one of them
    assert applied == expected

    async with db.read() as conn:
        await (await conn.connection()).invalidate()  # type: ignore[attr-defined]
    async with db.read() as conn:  # not handed the broken one
        assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
    await db.dispose()


@postgres_only
async def test_connections_the_server_closed_are_replaced_not_handed_out(database_url: str):
    """A database restart (or an idle timeout) closes every connection's backend. The next requests
    get working connections, not an error each, one per dead connection: whether the dead one waited
    in SQLAlchemy's pool (as a migration leaves it) or was kept between requests."""
    db = Database(database_url, pool_size=3)
    await db.migrate()  # its connection goes back to SQLAlchemy's pool
    assert await _terminate_backends_of(database_url, db) == 1
    all_in_use = asyncio.Event()

    async def read(seen: list[int]) -> None:
        async with db.read() as conn:
            seen.append((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
            if len(seen) == 3:
                all_in_use.set()
            await all_in_use.wait()

    seen: list[int] = []
    await asyncio.gather(*(read(seen) for _ in range(3)))  # three connections kept
    assert len(set(seen)) == 3
    assert await _terminate_backends_of(database_url, db) == 3

    for _ in range(3):
        async with db.read() as conn:
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
    async with db.write() as conn:
        assert (await conn.execute(sa.text("SELECT 2"))).scalar_one() == 2
    await db.dispose()


async def _terminate_backends_of(database_url: str, db: Database) -> int:
    """As a restart would: end every client backend serving that database, and wait until the server
    has let them go and each connection kept by `db` has heard of it."""
    name = database_url.rpartition("/")[2]
    admin = await asyncpg.connect(os.environ["TEST_DATABASE_URL"])
    try:
        # pg_terminate_backend in THEN: a CASE runs it only for the rows its WHEN picks (a WHERE
        # clause's conditions may be tested in any order).
        ended = await admin.fetchval(
            "SELECT sum(CASE WHEN datname = $1 AND backend_type = 'client backend'"
            " THEN pg_terminate_backend(pid)::int ELSE 0 END) FROM pg_stat_activity",
            name,
        )
        for _ in range(100):
            left = await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name)
            if left == 0 and all(_server_closed(kept) for kept in db._kept):
                break
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    return int(ended)


@postgres_only
async def test_a_block_that_has_ended_runs_no_more_statements(database_url: str):
    """Its connection may be another request's by then: a statement on it could interleave with
    theirs, or land in their transaction. Nor is a new one lent, which would hold a turn for good."""
    db = Database(database_url, pool_size=1)
    try:
        async with db.read() as used:
            await used.execute(sa.text("SELECT 1"))
        async with db.read() as unused:
            pass
        for conn in (used, unused):
            with pytest.raises(RuntimeError, match="block has ended"):
                await conn.execute(sa.text("SELECT 1"))
        async with db.read() as conn:  # the pool's one turn is free
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()
