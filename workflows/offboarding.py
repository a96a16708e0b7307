"""Deactivated members lose every grant at once; their pending requests are cancelled."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa

from config.catalog import Catalog
from workflows import access, audit, outbox, signals
from workflows.connection import Connection
from workflows.directory import Member, resolve_principals, upsert_member
from workflows.events import claim_event
from workflows.tables import access_requests, grants


async def sync_member(
    conn: Connection, catalog: Catalog, now: datetime, member: Member, event_id: str | None = None
) -> bool:
    """Store a member's state; offboard them when they were just deactivated. False for a repeat event."""
    if not await claim_event(conn, event_id, now):
        return False
    previous = await upsert_member(conn, member, now)
    if member.deleted and (previous is None or not previous.deleted):
        await offboard(conn, catalog, now, member.user_id)
    return True


async def offboard(conn: Connection, catalog: Catalog, now: datetime, user_id: str) -> list[access.GrantInfo]:
    """Revoke every grant, cancel pending requests, tell each owner which access ended."""
    rows = await conn.execute(
        sa.select(grants)
        .where(grants.c.grantee == user_id, grants.c.status == "active")
        .order_by(grants.c.id)
    )
    ended = [
        await access.end_grant(
            conn,
            catalog,
            now,
            grant=access.grant_from_row(row),
            status="revoked",
            actor=audit.SYSTEM,
            reason="offboarded",
            notify_grantee=False,
        )
        for row in rows.all()
    ]
    pending = await conn.execute(
        sa.select(access_requests.c.id).where(
            access_requests.c.requester == user_id, access_requests.c.status == "pending"
        )
    )
    cancelled = [
        await access.cancel_request(
            conn,
            catalog,
            now,
            request_id=request_id,
            status="cancelled",
            actor=audit.SYSTEM,
            reason="requester deactivated",
        )
        for request_id in pending.scalars().all()
    ]
    by_owner: dict[str, list[dict[str, object]]] = defaultdict(list)
    for grant in ended:
        secret = catalog.secret(grant.secret_id)
        owners = await resolve_principals(conn, secret.owners) if secret else []
        for owner in owners or await resolve_principals(conn, catalog.admins):
            by_owner[owner].append(
                {"grant_id": grant.id, "secret_name": secret.name if secret else grant.secret_id}
            )
    for owner, items in by_owner.items():
        await outbox.enqueue(
            conn, recipient=owner, kind="offboarding_notice", now=now, data={"user": user_id, "grants": items}
        )
    await signals.at_departure(conn, catalog, now, user_id=user_id)
    await audit.record(
        conn,
        at=now,
        actor=audit.SYSTEM,
        action="member.offboarded",
        subject=user_id,
        details={
            "grants_revoked": [g.id for g in ended],
            "requests_cancelled": [r.id for r in cancelled if r is not None],
        },
    )
    return ended
