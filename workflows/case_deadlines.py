"""Case deadlines for the sweep: a case not taken within `case_ack_days`, a reporter who has not heard
back within `case_feedback_days`. A due case is nudged again every `review_reminder_days` until it is
taken, messaged or closed; claiming is one conditional UPDATE, so two sweeps never nudge twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from config.catalog import Catalog
from workflows.cases import CLOSED, case_ref, investigators
from workflows.connection import Connection
from workflows.directory import resolve_principals
from workflows.tables import cases


@dataclass(frozen=True)
class CaseNudge:
    case_id: int
    status: str
    assignee: str | None
    ack_overdue: bool  # not taken by ack_due_at: the security channel is nudged
    feedback_overdue: bool  # the reporter has not heard back by feedback_due_at: investigators are nudged
    ack_due_at: datetime | None
    feedback_due_at: datetime | None
    notify_count: int  # nudges so far for the current deadlines, this one included once claimed

    @property
    def ref(self) -> str:
        return case_ref(self.case_id)


def _is_due(catalog: Catalog, now: datetime) -> sa.ColumnElement[bool]:
    cadence = timedelta(days=catalog.schedule.review_reminder_days)
    return sa.and_(
        cases.c.status.not_in(CLOSED),
        sa.or_(cases.c.ack_due_at <= now, cases.c.feedback_due_at <= now),
        sa.or_(cases.c.last_notified_at.is_(None), cases.c.last_notified_at <= now - cadence),
    )


_COLUMNS = (
    cases.c.id,
    cases.c.status,
    cases.c.assignee,
    cases.c.ack_due_at,
    cases.c.feedback_due_at,
    cases.c.notify_count,
)


def _nudge(row: Any, now: datetime) -> CaseNudge:
    return CaseNudge(
        case_id=row.id,
        status=row.status,
        assignee=row.assignee,
        ack_overdue=row.ack_due_at is not None and row.ack_due_at <= now,
        feedback_overdue=row.feedback_due_at is not None and row.feedback_due_at <= now,
        ack_due_at=row.ack_due_at,
        feedback_due_at=row.feedback_due_at,
        notify_count=row.notify_count,
    )


async def due_case_nudges(conn: Connection, catalog: Catalog, now: datetime) -> list[CaseNudge]:
    """What a sweep at `now` would nudge, claiming nothing (for `confide nudges --dry-run`)."""
    rows = await conn.execute(sa.select(*_COLUMNS).where(_is_due(catalog, now)).order_by(cases.c.id))
    return [_nudge(row, now) for row in rows]


async def claim_due_case_nudges(conn: Connection, catalog: Catalog, now: datetime) -> list[CaseNudge]:
    """The cases due a nudge at `now`, marked as nudged in the same statement."""
    rows = await conn.execute(
        cases.update()
        .where(_is_due(catalog, now))
        .values(last_notified_at=now, notify_count=cases.c.notify_count + 1)
        .returning(*_COLUMNS)
    )
    return sorted((_nudge(row, now) for row in rows), key=lambda n: n.case_id)


async def nudge_recipients(conn: Connection, catalog: Catalog, nudge: CaseNudge) -> list[str]:
    """Who hears about a due case: the security channel for an untaken case; the assignee (or, without
    an active one, every investigator) when the reporter is owed feedback."""
    recipients: list[str] = []
    if nudge.ack_overdue and catalog.security_channel:
        recipients.append(catalog.security_channel)
    if nudge.feedback_overdue:
        assignee = await resolve_principals(conn, [nudge.assignee]) if nudge.assignee else []
        recipients += [u for u in assignee or await investigators(conn, catalog) if u not in recipients]
    return recipients
