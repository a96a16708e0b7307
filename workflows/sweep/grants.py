"""Sweep steps for grants: warn the grantee a day before expiry, then end the grant at expiry."""

from __future__ import annotations

from datetime import datetime

from config.catalog import Catalog
from workflows import access, audit
from workflows.connection import Connection
from workflows.sweep.claims import claim_due
from workflows.sweep.collector import Collector
from workflows.tables import access_requests, grants

EXPIRED_REASON = "expired"


def _secret_name(catalog: Catalog, secret_id: str) -> str:
    secret = catalog.secret(secret_id)
    return secret.name if secret else secret_id


async def expire_grants(conn: Connection, catalog: Catalog, now: datetime, collector: Collector) -> None:
    """A grant that reaches expires_at ends; the grantee is told. A pending extension is withdrawn."""
    async for rows in claim_due(
        conn,
        grants,
        where=[grants.c.status == "active", grants.c.expires_at <= now],
        values={"status": "expired", "ended_at": now, "ended_by": audit.SYSTEM, "end_reason": EXPIRED_REASON},
    ):
        withdrawn = await _withdraw_extensions(conn, catalog, now, [row.id for row in rows])
        for row in rows:
            grant = access.grant_from_row(row)
            await access.record_grant_end(
                conn, now, grant=grant, status="expired", actor=audit.SYSTEM, reason=EXPIRED_REASON
            )
            collector.add(
                grant.grantee,
                "grant_expired",
                grant_id=grant.id,
                secret_id=grant.secret_id,
                secret_name=_secret_name(catalog, grant.secret_id),
                expired_at=grant.expires_at,
                extension_request=withdrawn.get(grant.id),
            )


async def _withdraw_extensions(
    conn: Connection, catalog: Catalog, now: datetime, grant_ids: list[int]
) -> dict[int, int]:
    """Pending extension requests for grants that just ended can no longer apply: grant id → request id."""
    reason = "the grant expired before a decision"
    withdrawn: dict[int, int] = {}
    async for rows in claim_due(
        conn,
        access_requests,
        where=[
            access_requests.c.status == "pending",
            access_requests.c.kind == "extend",
            access_requests.c.grant_id.in_(grant_ids),
        ],
        values={"status": "cancelled", "decided_at": now, "reason": reason},
    ):
        for row in rows:
            await access.record_request_end(
                conn, catalog, now, request_id=row.id, status="cancelled", actor=audit.SYSTEM, reason=reason
            )
            withdrawn[row.grant_id] = row.id
    return withdrawn


async def warn_expiring_grants(
    conn: Connection, catalog: Catalog, now: datetime, collector: Collector
) -> None:
    """A day before expiry the grantee is offered an Extend button (once per expiry date)."""
    async for rows in claim_due(
        conn,
        grants,
        where=[grants.c.status == "active", grants.c.expiry_warn_at <= now, grants.c.expires_at > now],
        values={"expiry_warn_at": None, "expiry_warned_at": now},
    ):
        for row in rows:
            collector.add(
                row.grantee,
                "grant_expiring",
                grant_id=row.id,
                secret_id=row.secret_id,
                secret_name=_secret_name(catalog, row.secret_id),
                expires_at=row.expires_at,
            )
            await audit.record(
                conn,
                at=now,
                actor=audit.SYSTEM,
                action="access.expiry_warned",
                subject=row.secret_id,
                details={"grant": row.id, "grantee": row.grantee, "expires_at": row.expires_at.isoformat()},
            )
