"""The audit chain: entries queued in their transaction, chained by the sealer in commit order,
several per transaction, concurrent sealers, and tampering found."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot.sealer import AuditSealer
from tests.conftest import ConfideFactory
from tests.test_access import request
from workflows import audit
from workflows.db import Database
from workflows.tables import audit_log, audit_unsealed

AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


async def record(db: Database, *subjects: str) -> None:
    async with db.write() as conn:
        for subject in subjects:
            await audit.record(conn, at=AT, actor="U0ADMIN01", action="test.entry", subject=subject)


async def count(db: Database, table: sa.Table) -> int:
    async with db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def chain(db: Database) -> list[audit.AuditEntry]:
    async with db.read() as conn:
        assert await audit.verify_chain(conn) is None
        return [e async for e in audit.iter_entries(conn)]


async def test_entries_are_committed_queued_and_chained_in_order_when_sealed(database_url: str):
    db = Database(database_url)
    await db.migrate()
    await record(db, "a", "b", "c")
    await record(db, "d")
    assert await count(db, audit_unsealed) == 4 and await count(db, audit_log) == 0
    assert await audit.seal(db) == 4
    assert await count(db, audit_unsealed) == 0
    entries = await chain(db)
    assert [e.subject for e in entries] == ["a", "b", "c", "d"]
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert entries[0].prev_hash == audit.GENESIS_HASH
    await record(db, "e")
    assert await audit.seal(db) == 1
    assert [e.subject for e in await chain(db)] == ["a", "b", "c", "d", "e"]
    assert await audit.seal(db) == 0
    await db.dispose()


async def test_a_rolled_back_transaction_queues_nothing(database_url: str):
    db = Database(database_url)
    await db.migrate()
    async with db.write() as conn:
        await audit.record(conn, at=AT, actor="U0ADMIN01", action="test.entry", subject="dry")
        await conn.rollback()
    assert await count(db, audit_unsealed) == 0 and await audit.seal(db) == 0
    await db.dispose()


async def test_a_backlog_larger_than_a_batch_is_chained_whole(database_url: str, monkeypatch):
    monkeypatch.setattr(audit, "SEAL_BATCH", 3)
    db = Database(database_url)
    await db.migrate()
    await record(db, *"abcdefg")
    async with db.write() as conn:
        assert await audit.seal_batch(conn, 2) == 2  # a batch takes no more than its limit
    assert await audit.seal(db) == 5  # the rest, in batches of 3
    assert [e.subject for e in await chain(db)] == list("abcdefg")
    await db.dispose()


async def test_concurrent_writers_and_sealers_chain_every_entry_once(database_url: str):
    """Two processes' worth of sealers (two engines) racing writers: no entry lost or chained twice."""
    first, second = Database(database_url), Database(database_url)
    await first.migrate()

    async def write_and_seal(db: Database, name: str) -> None:
        for n in range(15):
            await record(db, f"{name}{n}")
            if n % 4 == 0:
                await audit.seal(db)

    await asyncio.gather(write_and_seal(first, "x"), write_and_seal(second, "y"), audit.seal(second))
    await audit.seal(first)
    subjects = [e.subject for e in await chain(first)]
    assert sorted(subjects) == sorted([f"x{n}" for n in range(15)] + [f"y{n}" for n in range(15)])
    # Each writer's own entries keep their order along the chain.
    assert [s for s in subjects if s[0] == "x"] == [f"x{n}" for n in range(15)]
    assert await count(first, audit_unsealed) == 0
    await first.dispose()
    await second.dispose()


async def test_an_entry_appended_after_the_newest_was_deleted_shows_the_gap(database_url: str):
    db = Database(database_url)
    await db.migrate()
    await record(db, "a", "b")
    await audit.seal(db)
    async with db.write() as conn:
        newest = (await conn.execute(sa.select(sa.func.max(audit_log.c.id)))).scalar_one()
        await conn.execute(audit_log.delete().where(audit_log.c.id == newest))
    await record(db, "c")
    await audit.seal(db)
    async with db.read() as conn:
        assert await audit.verify_chain(conn) is not None
    await db.dispose()


async def test_the_running_sealer_chains_a_request_without_anyone_reading(confide_factory: ConfideFactory):
    confide = await confide_factory.start()
    await request(confide, "U0EMP01", "request customer-list 7d sealed by the server")
    for _ in range(200):  # nobody calls seal here: only the server's own sealer can empty the queue
        if await count(confide.db, audit_unsealed) == 0:
            break
        await asyncio.sleep(0.02)
    assert await count(confide.db, audit_unsealed) == 0
    async with confide.db.read() as conn:
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert "access.new_requested" in actions


async def test_stopping_the_server_chains_what_is_queued(confide_factory: ConfideFactory):
    confide = await confide_factory.start()
    sealer = confide.runtime.sealer
    confide.db.after_commit.remove(sealer._after_commit)  # commits no longer wake it...
    sealer.poll_seconds = 60  # ...and it will not look again on its own during the test
    await asyncio.sleep(0.1)  # let it settle into its wait
    await request(confide, "U0EMP01", "request customer-list 7d queued at stop")
    assert await count(confide.db, audit_unsealed) == 1
    await confide_factory.stop(confide)
    db = Database(confide.settings.database_url)
    assert await count(db, audit_unsealed) == 0
    assert [e.action for e in await chain(db)][-1] == "access.new_requested"
    await db.dispose()


async def test_the_sealer_rests_between_rounds_and_stopping_ends_its_rest(confide_factory: ConfideFactory):
    """After a round that chained something, the sealer lets a burst's entries gather rather than
    chain each commit's on its own; a stop doesn't wait out the rest, and still chains everything."""
    confide = await confide_factory.start()
    sealer = confide.runtime.sealer
    sealer.rest_seconds = 60
    await request(confide, "U0EMP01", "request customer-list 7d chained at once")
    for _ in range(200):
        if await count(confide.db, audit_unsealed) == 0:
            break
        await asyncio.sleep(0.02)
    assert await count(confide.db, audit_unsealed) == 0  # the round after a quiet spell: at once

    await request(confide, "U0EMP02", "request customer-list 7d gathers during the rest")
    await asyncio.sleep(0.3)
    assert await count(confide.db, audit_unsealed) == 1  # resting: left for the next round

    await asyncio.wait_for(confide_factory.stop(confide), timeout=30)  # not the rest's 60 s
    db = Database(confide.settings.database_url)
    assert await count(db, audit_unsealed) == 0
    assert [e.action for e in await chain(db)][-1] == "access.new_requested"
    await db.dispose()


async def test_a_stop_during_a_round_chains_what_was_committed_after_the_round_read_the_queue(
    database_url: str, monkeypatch: pytest.MonkeyPatch
):
    db = Database(database_url)
    await db.migrate()
    sealer = AuditSealer(db, rest_seconds=0)
    round_read_the_queue, let_the_round_end = asyncio.Event(), asyncio.Event()
    seal = audit.seal

    async def a_round_that_lingers(database: Database) -> int:
        sealed = await seal(database)
        if not let_the_round_end.is_set():
            round_read_the_queue.set()
            await let_the_round_end.wait()
        return sealed

    monkeypatch.setattr(audit, "seal", a_round_that_lingers)
    sealer.start()
    await round_read_the_queue.wait()
    await record(db, "committed during the round")
    stopping = asyncio.create_task(sealer.stop())
    await asyncio.sleep(0)  # the stop is asked for while the round is still under way
    let_the_round_end.set()
    await asyncio.wait_for(stopping, timeout=30)
    assert await count(db, audit_unsealed) == 0
    assert [e.subject for e in await chain(db)] == ["committed during the round"]
    await db.dispose()
