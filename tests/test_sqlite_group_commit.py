"""SQLite writers of one process commit in groups (Database._group_write): fewer COMMITs under
concurrency, each writer undone alone when it fails, and nobody returns before its work is durable."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from workflows import audit
from workflows.db import Database
from workflows.tables import audit_unsealed, members

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'group.db'}")
    await database.migrate()
    yield database
    await database.dispose()


def member(user_id: str) -> dict[str, object]:
    return {"user_id": user_id, "name": user_id, "first_seen_at": NOW, "updated_at": NOW}


def committed_elsewhere(db: Database) -> set[str]:
    """What another connection (another process, say) sees as committed."""
    path = db.sync_engine.url.database
    with sqlite3.connect(str(path)) as other:
        return {row[0] for row in other.execute("SELECT user_id FROM members")}


class Refused(Exception):
    pass


async def insert(db: Database, user_id: str, *, fail: bool = False, roll_back: bool = False) -> str:
    async with db.write() as conn:
        await conn.execute(members.insert(), member(user_id))
        await audit.record(conn, at=NOW, actor=user_id, action="test.insert", subject=user_id)
        await asyncio.sleep(0)  # other writers queue meanwhile
        if fail:
            raise Refused(user_id)
        if roll_back:
            await conn.rollback()
    # Returned: the work is committed, as any other process sees it.
    if not (fail or roll_back):
        assert user_id in committed_elsewhere(db)
    return user_id


async def test_concurrent_writers_share_commits_and_each_returns_only_once_durable(db: Database):
    commits = []
    db._write_connection().connection.driver_connection.set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper().startswith("COMMIT") else None
    )
    users = [f"U{n:03d}" for n in range(40)]
    assert await asyncio.gather(*(insert(db, u) for u in users)) == users
    assert committed_elsewhere(db) == set(users)
    assert 1 <= len(commits) < len(users) / 2  # grouped, not one COMMIT each
    async with db.read() as conn:
        queued = (await conn.execute(sa.select(audit_unsealed.c.actor))).scalars().all()
    assert sorted(queued) == users


async def test_a_failing_or_rolled_back_writer_is_undone_alone(db: Database):
    outcomes = await asyncio.gather(
        insert(db, "U1"),
        insert(db, "U2", fail=True),
        insert(db, "U3"),
        insert(db, "U4", roll_back=True),
        insert(db, "U5"),
        return_exceptions=True,
    )
    assert outcomes[0] == "U1" and isinstance(outcomes[1], Refused) and outcomes[2:] == ["U3", "U4", "U5"]
    assert committed_elsewhere(db) == {"U1", "U3", "U5"}
    async with db.read() as conn:
        queued = (await conn.execute(sa.select(audit_unsealed.c.actor))).scalars().all()
    assert sorted(queued) == ["U1", "U3", "U5"]  # the undone writers' audit entries went with them


async def test_a_failed_commit_fails_every_writer_of_the_group(db: Database, monkeypatch):
    original = sa.RootTransaction.commit

    def broken_commit(self):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sa.RootTransaction, "commit", broken_commit)
    outcomes = await asyncio.gather(*(insert(db, f"U{n}") for n in range(5)), return_exceptions=True)
    assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes)
    monkeypatch.setattr(sa.RootTransaction, "commit", original)
    assert committed_elsewhere(db) == set()
    assert await insert(db, "U9") == "U9"  # the next group starts afresh
    assert committed_elsewhere(db) == {"U9"}


async def test_a_writer_sees_what_the_writers_before_it_in_its_group_wrote(db: Database):
    async def count_after_insert(user_id: str) -> int:
        async with db.write() as conn:
            await conn.execute(members.insert(), member(user_id))
            return (await conn.execute(sa.select(sa.func.count()).select_from(members))).scalar_one()

    counts = await asyncio.gather(*(count_after_insert(f"U{n}") for n in range(10)))
    assert sorted(counts) == list(range(1, 11))


async def test_when_sqlite_rolls_the_whole_transaction_back_every_writer_of_the_group_fails(db: Database):
    """SQLite may roll back the whole transaction on some errors (a full disk, say). A later writer's
    undo must not leave the earlier ones to be told that a COMMIT of nothing made their work durable."""

    async def lose_the_transaction(user_id: str, *, swallow: bool) -> str:
        async with db.write() as conn:
            await conn.execute(members.insert(), member(user_id))
            conn.sync_connection.connection.driver_connection.execute("ROLLBACK")  # as SQLite would
            if not swallow:
                raise Refused(user_id)
        return user_id

    for swallow in (False, True):
        outcomes = await asyncio.gather(
            insert(db, f"A{swallow}"),
            lose_the_transaction(f"B{swallow}", swallow=swallow),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], sqlite3.OperationalError), outcomes
        assert isinstance(outcomes[1], Refused if not swallow else sqlite3.OperationalError), outcomes
        assert committed_elsewhere(db) == set()
    with pytest.raises(sqlite3.OperationalError):  # alone in its group, its COMMIT would be of nothing
        await lose_the_transaction("D", swallow=True)
    assert await insert(db, "C") == "C"  # the next group starts afresh
    assert committed_elsewhere(db) == {"C"}


async def test_statements_after_a_rollback_are_refused(db: Database):
    async with db.write() as conn:
        await conn.execute(members.insert(), member("U1"))
        await conn.rollback()
        with pytest.raises(RuntimeError, match="rolled back"):
            await conn.execute(members.insert(), member("U2"))
    assert committed_elsewhere(db) == set()
