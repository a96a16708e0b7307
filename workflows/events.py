"""Slack retries events it thinks failed; each event id does its work once."""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.connection import Connection
from workflows.sql import insert_if_absent
from workflows.tables import processed_events

KEEP_FOR = timedelta(days=1)


async def claim_event(conn: Connection, event_id: str | None, now: datetime) -> bool:
    """True the first time an event id is seen, in the transaction that does its work."""
    if not event_id:
        return True
    return await insert_if_absent(conn, processed_events, {"event_id": event_id, "at": now})


async def forget_old_events(conn: Connection, now: datetime) -> int:
    result = await conn.execute(processed_events.delete().where(processed_events.c.at < now - KEEP_FOR))
    return result.rowcount or 0
