"""A sweep's cost grows with what is due, not with the tables: every claim is an index search."""

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import event

from config.catalog import load_catalog
from tests.conftest import EXAMPLE_CATALOG
from tests.sweep_support import WEDNESDAY
from workflows.db import Database
from workflows.sweep.run import run_sweep
from workflows.tables import access_requests, grants


async def test_claims_search_the_due_indexes_instead_of_scanning(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'plans.db'}")
    await db.migrate()
    catalog = load_catalog(EXAMPLE_CATALOG)
    now = WEDNESDAY
    later, earlier = now + timedelta(days=300), now - timedelta(days=1)
    rows = [
        {
            "secret_id": "customer-list",
            "grantee": f"U0PERSON{i:04d}",
            "request_id": i + 1,
            "status": "active",
            "granted_at": earlier,
            # Every fifth hundred is due; the rest wait far in the future.
            "expires_at": later if i % 500 else earlier,
            "review_due_at": later if i % 500 != 1 else earlier,
            "review_notify_at": later if i % 500 != 1 else earlier,
            "expiry_warn_at": later if i % 500 != 2 else earlier,
        }
        for i in range(2000)
    ]
    async with db.write() as conn:
        await conn.execute(grants.insert(), rows)
        await conn.execute(sa.text("ANALYZE"))

    statements: list[tuple[str, tuple]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE") and " IN (SELECT " in statement:
            statements.append((statement, tuple(parameters)))

    event.listen(db.sync_engine, "before_cursor_execute", capture)
    async with db.write() as conn:
        await run_sweep(conn, catalog, now)
    event.remove(db.sync_engine, "before_cursor_execute", capture)

    claimed_tables = {
        table.name for table in (grants, access_requests) if any(table.name in s for s, _ in statements)
    }
    assert claimed_tables == {"grants", "access_requests"}
    async with db.read() as conn:
        for statement, parameters in statements:
            plan = [
                row[3] for row in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            ]
            assert not [step for step in plan if step.startswith("SCAN")], (statement, plan)
            assert any("USING" in step and "INDEX" in step for step in plan), plan
    async with db.read() as conn:
        ended = await conn.execute(sa.select(sa.func.count()).where(grants.c.status == "expired"))
        assert ended.scalar_one() == 4  # 0, 500, 1000, 1500
    await db.dispose()
