"""Helpers for the sweep tests: set up due work through the workflows, read the nudges, run the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from config.catalog import Catalog
from tests.fake_slack import Call, FakeSlack, slack_user
from workflows import access, agreements, audit
from workflows.db import Database
from workflows.digest import digest_slot
from workflows.directory import get_member
from workflows.tables import audit_log, members, outbox

ROOT = Path(__file__).parent.parent
# A Wednesday: two days clear of the Monday 09:00 digest, so only the digest tests see one.
WEDNESDAY = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def nudges(fake: FakeSlack, recipient: str) -> list[Call]:
    """The sweep's batched messages delivered to a user or channel."""
    return [c for c in fake.messages_to(recipient) if c.get("text", "").startswith("Confide:")]


def digests(fake: FakeSlack, channel: str = "C0SECURITY") -> list[Call]:
    return [c for c in fake.messages_to(channel) if c.get("text", "").startswith("Confide weekly digest")]


def block_ids(call: Call) -> list[str]:
    return [b.get("block_id", "") for b in call.blocks]


def clear_of_digest(catalog: Catalog, at: datetime) -> datetime:
    """`at`, moved on by whole days until no digest is due then (keeps digest-free tests stable)."""
    while at - digest_slot(catalog.schedule.digest, at) < timedelta(days=1):
        at += timedelta(days=1)
    return at


async def file_request(
    db: Database, catalog: Catalog, now: datetime, requester: str, secret_id: str, hours: int | None = None
) -> int:
    async with db.write() as conn:
        secret = catalog.secret(secret_id)
        for agreement_id in secret.requires if secret else []:
            agreement = catalog.agreement(agreement_id)
            assert agreement is not None
            await agreements.acknowledge(
                conn, catalog, now, user_id=requester, agreement_id=agreement.id, version=agreement.version
            )
        info = await access.request_access(
            conn,
            catalog,
            now,
            requester=requester,
            secret_id=secret_id,
            duration_hours=hours,
            justification="quarterly planning",
        )
    return info.id


async def make_grant(
    db: Database,
    catalog: Catalog,
    now: datetime,
    *,
    requester: str,
    secret_id: str,
    approvers: list[str],
    hours: int | None = None,
) -> int:
    """A request approved by `approvers`; the grant's id."""
    request_id = await file_request(db, catalog, now, requester, secret_id, hours)
    decision = None
    for approver in approvers:
        async with db.write() as conn:
            decision = await access.approve(conn, catalog, now, request_id=request_id, approver=approver)
    assert decision is not None and decision.grant is not None, "not enough approvers"
    return decision.grant.id


async def agreements_up_to_date(db: Database, catalog: Catalog, now: datetime) -> None:
    """Everyone in the workspace acknowledges what applies to them, so that a test about other due work
    sees no agreement reminders."""
    async with db.write() as conn:
        people = (await conn.execute(sa.select(members.c.user_id))).scalars().all()
        for user_id in people:
            for owed in await agreements.owed_by(conn, catalog, user_id, now):
                await agreements.acknowledge(
                    conn,
                    catalog,
                    now,
                    user_id=user_id,
                    agreement_id=owed.agreement.id,
                    version=owed.agreement.version,
                )


async def sent_items(db: Database) -> list[tuple[str, dict[str, Any]]]:
    """Every (recipient, item) the sweeps have queued, across all nudge messages."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.recipient, outbox.c.data)
            .where(outbox.c.kind == "nudges")
            .order_by(outbox.c.id)
        )
        return [(r.recipient, item) for r in rows for item in json.loads(r.data)["items"]]


async def audit_actions(db: Database, action: str) -> list[dict[str, Any]]:
    await audit.seal(db)  # as every reader of the log does
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(audit_log.c.details).where(audit_log.c.action == action).order_by(audit_log.c.id)
        )
        return [json.loads(r.details) for r in rows]


def cli_env(fake: FakeSlack, database_url: str, catalog_path: str | Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CONFIDE_", "DATABASE_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET="test-signing-secret",
        SLACK_API_URL=fake.url + "/api/",
        DATABASE_URL=database_url,
        CONFIDE_CATALOG=str(catalog_path),
        LOG_LEVEL="WARNING",
    )
    return env


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`python -m bot <args>` in a real subprocess; the fake Slack keeps serving meanwhile."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def deactivate(confide: Any, user_id: str, name: str = "Someone") -> None:
    """Slack says the member was deactivated; wait until Confide has processed it (after the ack)."""
    await confide.slack.event({"type": "user_change", "user": slack_user(user_id, name, deleted=True)})
    for _ in range(500):
        async with confide.db.read() as conn:
            member = await get_member(conn, user_id)
        if member is not None and member.deleted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{user_id} was never deactivated")
