"""Benchmark data: a catalog, a workspace of people, and grants bulk-inserted straight into the tables.

Rows go in with SQLAlchemy Core executemany in big batches after the migrations ran, the fastest
honest way to get a database that looks like years of use (most grants long ended, some active, a
chosen few due) without going through the app a million times.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.fake_slack import slack_user
from workflows.db import Database
from workflows.tables import access_requests, grants, members

OWNERS = ["UBENCHOWN1", "UBENCHOWN2", "UBENCHOWN3"]
ADMIN = "UBENCHADM1"
OPEN_SECRET = "bench-open"  # no agreement, one approval, a long max_days: requests always file
SECRETS = 20
BATCH = 20_000


def user_id(n: int) -> str:
    return f"UB{n:07d}"


def workspace(count: int) -> list[dict[str, Any]]:
    """Slack user objects for users.list: the admin, the owners and `count` people."""
    people = [slack_user(ADMIN, "Bench Admin")] + [
        slack_user(owner, f"Bench Owner {i}") for i, owner in enumerate(OWNERS, 1)
    ]
    return people + [slack_user(user_id(n), f"Person {n}") for n in range(count)]


def secret_ids() -> list[str]:
    return [OPEN_SECRET] + [f"bench-{n:02d}" for n in range(1, SECRETS)]


def write_catalog(path: Path) -> Path:
    """Secrets spread over three owners; the open one is what the write load requests."""
    entries = [
        f"""
[[secrets]]
id = "{secret}"
name = "Benchmark secret {n}"
description = "Synthetic secret for the benchmarks"
owners = ["{OWNERS[n % len(OWNERS)]}"]
classification = "{("internal", "confidential", "restricted")[n % 3]}"
approvals = 1
default_days = 30
max_days = 3650
review_every_days = 90
"""
        for n, secret in enumerate(secret_ids())
    ]
    path.write_text(f'admins = ["{ADMIN}"]\nsecurity_channel = "C0SECURITY"\n' + "".join(entries))
    return path


@dataclass(frozen=True)
class Seeded:
    grants: int
    due: int
    members: int
    seconds: float


async def seed(
    database_url: str, *, grants_total: int, due: int, people: int, at: datetime, batch: int = BATCH
) -> Seeded:
    """Migrate, then insert `people` members and `grants_total` grants (each with its approved request)
    of which exactly the first `due` are due at `at`: a third expired, a third expiring within the
    day, a third due for review. The rest are not due at `at` under any rule: 70% ended long ago, 30%
    active with expiry and review at least a week away. Grantees cycle through the people."""
    started = time.perf_counter()
    db = Database(database_url)
    try:
        await db.migrate()
        async with db.write() as conn:
            for start in range(0, people, batch):
                await conn.execute(
                    members.insert(),
                    [_member(n, at) for n in range(start, min(people, start + batch))],
                )
            for owner in [ADMIN, *OWNERS]:
                await conn.execute(members.insert(), [_member_row(owner, at)])
        secrets = secret_ids()
        for start in range(0, grants_total, batch):
            stop = min(grants_total, start + batch)
            rows = [_grant(n, due, people, secrets, at) for n in range(start, stop)]
            async with db.write() as conn:
                await conn.execute(access_requests.insert(), [r for r, _ in rows])
                await conn.execute(grants.insert(), [g for _, g in rows])
        if not db.is_sqlite:  # explicit ids leave PostgreSQL's sequences behind; the app inserts next
            async with db.write() as conn:
                for table in ("access_requests", "grants"):
                    await conn.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                        )
                    )
    finally:
        await db.dispose()
    return Seeded(grants_total, min(due, grants_total), people, time.perf_counter() - started)


def _member(n: int, at: datetime) -> dict[str, Any]:
    return _member_row(user_id(n), at)


def _member_row(uid: str, at: datetime) -> dict[str, Any]:
    when = at - timedelta(days=400)
    return {
        "user_id": uid,
        "name": uid,
        "is_bot": False,
        "is_guest": False,
        "deleted": False,
        "tz": "Europe/London",
        "first_seen_at": when,
        "updated_at": when,
    }


def _grant(
    n: int, due: int, people: int, secrets: list[str], at: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    grantee = user_id(n % max(1, people))
    # Never the open secret: the write load must find no grant in its way.
    secret = secrets[1 + (n // max(1, people)) % (len(secrets) - 1)]
    ended_at = None
    if n < due:  # due at `at`: expired, expiring within the day, or due for review
        status = "active"
        kind = n % 3
        granted = at - timedelta(days=40)
        expires = at - timedelta(minutes=5 + n % 50) if kind == 0 else at + timedelta(hours=6 + n % 12)
        if kind == 2:
            expires = at + timedelta(days=200)
        review = at - timedelta(hours=1 + n % 20) if kind == 2 else at + timedelta(days=30)
    elif n % 10 < 7:  # ended long ago: the bulk of any real history
        status = "expired" if n % 2 else "revoked"
        granted = at - timedelta(days=400 + n % 300)
        expires = granted + timedelta(days=30)
        review = granted + timedelta(days=90)
        ended_at = expires if status == "expired" else granted + timedelta(days=3)
    else:  # active, nothing due for at least a week
        status = "active"
        granted = at - timedelta(days=n % 60)
        expires = at + timedelta(days=7 + n % 300)
        review = at + timedelta(days=7 + n % 80)
    hours = max(1, int((expires - granted).total_seconds() // 3600))
    request = {
        "id": n + 1,
        "kind": "new",
        "secret_id": secret,
        "requester": grantee,
        "duration_hours": hours,
        "justification": "benchmark data",
        "approvals_needed": 1,
        "status": "approved",
        "created_at": granted - timedelta(hours=2),
        "decided_at": granted,
        "decided_by": OWNERS[0],
    }
    grant = {
        "id": n + 1,
        "secret_id": secret,
        "grantee": grantee,
        "request_id": n + 1,
        "status": status,
        "granted_at": granted,
        "expires_at": expires,
        "review_due_at": review,
        "ended_at": ended_at,
        "ended_by": "system" if ended_at else None,
        "end_reason": status if ended_at else None,
    }
    return request, grant
