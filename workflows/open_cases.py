"""Open leak cases at a glance, for the compliance dashboard and the weekly digest: how many, in which
status, how old, and which have missed a deadline. Nothing here says anything about a reporter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from workflows.cases import CLOSED, STATUSES, case_ref
from workflows.connection import Connection
from workflows.tables import cases

AGE_BUCKETS = ((timedelta(days=7), "under 7 days"), (timedelta(days=30), "7–30 days"))
OLDEST_BUCKET = "over 30 days"


@dataclass(frozen=True)
class OpenCase:
    ref: str
    status: str
    opened_at: datetime  # an anonymous case's is the start of its day
    overdue: bool = False  # not taken by its ack deadline, or its reporter owed feedback


def age_bucket(age: timedelta) -> str:
    return next((label for limit, label in AGE_BUCKETS if age < limit), OLDEST_BUCKET)


def count_by_age(open_cases: Iterable[OpenCase], now: datetime) -> dict[str, int]:
    """Every bucket, youngest first, zeros included (a steady shape reads better week to week)."""
    counts = {label: 0 for _, label in AGE_BUCKETS} | {OLDEST_BUCKET: 0}
    for case in open_cases:
        counts[age_bucket(now - case.opened_at)] += 1
    return counts


def count_by_status(open_cases: Iterable[OpenCase]) -> dict[str, int]:
    """The statuses that have cases, in workflow order."""
    counts = {status: 0 for status in STATUSES}
    for case in open_cases:
        counts[case.status] = counts.get(case.status, 0) + 1
    return {status: n for status, n in counts.items() if n}


async def open_cases(conn: Connection, now: datetime) -> list[OpenCase]:
    """Every case not resolved or dismissed, oldest first."""
    rows = await conn.execute(
        sa.select(cases.c.id, cases.c.status, cases.c.created_at, cases.c.ack_due_at, cases.c.feedback_due_at)
        .where(cases.c.status.not_in(CLOSED))
        .order_by(cases.c.created_at, cases.c.id)
    )
    return [
        OpenCase(
            case_ref(r.id),
            r.status,
            r.created_at,
            overdue=any(due is not None and due <= now for due in (r.ack_due_at, r.feedback_due_at)),
        )
        for r in rows
    ]
