"""The audit chain as appended at commit: several entries per transaction, and tampering found."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from workflows import audit
from workflows.db import Database
from workflows.tables import audit_log

AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


async def record(db: Database, *subjects: str) -> None:
    async with db.write() as conn:
        for subject in subjects:
            await audit.record(conn, at=AT, actor="U0ADMIN01", action="test.entry", subject=subject)


async def test_entries_of_one_and_of_several_transactions_chain_in_order(database_url: str):
    db = Database(database_url)
    await db.migrate()
    await record(db, "a", "b", "c")
    await record(db, "d")
    async with db.read() as conn:
        entries = [e async for e in audit.iter_entries(conn)]
        assert await audit.verify_chain(conn) is None
    assert [e.subject for e in entries] == ["a", "b", "c", "d"]
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert entries[0].prev_hash == audit.GENESIS_HASH
    await db.dispose()


async def test_an_entry_appended_after_the_newest_was_deleted_shows_the_gap(database_url: str):
    db = Database(database_url)
    await db.migrate()
    await record(db, "a", "b")
    async with db.write() as conn:
        newest = (await conn.execute(sa.select(sa.func.max(audit_log.c.id)))).scalar_one()
        await conn.execute(audit_log.delete().where(audit_log.c.id == newest))
    await record(db, "c")
    async with db.read() as conn:
        assert await audit.verify_chain(conn) is not None
    await db.dispose()
