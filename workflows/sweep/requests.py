"""Sweep steps for undecided access requests: remind the approvers, then let the request expire."""

from __future__ import annotations

from datetime import datetime, timedelta

from config.catalog import Catalog
from workflows import access, audit, outbox
from workflows.connection import Connection
from workflows.directory import deactivated, resolve_principals
from workflows.sweep.claims import claim_due
from workflows.sweep.collector import Collector
from workflows.tables import access_requests, request_approvers


async def expire_requests(conn: Connection, catalog: Catalog, now: datetime, collector: Collector) -> None:
    """Undecided for request_expiry_hours: the request expires, approver cards show it, requester told."""
    hours = catalog.schedule.request_expiry_hours
    reason = f"no decision within {hours} hours"
    async for rows in claim_due(
        conn,
        access_requests,
        where=[access_requests.c.status == "pending", access_requests.c.expires_at <= now],
        values={"status": "expired", "decided_at": now, "reason": reason},
    ):
        for row in rows:
            info = await access.record_request_end(
                conn, catalog, now, request_id=row.id, status="expired", actor=audit.SYSTEM, reason=reason
            )
            collector.add(
                info.requester,
                "request_expired",
                request_id=info.id,
                kind=info.kind,
                secret_id=info.secret_id,
                secret_name=info.secret_name,
                grant_id=info.grant_id,
                hours=hours,
            )


async def remind_approvers(conn: Connection, catalog: Catalog, now: datetime, collector: Collector) -> None:
    """Undecided for request_reminder_hours: remind the approvers who have not approved, once a period."""
    period = timedelta(hours=catalog.schedule.request_reminder_hours)
    async for rows in claim_due(
        conn,
        access_requests,
        where=[access_requests.c.status == "pending", access_requests.c.remind_at <= now],
        values={"remind_at": now + period, "remind_count": access_requests.c.remind_count + 1},
    ):
        for row in rows:
            info = await access.get_request(conn, catalog, row.id)
            waiting = await _waiting_approvers(conn, catalog, now, info)
            for approver in waiting:
                collector.add(
                    approver,
                    "request_reminder",
                    request_id=info.id,
                    kind=info.kind,
                    secret_name=info.secret_name,
                    requester=info.requester,
                    duration_hours=info.duration_hours,
                    justification=info.justification[:500],
                    approvals_needed=info.approvals_needed,
                    approved_by=info.approved_by,
                    created_at=info.created_at,
                    expires_at=row.expires_at,
                    grant_id=info.grant_id,
                )
            await audit.record(
                conn,
                at=now,
                actor=audit.SYSTEM,
                action="access.request_reminded",
                subject=info.secret_id,
                details={"request": info.id, "approvers": waiting, "reminder": row.remind_count},
            )


async def _waiting_approvers(
    conn: Connection, catalog: Catalog, now: datetime, info: access.RequestInfo
) -> list[str]:
    """The active approvers yet to approve. When they can no longer reach the approvals needed
    (someone was deactivated), the secret's current owners, else the admins, become approvers too:
    they get the request card (so they can decide) instead of a reminder."""
    gone = await deactivated(conn, info.approvers)
    waiting = [a for a in info.approvers if a not in gone and a not in info.approved_by]
    if len(waiting) >= info.approvals_needed - len(info.approved_by):
        return waiting
    secret = catalog.secret(info.secret_id)
    candidates = await access.approvers_for(conn, catalog, secret, info.requester) if secret else []
    added = [c for c in candidates if c not in info.approvers]
    if not added:
        admins = await resolve_principals(conn, catalog.admins)
        added = [a for a in admins if a != info.requester and a not in info.approvers]
    if not added:
        return waiting
    await conn.execute(request_approvers.insert(), [{"request_id": info.id, "user_id": a} for a in added])
    await audit.record(
        conn,
        at=now,
        actor=audit.SYSTEM,
        action="access.request_rerouted",
        subject=info.secret_id,
        details={"request": info.id, "added": added, "deactivated": sorted(gone)},
    )
    rerouted = await access.get_request(conn, catalog, info.id)
    for approver in added:
        await outbox.enqueue(
            conn,
            recipient=approver,
            kind=access.REQUEST_CARD,
            data=rerouted.card_data(),
            now=now,
            card_key=access.request_card_key(info.id),
        )
    return waiting
