"""Sweep step for training: owed past due_days, or a refresher due after every_days → a reminder with a
Start button, again every review_reminder_days while it stays owed."""

from __future__ import annotations

from datetime import datetime, timedelta

from config.catalog import Catalog
from workflows import audit
from workflows.connection import Connection
from workflows.sweep.claims import claim_due
from workflows.sweep.collector import Collector
from workflows.tables import training_obligations


async def remind_owed_training(
    conn: Connection, catalog: Catalog, now: datetime, collector: Collector
) -> None:
    """Each person owing a training (or its refresher) gets it in their one message of the sweep."""
    every = timedelta(days=catalog.schedule.review_reminder_days)
    current = {(t.id, t.version): t for t in catalog.trainings}
    async for rows in claim_due(
        conn,
        training_obligations,
        where=[training_obligations.c.due_at <= now],
        values={
            "due_at": now + every,
            "last_notified_at": now,
            "notify_count": training_obligations.c.notify_count + 1,
        },
    ):
        for row in rows:
            training = current.get((row.training_id, row.version))
            if training is None:  # superseded since the last start-up; the catalog has moved on
                await conn.execute(
                    training_obligations.update()
                    .where(
                        training_obligations.c.user_id == row.user_id,
                        training_obligations.c.training_id == row.training_id,
                        training_obligations.c.version == row.version,
                    )
                    .values(due_at=None)
                )
                continue
            refresher = row.passed_at is not None
            collector.add(
                row.user_id,
                "training_due",
                training_id=training.id,
                title=training.title,
                version=training.version,
                owed_from=row.owed_from,
                refresher=refresher,
                reminder=row.notify_count - 1,
            )
            await audit.record(
                conn,
                at=now,
                actor=audit.SYSTEM,
                action="training.reminded",
                subject=training.id,
                details={
                    "user": row.user_id,
                    "version": training.version,
                    "refresher": refresher,
                    "notice": row.notify_count,
                },
            )
