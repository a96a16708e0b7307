"""How long a sweep takes as the tables grow while the due work stays the same.

    python -m bench.sweep_bench [POSTGRES_SERVER_URL] [--rows 10000 100000 300000] [--due 20]

Prints, per table size, the time of a sweep that finds `due` items and of one that finds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import sqlalchemy as sa

from config.catalog import load_catalog
from workflows.db import Database
from workflows.sweep.run import sweep
from workflows.tables import grants

CATALOG = Path(__file__).parent.parent / "config" / "catalog.toml"
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


async def fill(db: Database, rows: int, due: int) -> None:
    later, earlier = NOW + timedelta(days=300), NOW - timedelta(days=1)
    step = max(1, rows // max(1, due))
    batch: list[dict[str, object]] = []
    for i in range(rows):
        is_due = i % step == 0 and i // step < due
        batch.append(
            {
                "secret_id": "customer-list",
                "grantee": f"U{i:08d}",
                "request_id": i + 1,
                "status": "active",
                "granted_at": earlier,
                "expires_at": later,
                "review_due_at": earlier if is_due else later,
                "review_notify_at": earlier if is_due else later,
                "expiry_warn_at": later,
            }
        )
        if len(batch) == 5000:
            async with db.write() as conn:
                await conn.execute(grants.insert(), batch)
            batch = []
    if batch:
        async with db.write() as conn:
            await conn.execute(grants.insert(), batch)
    async with db.write() as conn:
        await conn.execute(sa.text("ANALYZE"))


async def measure(url: str, rows: int, due: int) -> tuple[float, int, float]:
    db = Database(url)
    await db.migrate()
    await fill(db, rows, due)
    catalog = load_catalog(CATALOG)
    started = time.perf_counter()
    messages = await sweep(db, catalog, NOW)
    busy = time.perf_counter() - started
    started = time.perf_counter()
    await sweep(db, catalog, NOW)
    idle = time.perf_counter() - started
    await db.dispose()
    return busy, len(messages), idle


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("postgres_url", nargs="?", help="PostgreSQL server URL; default: SQLite files")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--due", type=int, default=20)
    args = parser.parse_args()
    sizes = " ".join(map(str, args.rows))
    print(f"command: python -m bench.sweep_bench {args.postgres_url or ''} --rows {sizes} --due {args.due}")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            if args.postgres_url:
                async with scratch_postgres(args.postgres_url) as url:
                    busy, messages, idle = await measure(url, rows, args.due)
            else:
                busy, messages, idle = await measure(f"sqlite:///{tmp}/bench.db", rows, args.due)
        print(
            f"grants={rows:>8}  due={args.due}  sweep={busy * 1000:7.1f} ms ({messages} message(s))  "
            f"idle sweep={idle * 1000:6.1f} ms"
        )


@contextlib.asynccontextmanager
async def scratch_postgres(server_url: str) -> AsyncIterator[str]:
    name = f"confide_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        conn = await asyncpg.connect(server_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
