"""The weekly digest for the security channel: coverage, overdue work, pending requests, open cases,
insider-risk signals.

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

from config.catalog import Catalog
from workflows import compliance, signals
from workflows.connection import Connection
from workflows.kudos import kudos_given
from workflows.open_cases import count_by_age, count_by_status, open_cases
from workflows.tables import (
    access_requests,
    grants,
    request_approvers,
    signal_alerts,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LIST_LIMIT = 10  # rows listed per section; the counts cover the rest


@dataclass(frozen=True)
class DigestSection:
    key: str
    title: str
    summary: str  # one line: the text fallback and `confide nudges` show it
    lines: list[str] = field(default_factory=list)  # Slack mrkdwn, one bullet each


SectionProvider = Callable[[Connection, Catalog, datetime], Awaitable[DigestSection | None]]


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


async def agreement_coverage(conn: Connection, catalog: Catalog, now: datetime) -> DigestSection | None:
    """Per agreement: people in scope who acknowledged its current version (and have not lapsed), and
    how many are past due_days; the same figures as /nda status and the dashboard."""
    if not catalog.agreements:
        return None
    lines = []
    total_in, total_ack, total_overdue = 0, 0, 0
    for coverage in await compliance.agreement_coverage(conn, catalog, now):
        agreement, in_scope, acked = coverage.agreement, coverage.in_scope, coverage.acknowledged
        total_in, total_ack, total_overdue = (
            total_in + in_scope,
            total_ack + acked,
            total_overdue + coverage.overdue,
        )
        share = f" ({round(100 * acked / in_scope)}%)" if in_scope else ""
        overdue = f", {coverage.overdue} past due" if coverage.overdue else ""
        lines.append(
            f"*{agreement.title}* ({agreement.version}): {acked} of {in_scope} acknowledged{share}{overdue}"
        )
    summary = f"agreements acknowledged {total_ack} of {total_in}"
    if total_overdue:
        summary += f", {total_overdue} past due"
    return DigestSection("coverage", "Agreement coverage", summary, lines)


async def overdue_work(conn: Connection, catalog: Catalog, now: datetime) -> DigestSection:
    """Access reviews past due, oldest first. (Agreements past due_days are counted under coverage,
    cases past a deadline under open cases.)"""
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


async def pending_requests(conn: Connection, catalog: Catalog, now: datetime) -> DigestSection:
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


async def open_cases_by_age(conn: Connection, catalog: Catalog, now: datetime) -> DigestSection:
    """Leak cases still open: by status, by age, and those past a deadline."""
    cases = await open_cases(conn, now)
    lines = []
    if cases:
        lines.append("By status: " + " · ".join(f"{s} {n}" for s, n in count_by_status(cases).items()))
        lines.append("By age: " + " · ".join(f"{a} {n}" for a, n in count_by_age(cases, now).items()))
        late = [c.ref for c in cases if c.overdue]
        if late:
            shown = ", ".join(late[:LIST_LIMIT]) + (
                f" and {len(late) - LIST_LIMIT} more" if len(late) > LIST_LIMIT else ""
            )
            lines.append(f"Past a deadline (not taken in time, or the reporter waits to hear back): {shown}")
    return DigestSection("cases", "Open leak cases", f"{len(cases)} open case(s)", lines)


async def signals_raised(conn: Connection, catalog: Catalog, now: datetime) -> DigestSection:
    """Insider-risk alerts raised in the seven days up to now, by kind."""
    week = (signal_alerts.c.raised_at > now - timedelta(days=7)) & (signal_alerts.c.raised_at <= now)
    rows = await conn.execute(
        sa.select(
            signal_alerts.c.kind,
            sa.func.count(),
            sa.func.count().filter(signal_alerts.c.status != "open"),
        )
        .where(week)
        .group_by(signal_alerts.c.kind)
    )
    counts = sorted(((kind, n, cased) for kind, n, cased in rows), key=lambda r: (-r[1], r[0]))
    lines = [
        f"{signals.TITLES.get(kind, kind)}: {n}" + (f" ({cased} opened as a case)" if cased else "")
        for kind, n, cased in counts
    ]
    total = sum(n for _, n, _ in counts)
    return DigestSection("signals", "Insider-risk signals", f"{total} signal(s) raised this week", lines)


SECTIONS: list[SectionProvider] = [
    agreement_coverage,
    overdue_work,
    pending_requests,
    open_cases_by_age,
    signals_raised,
    kudos_given,
]


async def build_digest(conn: Connection, catalog: Catalog, now: datetime) -> dict[str, Any]:
    """The digest's data, as stored in the outbox and rendered by handlers/blocks/digest.py."""
    sections = [section for provider in SECTIONS if (section := await provider(conn, catalog, now))]
    return {"at": now.isoformat(), "sections": [asdict(section) for section in sections]}
