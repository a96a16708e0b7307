"""Running the sweep: every step in one transaction, then one message per recipient."""

from __future__ import annotations

import logging
from datetime import datetime

from config.catalog import Catalog
from workflows import audit, outbox
from workflows.connection import Connection
from workflows.db import Database
from workflows.outbox import OutgoingMessage
from workflows.sweep.collector import NUDGES, Collector
from workflows.sweep.steps import STEPS, Step

logger = logging.getLogger("confide.sweep")


async def run_sweep(
    conn: Connection, catalog: Catalog, now: datetime, steps: list[Step] | None = None
) -> list[int]:
    """Run every step as of `now` in the caller's transaction; the ids of the outbox rows queued."""
    # The chain head first: sweeps on several replicas run one after the other, and a sweep that
    # holds it never waits on a row (claims skip locked rows), so it cannot deadlock with a click.
    await audit.lock_chain(conn)
    collector = Collector()
    with outbox.recording() as queued:
        for step in STEPS if steps is None else steps:
            await step(conn, catalog, now, collector)
        await collector.flush(conn, now)
    return list(queued)


async def sweep(
    db: Database, catalog: Catalog, now: datetime, *, dry_run: bool = False
) -> list[OutgoingMessage]:
    """One sweep as of `now`, committed; with dry_run, rolled back. Returns the messages it queued
    (or would have)."""
    async with db.write() as conn:
        ids = await run_sweep(conn, catalog, now)
        messages = await outbox.messages_by_id(conn, ids)
        if dry_run:
            await conn.rollback()
    logger.info("sweep at=%s messages=%d dry_run=%s", now.isoformat(), len(messages), dry_run)
    return messages


def items_in(messages: list[OutgoingMessage]) -> int:
    """What a sweep handled, counted as people hear it: each item of a batched nudge (one per due
    thing per recipient), and every other message (a card updated, the digest) as one."""
    return sum(len(m.data.get("items", [])) if m.kind == NUDGES else 1 for m in messages)
