"""Sweep step for classification reviews: a secret's review falls due → its owners are asked whether it
is still a trade secret (again every review_reminder_days until one of them answers)."""

from __future__ import annotations

from datetime import datetime, timedelta

from config.catalog import Catalog
from workflows import audit, classification
from workflows.connection import Connection
from workflows.sweep.claims import claim_due
from workflows.sweep.collector import Collector
from workflows.tables import secret_reviews


async def ask_classification_reviews(
    conn: Connection, catalog: Catalog, now: datetime, collector: Collector
) -> None:
    """Every owner gets the secrets due in their one message, with Still secret, Declassify and Change
    owners; with no active owner left, the admins are asked."""
    await classification.record_secrets(conn, catalog, now)  # a secret the sweep sees before a start-up
    every = timedelta(days=catalog.schedule.review_reminder_days)
    async for rows in claim_due(
        conn,
        secret_reviews,
        where=[secret_reviews.c.notify_at <= now],
        values={
            "notify_at": now + every,
            "last_notified_at": now,
            "notify_count": secret_reviews.c.notify_count + 1,
        },
    ):
        for row in rows:
            secret = catalog.secret(row.secret_id)
            if secret is None or row.declassified_at is not None:  # gone from the catalog: nothing to ask
                await conn.execute(
                    secret_reviews.update()
                    .where(secret_reviews.c.secret_id == row.secret_id)
                    .values(notify_at=None)
                )
                continue
            asked = await classification.reviewers(conn, catalog, secret)
            for reviewer in asked:
                collector.add(
                    reviewer,
                    "classification_review",
                    secret_id=secret.id,
                    secret_name=secret.name,
                    classification=secret.classification,
                    review_due_at=row.review_due_at,
                    last_reviewed_at=row.last_reviewed_at,
                    first_seen_at=row.first_seen_at,
                    reminder=row.notify_count - 1,
                )
            await audit.record(
                conn,
                at=now,
                actor=audit.SYSTEM,
                action="classification.review_requested"
                if row.notify_count == 1
                else "classification.reminded",
                subject=secret.id,
                details={"reviewers": asked, "notice": row.notify_count},
            )
