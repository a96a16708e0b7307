"""Sweep step for access reviews: owners asked, reminded every review_reminder_days, then escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

from config.catalog import Catalog
from workflows import audit
from workflows.connection import Connection
from workflows.reviews import reviewers_of
from workflows.sweep.claims import claim_due
from workflows.sweep.collector import Collector, admins_and_security_channel
from workflows.tables import grants


async def notify_due_reviews(conn: Connection, catalog: Catalog, now: datetime, collector: Collector) -> None:
    """Grants at review_due_at: every owner gets them in their one message of the sweep, with Keep and
    Revoke. Unanswered, the owners are reminded every review_reminder_days; once
    escalate_after_reminders reminders have gone unanswered, the admins and the security channel are
    told (once per review)."""
    schedule = catalog.schedule
    every = timedelta(days=schedule.review_reminder_days)
    async for rows in claim_due(
        conn,
        grants,
        where=[grants.c.status == "active", grants.c.review_notify_at <= now, grants.c.expires_at > now],
        values={"review_notify_at": now + every, "review_notify_count": grants.c.review_notify_count + 1},
    ):
        for row in rows:
            notice = row.review_notify_count  # 1: the request to review; 2 and on: reminders
            reminders_before = max(0, notice - 2)
            secret = catalog.secret(row.secret_id)
            reviewers = await reviewers_of(conn, catalog, row.secret_id, row.grantee)
            if not reviewers and catalog.security_channel:  # an admin's grant with no owner left
                reviewers = [catalog.security_channel]
            item = {
                "grant_id": row.id,
                "secret_name": secret.name if secret else row.secret_id,
                "grantee": row.grantee,
                "granted_at": row.granted_at,
                "expires_at": row.expires_at,
                "review_due_at": row.review_due_at,
            }
            for reviewer in reviewers:
                collector.add(reviewer, "review_due", reminder=notice - 1, **item)
            await audit.record(
                conn,
                at=now,
                actor=audit.SYSTEM,
                action="access.review_requested" if notice == 1 else "access.review_reminded",
                subject=row.secret_id,
                details={"grant": row.id, "grantee": row.grantee, "reviewers": reviewers, "notice": notice},
            )
            if reminders_before >= schedule.escalate_after_reminders and row.review_escalated_at is None:
                await _escalate(conn, now, row.id, row.secret_id, item, reviewers, reminders_before)
                for recipient in await admins_and_security_channel(conn, catalog):
                    collector.add(
                        recipient, "review_escalation", owners=reviewers, reminders=reminders_before, **item
                    )


async def _escalate(
    conn: Connection,
    now: datetime,
    grant_id: int,
    secret_id: str,
    item: dict[str, object],
    reviewers: list[str],
    reminders: int,
) -> None:
    await conn.execute(grants.update().where(grants.c.id == grant_id).values(review_escalated_at=now))
    await audit.record(
        conn,
        at=now,
        actor=audit.SYSTEM,
        action="access.review_escalated",
        subject=secret_id,
        details={"grant": grant_id, "grantee": item["grantee"], "owners": reviewers, "reminders": reminders},
    )
