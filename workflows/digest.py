"""The weekly digest for the security channel: coverage, overdue work, pending requests.

A digest is a list of sections, each computed by one provider in SECTIONS. A feature adds itself to
the digest by adding a provider there (see the marked extension points); the renderer
(handlers/blocks/digest.py) needs no change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from config.catalog import Agreement, Catalog
from workflows.kudos import kudos_given
from workflows.tables import access_requests, acknowledgements, grants, members, request_approvers

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LIST_LIMIT = 10  # rows listed per section; the counts cover the rest


@dataclass(frozen=True)
class DigestSection:
    key: str
    title: str
    summary: str  # one line: the text fallback and `confide nudges` show it
    lines: list[str] = field(default_factory=list)  # Slack mrkdwn, one bullet each


SectionProvider = Callable[[AsyncConnection, Catalog, datetime], Awaitable[DigestSection | None]]


def parse_weekly(spec: str) -> tuple[int, int, int]:
    """'mon 09:00' → (weekday 0-6, hour, minute); the catalog has validated the shape."""
    day, clock = spec.split()
    hour, minute = clock.split(":")
    return WEEKDAYS.index(day), int(hour), int(minute)


def digest_slot(spec: str, now: datetime) -> datetime:
    """The latest scheduled digest instant at or before `now` (UTC)."""
    weekday, hour, minute = parse_weekly(spec)
    now = now.astimezone(UTC)
    slot = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    slot -= timedelta(days=(now.weekday() - weekday) % 7)
    return slot if slot <= now else slot - timedelta(days=7)


def _days(delta: timedelta) -> str:
    days = max(0, delta.days)
    return "today" if days == 0 else ("1 day" if days == 1 else f"{days} days")


def _in_scope(agreement: Agreement) -> sa.Select[Any]:
    query = sa.select(members.c.user_id).where(~members.c.is_bot, ~members.c.deleted)
    if agreement.applies_to == "members":
        query = query.where(~members.c.is_guest)
    elif agreement.applies_to == "guests":
        query = query.where(members.c.is_guest)
    return query


async def agreement_coverage(conn: AsyncConnection, catalog: Catalog, now: datetime) -> DigestSection | None:
    """Per agreement: people in scope who acknowledged its current version (and have not lapsed)."""
    if not catalog.agreements:
        return None
    lines = []
    total_in, total_ack = 0, 0
    for agreement in catalog.agreements:
        scope = _in_scope(agreement).subquery()
        in_scope = (await conn.execute(sa.select(sa.func.count()).select_from(scope))).scalar_one()
        acked_query = sa.select(sa.func.count(sa.distinct(acknowledgements.c.user_id))).where(
            acknowledgements.c.user_id.in_(sa.select(scope.c.user_id)),
            acknowledgements.c.agreement_id == agreement.id,
            acknowledgements.c.version == agreement.version,
        )
        if agreement.renew_every_days is not None:
            acked_query = acked_query.where(
                acknowledgements.c.at > now - timedelta(days=agreement.renew_every_days)
            )
        acked = (await conn.execute(acked_query)).scalar_one()
        total_in, total_ack = total_in + in_scope, total_ack + acked
        share = f" ({round(100 * acked / in_scope)}%)" if in_scope else ""
        lines.append(f"*{agreement.title}* ({agreement.version}): {acked} of {in_scope} acknowledged{share}")
    return DigestSection(
        "coverage", "Agreement coverage", f"agreements acknowledged {total_ack} of {total_in}", lines
    )


async def overdue_work(conn: AsyncConnection, catalog: Catalog, now: datetime) -> DigestSection:
    """Access reviews past due, oldest first."""
    # Extension point: agreements owed past due_days and case deadlines missed add their lines here
    # (or as sections of their own in SECTIONS).
    overdue = (grants.c.status == "active") & (grants.c.review_due_at <= now)
    count = (await conn.execute(sa.select(sa.func.count()).where(overdue))).scalar_one()
    rows = await conn.execute(
        sa.select(grants).where(overdue).order_by(grants.c.review_due_at).limit(LIST_LIMIT)
    )
    lines = []
    for row in rows:
        secret = catalog.secret(row.secret_id)
        reminders = max(0, row.review_notify_count - 1)
        escalated = " — escalated" if row.review_escalated_at else ""
        lines.append(
            f"G-{row.id} *{secret.name if secret else row.secret_id}* for <@{row.grantee}>: review due "
            f"{_days(now - row.review_due_at)} ago, {reminders} reminder(s){escalated}"
        )
    if count > len(lines):
        lines.append(f"…and {count - len(lines)} more")
    return DigestSection("overdue", "Overdue access reviews", f"{count} access review(s) overdue", lines)


async def pending_requests(conn: AsyncConnection, catalog: Catalog, now: datetime) -> DigestSection:
    """Requests waiting for a decision, oldest first."""
    pending = access_requests.c.status == "pending"
    count = (await conn.execute(sa.select(sa.func.count()).where(pending))).scalar_one()
    rows = (
        await conn.execute(
            sa.select(access_requests).where(pending).order_by(access_requests.c.created_at).limit(LIST_LIMIT)
        )
    ).all()
    approvers: dict[int, list[str]] = {}
    if rows:
        approver_rows = await conn.execute(
            sa.select(request_approvers.c.request_id, request_approvers.c.user_id)
            .where(
                request_approvers.c.request_id.in_([r.id for r in rows]),
                request_approvers.c.approved_at.is_(None),
            )
            .order_by(request_approvers.c.user_id)
        )
        for request_id, user_id in approver_rows:
            approvers.setdefault(request_id, []).append(user_id)
    lines = []
    for row in rows:
        secret = catalog.secret(row.secret_id)
        waiting_on = ", ".join(f"<@{u}>" for u in approvers.get(row.id, [])) or "nobody"
        lines.append(
            f"R-{row.id} *{secret.name if secret else row.secret_id}* for <@{row.requester}>: waiting "
            f"{_days(now - row.created_at)}, on {waiting_on}"
        )
    if count > len(lines):
        lines.append(f"…and {count - len(lines)} more")
    return DigestSection("pending", "Pending access requests", f"{count} request(s) pending", lines)


SECTIONS: list[SectionProvider] = [
    agreement_coverage,
    overdue_work,
    pending_requests,
    # Extension point — open leak cases by age: add the cases feature's provider here.
    # Extension point — insider-risk signals raised this week: add the signals provider here.
    kudos_given,
]


async def build_digest(conn: AsyncConnection, catalog: Catalog, now: datetime) -> dict[str, Any]:
    """The digest's data, as stored in the outbox and rendered by handlers/blocks/digest.py."""
    sections = [section for provider in SECTIONS if (section := await provider(conn, catalog, now))]
    return {"at": now.isoformat(), "sections": [asdict(section) for section in sections]}
