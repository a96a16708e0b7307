"""Classification reviews: owners periodically confirm that each secret is still a trade secret.

Every `classification_review_days` (the catalog's, or the secret's own), counted from when Confide first
loaded the secret and then from its last review, the sweep asks the owners. They answer **Still secret**,
**Declassify** (its grants end, the grantees are told, new requests are refused) or **Change owners**
(recorded for the next catalog edit: the catalog stays the source of truth). Each answer is kept in
`classification_outcomes` and audited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from config.catalog import SLACK_USER_ID, Catalog, Secret
from workflows import access, audit, outbox
from workflows.connection import Connection
from workflows.directory import get_member, resolve_principals
from workflows.errors import AlreadyDecided, InvalidInput, NotAllowed, NotFound
from workflows.sql import insert_if_absent
from workflows.tables import access_requests, classification_outcomes, grants, secret_reviews

STILL_SECRET = "still-secret"
DECLASSIFIED = "declassified"
OWNERS_CHANGE = "owners-change"
DECLASSIFIED_MESSAGE = "secret_declassified"  # the outbox kind for grantees, requesters and owners
NOTE_LIMIT = 2000
STATUS_HORIZON = timedelta(days=7)  # /confide status lists reviews due this soon
RECENT_OUTCOMES = 10


@dataclass(frozen=True)
class ReviewAnswer:
    secret_id: str
    secret_name: str
    outcome: str
    by: str
    at: datetime
    next_review_at: datetime | None = None
    grants_ended: int = 0
    requests_cancelled: int = 0
    owners: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReviewDue:
    secret_id: str
    secret_name: str
    review_due_at: datetime
    reminders: int  # owners asked this many times already


@dataclass(frozen=True)
class RecordedOutcome:
    secret_id: str
    secret_name: str
    outcome: str
    by: str
    at: datetime
    note: str | None
    owners: tuple[str, ...]


@dataclass(frozen=True)
class OwnerChange:
    secret_id: str
    secret_name: str
    proposed: tuple[str, ...]
    catalog_owners: tuple[str, ...]
    by: str
    at: datetime


@dataclass(frozen=True)
class ClassificationStatus:
    due: list[ReviewDue]  # overdue or due within STATUS_HORIZON, soonest first
    recent: list[RecordedOutcome]  # newest first
    owner_changes: list[OwnerChange]  # proposed, and the catalog does not say so yet
    declassified: list[RecordedOutcome]  # declassified secrets the catalog still lists


def review_days(catalog: Catalog, secret: Secret) -> timedelta:
    return timedelta(days=catalog.classification_review_days_of(secret))


async def record_secrets(conn: Connection, catalog: Catalog, now: datetime) -> None:
    """Remember when Confide first loaded each secret (bookkeeping, silent like agreement versions), and
    follow a changed review cadence for secrets whose owners have not been asked yet."""
    rows = {r.secret_id: r for r in await conn.execute(sa.select(secret_reviews))}
    for secret in catalog.secrets:
        row = rows.get(secret.id)
        if row is None:
            due = now + review_days(catalog, secret)
            values = {"first_seen_at": now, "review_due_at": due, "notify_at": due}
            await insert_if_absent(conn, secret_reviews, {"secret_id": secret.id, **values})
            continue
        wanted = (row.last_reviewed_at or row.first_seen_at) + review_days(catalog, secret)
        if row.declassified_at is None and row.notify_count == 0 and row.review_due_at != wanted:
            await conn.execute(
                secret_reviews.update()
                .where(secret_reviews.c.secret_id == secret.id)
                .values(review_due_at=wanted, notify_at=wanted)
            )


async def reviewers(conn: Connection, catalog: Catalog, secret: Secret) -> list[str]:
    """Who is asked: the secret's active owners, else the admins."""
    return await resolve_principals(conn, secret.owners) or await resolve_principals(conn, catalog.admins)


async def check_can_answer(conn: Connection, catalog: Catalog, secret_id: str, user_id: str) -> Secret:
    """Raise unless this person may answer the secret's review now (before a modal opens)."""
    return await _lock_review(conn, catalog, secret_id, user_id)


async def confirm_still_secret(
    conn: Connection, catalog: Catalog, now: datetime, *, secret_id: str, user_id: str
) -> ReviewAnswer:
    """Still secret: the next review is classification_review_days from now."""
    secret = await _lock_review(conn, catalog, secret_id, user_id)
    next_review = await _reviewed(conn, catalog, secret, now, user_id, STILL_SECRET)
    await _record_outcome(conn, now, secret, STILL_SECRET, user_id, note=None)
    await audit.record(
        conn,
        at=now,
        actor=user_id,
        action="classification.confirmed",
        subject=secret.id,
        details={"next_review_at": next_review.isoformat()},
    )
    return ReviewAnswer(secret.id, secret.name, STILL_SECRET, user_id, now, next_review_at=next_review)


async def declassify(
    conn: Connection, catalog: Catalog, now: datetime, *, secret_id: str, user_id: str, note: str | None
) -> ReviewAnswer:
    """Declassify: every active grant ends and its grantee is told, pending requests are cancelled, and
    new requests are refused from now on."""
    secret = await _lock_review(conn, catalog, secret_id, user_id)
    note = (note or "").strip()[:NOTE_LIMIT] or None
    await conn.execute(
        secret_reviews.update()
        .where(secret_reviews.c.secret_id == secret.id)
        .values(
            declassified_at=now,
            declassified_by=user_id,
            last_reviewed_at=now,
            last_reviewed_by=user_id,
            last_outcome=DECLASSIFIED,
            notify_at=None,
        )
    )
    await _record_outcome(conn, now, secret, DECLASSIFIED, user_id, note=note)
    ended = await _end_grants(conn, catalog, now, secret, user_id)
    cancelled = await _cancel_requests(conn, catalog, now, secret, user_id)
    told = {grantee for _, grantee in ended} | set(cancelled.values())
    data = {"secret_name": secret.name, "by": user_id}
    for person in sorted(told):
        grants_ended = [g for g, grantee in ended if grantee == person]
        requests = [r for r, requester in cancelled.items() if requester == person]
        await outbox.enqueue(
            conn,
            recipient=person,
            kind=DECLASSIFIED_MESSAGE,
            now=now,
            data={**data, "grants": grants_ended, "requests": requests},
        )
    for owner in await resolve_principals(conn, secret.owners):
        if owner != user_id and owner not in told:
            await outbox.enqueue(
                conn, recipient=owner, kind=DECLASSIFIED_MESSAGE, now=now, data={**data, "owner": True}
            )
    await audit.record(
        conn,
        at=now,
        actor=user_id,
        action="classification.declassified",
        subject=secret.id,
        details={
            "grants_ended": [g for g, _ in ended],
            "requests_cancelled": sorted(cancelled),
            "has_note": note is not None,
        },
    )
    return ReviewAnswer(
        secret.id,
        secret.name,
        DECLASSIFIED,
        user_id,
        now,
        grants_ended=len(ended),
        requests_cancelled=len(cancelled),
    )


async def propose_owners(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    secret_id: str,
    user_id: str,
    owners: list[str],
    note: str | None,
    field: str | None = None,
) -> ReviewAnswer:
    """Change owners: the new owners are recorded for the next catalog edit (and shown in /confide
    status); the secret is still secret, so this answers the review too."""
    secret = await _lock_review(conn, catalog, secret_id, user_id)
    owners = list(dict.fromkeys(o.strip() for o in owners if o.strip()))
    if not owners:
        raise InvalidInput("Choose at least one owner.", field=field)
    for owner in owners:
        member = await get_member(conn, owner) if SLACK_USER_ID.match(owner) else None
        if not SLACK_USER_ID.match(owner) or (member is not None and (member.is_bot or member.deleted)):
            raise InvalidInput(f"<@{owner}> cannot own a secret: owners must be active people.", field=field)
    next_review = await _reviewed(conn, catalog, secret, now, user_id, OWNERS_CHANGE)
    await conn.execute(
        secret_reviews.update()
        .where(secret_reviews.c.secret_id == secret.id)
        .values(proposed_owners=json.dumps(owners), proposed_by=user_id, proposed_at=now)
    )
    note = (note or "").strip()[:NOTE_LIMIT] or None
    await _record_outcome(conn, now, secret, OWNERS_CHANGE, user_id, note=note, owners=owners)
    await audit.record(
        conn,
        at=now,
        actor=user_id,
        action="classification.owners_change_proposed",
        subject=secret.id,
        details={"owners": owners, "catalog_owners": list(secret.owners), "has_note": note is not None},
    )
    return ReviewAnswer(
        secret.id, secret.name, OWNERS_CHANGE, user_id, now, next_review_at=next_review, owners=tuple(owners)
    )


async def status(conn: Connection, catalog: Catalog, now: datetime) -> ClassificationStatus:
    """What /confide status shows about classification reviews."""
    names = {s.id: s.name for s in catalog.secrets}
    reviews = (await conn.execute(sa.select(secret_reviews))).all()
    due = [
        ReviewDue(r.secret_id, names[r.secret_id], r.review_due_at, r.notify_count)
        for r in sorted(reviews, key=lambda r: (r.review_due_at, r.secret_id))
        if r.secret_id in names and r.declassified_at is None and r.review_due_at <= now + STATUS_HORIZON
    ]
    rows = await conn.execute(
        sa.select(classification_outcomes)
        .order_by(classification_outcomes.c.id.desc())
        .limit(RECENT_OUTCOMES)
    )
    recent = [_outcome(r, names) for r in rows]
    changes = []
    for r in reviews:
        secret = catalog.secret(r.secret_id)
        if secret is None or r.proposed_owners is None or r.declassified_at is not None:
            continue
        proposed = tuple(json.loads(r.proposed_owners))
        if set(proposed) != set(secret.owners):
            changes.append(
                OwnerChange(
                    secret.id, secret.name, proposed, tuple(secret.owners), r.proposed_by, r.proposed_at
                )
            )
    declassified = [
        RecordedOutcome(
            r.secret_id, names[r.secret_id], DECLASSIFIED, r.declassified_by, r.declassified_at, None, ()
        )
        for r in reviews
        if r.declassified_at is not None and r.secret_id in names
    ]
    return ClassificationStatus(due, recent, changes, declassified)


def _outcome(row: sa.Row[Any], names: dict[str, str]) -> RecordedOutcome:
    owners = tuple(json.loads(row.owners)) if row.owners else ()
    name = names.get(row.secret_id, row.secret_id)
    return RecordedOutcome(row.secret_id, name, row.outcome, row.by, row.at, row.note, owners)


# ---- internals ---------------------------------------------------------------------------------------


async def _lock_review(conn: Connection, catalog: Catalog, secret_id: str, user_id: str) -> Secret:
    """Lock the secret's review row, then check the person may answer and it is not declassified."""
    secret = catalog.secret(secret_id)
    row = (
        await conn.execute(
            sa.select(secret_reviews).where(secret_reviews.c.secret_id == secret_id).with_for_update()
        )
    ).first()
    if secret is None or row is None:
        raise NotFound("That secret is no longer in the catalog; there is nothing to review.")
    if user_id not in await resolve_principals(conn, secret.owners) and not catalog.is_admin(user_id):
        raise NotAllowed(
            f"Only the owners of *{secret.name}* or an admin can answer its classification review."
        )
    if row.declassified_at is not None:
        raise AlreadyDecided(
            f"*{secret.name}* was already declassified by <@{row.declassified_by}> on "
            f"{row.declassified_at:%Y-%m-%d}."
        )
    return secret


async def _reviewed(
    conn: Connection, catalog: Catalog, secret: Secret, now: datetime, user_id: str, outcome: str
) -> datetime:
    next_review = now + review_days(catalog, secret)
    await conn.execute(
        secret_reviews.update()
        .where(secret_reviews.c.secret_id == secret.id)
        .values(
            last_reviewed_at=now,
            last_reviewed_by=user_id,
            last_outcome=outcome,
            review_due_at=next_review,
            notify_at=next_review,
            notify_count=0,
        )
    )
    return next_review


async def _record_outcome(
    conn: Connection,
    now: datetime,
    secret: Secret,
    outcome: str,
    user_id: str,
    *,
    note: str | None,
    owners: list[str] | None = None,
) -> None:
    await conn.execute(
        classification_outcomes.insert().values(
            secret_id=secret.id,
            outcome=outcome,
            by=user_id,
            at=now,
            note=note,
            owners=json.dumps(owners) if owners is not None else None,
        )
    )


async def _end_grants(
    conn: Connection, catalog: Catalog, now: datetime, secret: Secret, user_id: str
) -> list[tuple[int, str]]:
    """(grant id, grantee) of every grant that ended; the declassification message tells the grantees."""
    rows = (
        await conn.execute(
            sa.select(grants)
            .where(grants.c.secret_id == secret.id, grants.c.status == "active")
            .order_by(grants.c.id)
            .with_for_update()
        )
    ).all()
    for row in rows:
        await access.end_grant(
            conn,
            catalog,
            now,
            grant=access.grant_from_row(row),
            status="revoked",
            actor=user_id,
            reason="the secret was declassified",
            notify_grantee=False,
        )
    return [(row.id, row.grantee) for row in rows]


async def _cancel_requests(
    conn: Connection, catalog: Catalog, now: datetime, secret: Secret, user_id: str
) -> dict[int, str]:
    """request id → requester, for every pending request that was cancelled."""
    rows = (
        await conn.execute(
            sa.select(access_requests.c.id, access_requests.c.requester).where(
                access_requests.c.secret_id == secret.id, access_requests.c.status == "pending"
            )
        )
    ).all()
    cancelled: dict[int, str] = {}
    for row in rows:
        info = await access.cancel_request(
            conn,
            catalog,
            now,
            request_id=row.id,
            status="cancelled",
            actor=user_id,
            reason="the secret was declassified",
        )
        if info is not None:
            cancelled[row.id] = row.requester
    return cancelled
