"""Acting on the sweep's messages: Keep or Revoke in an access review, Extend before a grant expires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from config.catalog import Catalog, Secret
from workflows import access, audit
from workflows.connection import Connection
from workflows.directory import resolve_principals
from workflows.errors import AlreadyDecided, NotAllowed, NotFound
from workflows.tables import grants

DEFAULT_REVIEW_DAYS = 90  # for a grant whose secret has left the catalog


@dataclass(frozen=True)
class ReviewOutcome:
    grant_id: int
    secret_name: str
    grantee: str
    outcome: str  # kept | revoked
    by: str
    next_review_at: datetime | None = None


async def reviewers_of(conn: Connection, catalog: Catalog, secret_id: str, grantee: str) -> list[str]:
    """Who re-certifies a grant: the secret's active owners other than the grantee, else the admins."""
    secret = catalog.secret(secret_id)
    owners = [u for u in await resolve_principals(conn, secret.owners) if u != grantee] if secret else []
    return owners or [u for u in await resolve_principals(conn, catalog.admins) if u != grantee]


async def _lock_grant(conn: Connection, catalog: Catalog, grant_id: int, actor: str) -> sa.Row:
    """Lock the grant, then check that the person may review it and that it is still active."""
    row = (await conn.execute(sa.select(grants).where(grants.c.id == grant_id).with_for_update())).first()
    if row is None:
        raise NotFound(f"There is no grant G-{grant_id}.")
    secret = catalog.secret(row.secret_id)
    owners = await resolve_principals(conn, secret.owners) if secret else []
    if actor not in owners and not catalog.is_admin(actor):
        raise NotAllowed(f"Only the owners of the secret or an admin can review G-{grant_id}.")
    if row.status != "active":
        raise AlreadyDecided(f"Grant G-{grant_id} has already {row.status}; there is nothing to review.")
    return row


def _name(catalog: Catalog, secret_id: str) -> str:
    secret = catalog.secret(secret_id)
    return secret.name if secret else secret_id


async def keep_grant(
    conn: Connection, catalog: Catalog, now: datetime, *, grant_id: int, actor: str
) -> ReviewOutcome:
    """Re-certify a grant whose review is due: the next review is review_every_days from now."""
    row = await _lock_grant(conn, catalog, grant_id, actor)
    if actor == row.grantee:
        raise NotAllowed("You cannot re-certify your own access; another owner or an admin must.")
    if row.review_due_at > now:
        by = f" by <@{row.reviewed_by}>" if row.reviewed_by else ""
        raise AlreadyDecided(f"G-{grant_id} was already reviewed{by}; its next review is not due yet.")
    secret = catalog.secret(row.secret_id)
    next_review = now + timedelta(days=secret.review_every_days if secret else DEFAULT_REVIEW_DAYS)
    await conn.execute(
        grants.update()
        .where(grants.c.id == grant_id)
        .values(
            review_due_at=next_review,
            review_notify_at=next_review,
            review_notify_count=0,
            review_escalated_at=None,
            reviewed_at=now,
            reviewed_by=actor,
        )
    )
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action="access.review_kept",
        subject=row.secret_id,
        details={"grant": grant_id, "grantee": row.grantee, "next_review_at": next_review.isoformat()},
    )
    return ReviewOutcome(
        grant_id, _name(catalog, row.secret_id), row.grantee, "kept", actor, next_review_at=next_review
    )


async def revoke_in_review(
    conn: Connection, catalog: Catalog, now: datetime, *, grant_id: int, actor: str
) -> ReviewOutcome:
    """End a grant from the review message; the grantee is told."""
    row = await _lock_grant(conn, catalog, grant_id, actor)
    await access.end_grant(
        conn,
        catalog,
        now,
        grant=access.grant_from_row(row),
        status="revoked",
        actor=actor,
        reason="revoked in access review",
    )
    return ReviewOutcome(grant_id, _name(catalog, row.secret_id), row.grantee, "revoked", actor)


async def grant_to_extend(
    conn: Connection, catalog: Catalog, now: datetime, *, grant_id: int, user_id: str
) -> tuple[access.GrantInfo, Secret]:
    """The grantee's active grant and its secret, before the Extend form opens."""
    grant = next((g for g in await access.active_grants_of(conn, user_id, now) if g.id == grant_id), None)
    secret = catalog.secret(grant.secret_id) if grant else None
    if grant is None or secret is None:
        raise NotFound(
            f"G-{grant_id} has ended or is not yours. Request access again with `/access request`."
        )
    return grant, secret
