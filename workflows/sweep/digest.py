"""Sweep step for the weekly digest: posted once per schedule.digest slot, across every replica."""

from __future__ import annotations

from datetime import datetime, timedelta

from config.catalog import Catalog
from workflows import audit, outbox
from workflows.connection import Connection
from workflows.digest import build_digest, digest_slot
from workflows.sql import insert_if_absent
from workflows.sweep.collector import Collector
from workflows.tables import periodic_runs

WEEKLY_DIGEST = "weekly_digest"  # the outbox kind
GRACE = timedelta(days=1)  # a digest missed by longer (the app was down) waits for next week's


async def post_weekly_digest(conn: Connection, catalog: Catalog, now: datetime, collector: Collector) -> None:
    """From the catalog's schedule.digest instant (UTC), the first sweep posts the digest."""
    if not catalog.security_channel:
        return
    slot = digest_slot(catalog.schedule.digest, now)
    if now - slot >= GRACE:
        return
    claimed = await insert_if_absent(conn, periodic_runs, {"job": "digest", "slot": slot, "ran_at": now})
    if not claimed:
        return
    data = await build_digest(conn, catalog, now)
    await outbox.enqueue(conn, recipient=catalog.security_channel, kind=WEEKLY_DIGEST, data=data, now=now)
    await audit.record(
        conn,
        at=now,
        actor=audit.SYSTEM,
        action="digest.posted",
        subject=catalog.security_channel,
        details={"slot": slot.isoformat(), "sections": [s["key"] for s in data["sections"]]},
    )
