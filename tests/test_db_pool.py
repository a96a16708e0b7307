"""The connection pool: a burst larger than the pool waits for connections rather than opening more."""

from __future__ import annotations

import asyncio

from sqlalchemy import event

from tests.conftest import ConfideFactory


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
