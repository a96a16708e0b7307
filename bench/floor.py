"""One database round trip per request with the bare driver: the floor under any app's ack latency.

Confide's own statements go through SQLAlchemy and do real work; this does the least a request that
touches the database can do, so `confide p99 / floor p99` is what Confide adds over the database, and
`floor p99 / bare Bolt p99` is what the database alone costs on this machine.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import asyncpg

POOL_SIZE = 20  # Confide's default pool, so both keep as many connections busy
_TABLE = "bench_floor"


@dataclass
class DatabaseFloor:
    pool: Any = None  # asyncpg.Pool on PostgreSQL
    sqlite: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, database_url: str) -> DatabaseFloor:
        if database_url.startswith("sqlite"):
            # As Confide opens it: WAL, synchronous=NORMAL, statements inline on the event loop.
            # A file of its own beside Confide's, so the two never wait for each other's lock.
            path = database_url.split(":///", 1)[1] + "-floor"
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} (id INTEGER PRIMARY KEY, note TEXT)")
            return cls(sqlite=conn)
        url = database_url.replace("postgresql+asyncpg://", "postgresql://")
        pool = await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)
        await pool.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} (id serial PRIMARY KEY, note text)")
        return cls(pool=pool)

    async def round_trip(self, *, write: bool) -> None:
        """A read of one row, or a durable commit of one row (autocommit: one round trip)."""
        if self.sqlite is not None:
            if write:
                self.sqlite.execute(f"INSERT INTO {_TABLE} (note) VALUES (?)", ("floor",))
            else:
                self.sqlite.execute("SELECT 1").fetchone()
            return
        if write:
            await self.pool.execute(f"INSERT INTO {_TABLE} (note) VALUES ($1)", "floor")
        else:
            await self.pool.fetchval("SELECT 1")

    async def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        if self.pool is not None:
            await self.pool.close()
