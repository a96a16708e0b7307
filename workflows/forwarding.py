"""Forwarding the audit log to a SIEM: a cursor over the append-only log, leased to one sender at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from workflows.audit import AuditEntry
from workflows.connection import Connection
from workflows.tables import audit_forwarding, audit_log

MAX_BACKOFF = timedelta(minutes=5)


@dataclass(frozen=True)
class ForwardBatch:
    after_id: int  # the cursor the batch was read from; advancing checks it is unchanged
    entries: list[AuditEntry]


async def claim_batch(conn: Connection, now: datetime, *, size: int, lease: timedelta) -> ForwardBatch | None:
    """Take the lease and the next entries after the cursor; None when another sender holds the lease,
    a retry is not due yet, or nothing is new."""
    claimed = (
        await conn.execute(
            audit_forwarding.update()
            .where(
                audit_forwarding.c.id == 1,
                sa.or_(audit_forwarding.c.lease_until.is_(None), audit_forwarding.c.lease_until < now),
                sa.or_(
                    audit_forwarding.c.next_attempt_at.is_(None), audit_forwarding.c.next_attempt_at <= now
                ),
            )
            .values(lease_until=now + lease)
            .returning(audit_forwarding.c.last_id)
        )
    ).first()
    if claimed is None:
        return None
    rows = (
        await conn.execute(
            sa.select(audit_log).where(audit_log.c.id > claimed.last_id).order_by(audit_log.c.id).limit(size)
        )
    ).all()
    if not rows:
        await conn.execute(
            audit_forwarding.update().where(audit_forwarding.c.id == 1).values(lease_until=None)
        )
        return None
    entries = [
        AuditEntry(r.id, r.at, r.actor, r.action, r.subject, json.loads(r.details), r.prev_hash, r.hash)
        for r in rows
    ]
    return ForwardBatch(claimed.last_id, entries)


async def mark_forwarded(conn: Connection, batch: ForwardBatch) -> None:
    await conn.execute(
        audit_forwarding.update()
        .where(audit_forwarding.c.id == 1, audit_forwarding.c.last_id == batch.after_id)
        .values(
            last_id=batch.entries[-1].id, lease_until=None, next_attempt_at=None, failures=0, last_error=None
        )
    )


async def mark_failed(conn: Connection, now: datetime, error: str) -> timedelta:
    """Back off exponentially (1 s doubling to 5 minutes); returns the delay chosen."""
    failures = (
        await conn.execute(sa.select(audit_forwarding.c.failures).where(audit_forwarding.c.id == 1))
    ).scalar_one() + 1
    delay = min(MAX_BACKOFF, timedelta(seconds=2 ** min(failures - 1, 9)))
    await conn.execute(
        audit_forwarding.update()
        .where(audit_forwarding.c.id == 1)
        .values(lease_until=None, next_attempt_at=now + delay, failures=failures, last_error=error[:200])
    )
    return delay


async def cursor(conn: Connection) -> int:
    return (
        await conn.execute(sa.select(audit_forwarding.c.last_id).where(audit_forwarding.c.id == 1))
    ).scalar_one()


def encode(entries: list[AuditEntry], fmt: str) -> bytes:
    """The POST body (JSON either way): a JSON array, or Splunk HEC's concatenated event objects."""
    if fmt == "splunk-hec":
        events = [
            json.dumps(
                {"time": round(e.at.timestamp(), 6), "event": e.as_json(), "sourcetype": "confide:audit"},
                sort_keys=True,
                ensure_ascii=False,
            )
            for e in entries
        ]
        return "\n".join(events).encode("utf-8")
    return json.dumps([e.as_json() for e in entries], sort_keys=True, ensure_ascii=False).encode("utf-8")
