"""Sweep step for agreements owed past `due_days`: the person is reminded with the I acknowledge button
every `review_reminder_days`; once `escalate_after_reminders` reminders went unanswered, the admins and
the security channel are told (once per person, version and owed period)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from config.catalog import Agreement, Catalog
from workflows import audit
from workflows.connection import Connection
from workflows.directory import Member
from workflows.obligations import applies_to, first_due
from workflows.sql import insert_if_absent
from workflows.sweep.claims import claim_due
from workflows.sweep.collector import Collector, admins_and_security_channel
from workflows.tables import agreement_escalations, agreement_obligations, members

ESCALATION_NAMES = 30  # people named in one escalation item; the count covers the rest

obligations = agreement_obligations


def _current_versions(catalog: Catalog) -> sa.ColumnElement[bool]:
    """Only the catalog's current versions are ever due (older ones are stood down on refresh; this
    keeps a sweep right even before that has run)."""
    return sa.or_(
        *(
            sa.and_(obligations.c.agreement_id == a.id, obligations.c.version == a.version)
            for a in catalog.agreements
        )
    )


async def remind_owed_agreements(
    conn: Connection, catalog: Catalog, now: datetime, collector: Collector
) -> None:
    """Obligations whose due_at has come: remind the person, advance due_at, count the notice."""
    if not catalog.agreements:
        return
    schedule = catalog.schedule
    every = timedelta(days=schedule.review_reminder_days)
    escalations: dict[str, list[dict[str, Any]]] = defaultdict(list)
    async for rows in claim_due(
        conn,
        obligations,
        where=[obligations.c.due_at <= now, _current_versions(catalog)],
        values={
            "due_at": now + every,
            "last_notified_at": now,
            "notify_count": obligations.c.notify_count + 1,
        },
    ):
        people = await _members(conn, {row.user_id for row in rows})
        for row in rows:
            agreement = catalog.agreement(row.agreement_id)
            assert agreement is not None  # the claim only takes the catalog's versions
            if row.owed_from is None or not applies_to(agreement, people.get(row.user_id)):
                await _stand_down(conn, row)  # deactivated or out of scope since the last directory sync
                continue
            reminders = row.notify_count  # this one included: the first notice after due_days is one
            collector.add(
                row.user_id,
                "agreement_owed",
                agreement_id=agreement.id,
                title=agreement.title,
                version=agreement.version,
                url=agreement.url,
                owed_since=row.owed_from,
                due_at=first_due(agreement, row.owed_from),
                reminder=reminders,
            )
            await audit.record(
                conn,
                at=now,
                actor=audit.SYSTEM,
                action="agreement.reminded",
                subject=row.user_id,
                details={"agreement": agreement.id, "version": agreement.version, "reminder": reminders},
            )
            unanswered = reminders - 1
            if unanswered >= schedule.escalate_after_reminders and await _escalate_once(
                conn, now, row, agreement, unanswered
            ):
                escalations[agreement.id].append({"user": row.user_id, "owed_since": row.owed_from})
    if escalations:
        await _tell_admins(conn, catalog, collector, escalations)


async def _members(conn: Connection, user_ids: set[str]) -> dict[str, Member]:
    rows = await conn.execute(sa.select(members).where(members.c.user_id.in_(sorted(user_ids))))
    return {r.user_id: Member(r.user_id, r.name, r.is_bot, r.is_guest, r.deleted, r.tz) for r in rows}


async def _stand_down(conn: Connection, row: Any) -> None:
    """Nothing is due from this person any more (a row this sweep claimed, so no one else holds it)."""
    await conn.execute(
        obligations.update()
        .where(
            obligations.c.user_id == row.user_id,
            obligations.c.agreement_id == row.agreement_id,
            obligations.c.version == row.version,
        )
        .values(due_at=None)
    )


async def _escalate_once(
    conn: Connection, now: datetime, row: Any, agreement: Agreement, reminders: int
) -> bool:
    """Record the escalation of this owed period; False when it was escalated before."""
    escalated = await insert_if_absent(
        conn,
        agreement_escalations,
        {
            "user_id": row.user_id,
            "agreement_id": agreement.id,
            "version": agreement.version,
            "owed_from": row.owed_from,
            "escalated_at": now,
            "reminders": reminders,
        },
    )
    if escalated:
        await audit.record(
            conn,
            at=now,
            actor=audit.SYSTEM,
            action="agreement.escalated",
            subject=row.user_id,
            details={"agreement": agreement.id, "version": agreement.version, "reminders": reminders},
        )
    return escalated


async def _tell_admins(
    conn: Connection,
    catalog: Catalog,
    collector: Collector,
    escalations: dict[str, list[dict[str, Any]]],
) -> None:
    """One item per agreement (not per person): a fresh installation may escalate hundreds at once."""
    recipients = await admins_and_security_channel(conn, catalog)
    for agreement_id, people in escalations.items():
        agreement = catalog.agreement(agreement_id)
        assert agreement is not None
        people.sort(key=lambda p: (p["owed_since"], p["user"]))
        for recipient in recipients:
            collector.add(
                recipient,
                "agreement_escalation",
                agreement_id=agreement.id,
                title=agreement.title,
                version=agreement.version,
                users=[p["user"] for p in people[:ESCALATION_NAMES]],
                count=len(people),
                oldest_owed_since=people[0]["owed_since"],
                reminders=catalog.schedule.escalate_after_reminders,
            )
