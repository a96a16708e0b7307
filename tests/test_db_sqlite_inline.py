"""SQLite runs on the event loop: another process's write lock must be waited for without blocking it."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from workflows import db as db_module
from workflows.db import Database
from workflows.tables import processed_events

AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


async def test_a_writer_waits_for_another_process_without_blocking_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "confide.db"
    db = Database(f"sqlite:///{path}")
    await db.migrate()
    other_process = sqlite3.connect(path, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # another replica (or the CLI) is writing

    async def write_one() -> None:
        async with db.write() as conn:
            await conn.execute(processed_events.insert().values(event_id="E1", at=AT))

    writer = asyncio.create_task(write_one())
    ticks = 0
    for _ in range(20):  # the loop keeps turning while the writer waits
        await asyncio.sleep(0.005)
        ticks += 1
    assert not writer.done()
    async with db.read() as conn:  # and readers are not held up by the other process's lock
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(processed_events))
        ).scalar_one() == 0

    other_process.execute("COMMIT")
    await asyncio.wait_for(writer, timeout=10)
    assert ticks == 20
    async with db.read() as conn:
        assert (await conn.execute(sa.select(processed_events.c.event_id))).scalars().all() == ["E1"]
    other_process.close()
    await db.dispose()


async def test_a_writer_gives_up_when_the_lock_is_never_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "WRITE_LOCK_WAIT_SECONDS", 0.05)
    path = tmp_path / "confide.db"
    db = Database(f"sqlite:///{path}")
    await db.migrate()
    other_process = sqlite3.connect(path, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    with pytest.raises((sa.exc.OperationalError, sqlite3.OperationalError), match="locked"):
        async with db.write() as conn:
            await conn.execute(processed_events.insert().values(event_id="E1", at=AT))
    other_process.execute("ROLLBACK")
    other_process.close()
    async with db.read() as conn:
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(processed_events))
        ).scalar_one() == 0
    await db.dispose()


async def test_a_dry_run_rolls_back_and_a_failed_block_leaves_nothing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'confide.db'}")
    await db.migrate()
    async with db.write() as conn:
        await conn.execute(processed_events.insert().values(event_id="E1", at=AT))
        await conn.rollback()
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await conn.execute(processed_events.insert().values(event_id="E2", at=AT))
            raise RuntimeError("the workflow failed")
    async with db.read() as conn:
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(processed_events))
        ).scalar_one() == 0
    await db.dispose()


def rows_in_database_file(path: Path) -> int:
    """Rows the database file itself holds, ignoring the write-ahead log (what a checkpoint moved)."""
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return reader.execute("SELECT count(*) FROM processed_events").fetchone()[0]
    except sqlite3.DatabaseError:
        # Not even the migrations' tables have reached the file yet, or (immutable=1 reads without
        # locks) the read caught a checkpoint half-way through writing pages: the caller looks again.
        return 0
    finally:
        reader.close()


async def test_a_server_checkpoints_the_wal_off_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "confide.db"
    db = Database(f"sqlite:///{path}", background_checkpoints=True)
    await db.migrate()
    for n in range(1500):  # well past SQLite's own 1,000-page mark, were it still on
        async with db.write() as conn:
            await conn.execute(processed_events.insert().values(event_id=f"E{n}", at=AT))
    assert rows_in_database_file(path) == 0  # commits no longer checkpoint on the loop

    db.start_background_work()
    for _ in range(100):
        await asyncio.sleep(0.05)
        if rows_in_database_file(path) == 1500:
            break
    assert rows_in_database_file(path) == 1500
    await db.dispose()


async def test_a_failed_migration_run_leaves_the_database_as_it_found_it(tmp_path: Path) -> None:
    path = tmp_path / "confide.db"
    squatter = sqlite3.connect(path)  # a table a later revision creates is already there, so it fails
    squatter.execute("CREATE TABLE cases (id INTEGER PRIMARY KEY)")
    squatter.commit()
    squatter.close()
    db = Database(f"sqlite:///{path}")
    with pytest.raises(sa.exc.OperationalError, match="already exists"):
        await db.migrate()
    await db.dispose()
    check = sqlite3.connect(path)
    tables = {name for (name,) in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    check.close()
    # One run, one transaction: neither the revisions before the failing one nor their version rows.
    assert tables == {"cases"}


async def test_a_long_transaction_lets_other_requests_run_between_its_statements(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'confide.db'}")
    await db.migrate()

    async def read_while_writing() -> int:
        async with db.read() as conn:
            return (await conn.execute(sa.select(sa.func.count()).select_from(processed_events))).scalar_one()

    async with db.write() as conn:
        reader = asyncio.create_task(read_while_writing())
        written = 0
        while not reader.done() and written < 100_000:  # a sweep with much due, say
            await conn.execute(processed_events.insert().values(event_id=f"E{written}", at=AT))
            written += 1
        assert reader.done()  # served in the middle of the transaction, not after it
        assert written < 100_000
    assert reader.result() == 0  # and it saw none of it
    await db.dispose()
