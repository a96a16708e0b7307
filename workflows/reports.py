"""Leak reports: filing one, and the reporter's follow-up by receipt key.

Anonymity is a property of what is written, so it is enforced here: an anonymous report stores no
reporter, and every time written on the reporter's behalf (the case's creation, their replies, the
audit entries and outbox rows of those transactions) is cut to the start of the day. The caller's
user id reaches these functions only to be dropped, or to feed the in-memory throttle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from config.catalog import Catalog
from workflows import audit, receipts, signals
from workflows.cases import (
    CaseInfo,
    CaseMessage,
    case_ref,
    clean_text,
    day_start,
    get_case,
    messages_of,
    publish,
    required_text,
)
from workflows.connection import Connection
from workflows.errors import InvalidInput, NotAllowed
from workflows.tables import case_messages, cases

NOT_SURE = "other"  # the report modal's "Not sure / other"
NO_CASE_MATCHES = "No case matches that receipt key."


@dataclass(frozen=True)
class FiledReport:
    case: CaseInfo
    receipt_key: str  # shown once on the confirmation; stored nowhere


@dataclass(frozen=True)
class ReporterView:
    case: CaseInfo
    messages: list[CaseMessage]  # to and from the reporter, oldest first


def check_reporting_ready(catalog: Catalog) -> None:
    """Reports go to the security channel; without one, say so before anyone writes a report."""
    if catalog.security_channel is None:
        raise NotAllowed("Leak reporting is not set up yet (no security channel); please tell an admin.")


async def file_report(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    user_id: str,
    anonymous: bool,
    secret_id: str | None,
    what_happened: str | None,
    where_when: str | None = None,
    evidence_links: str | None = None,
) -> FiledReport:
    """Open a case from a report and post it to the security channel; returns the receipt key once."""
    check_reporting_ready(catalog)
    if secret_id in (None, "", NOT_SURE):
        secret_id = None
    elif catalog.secret(secret_id) is None:
        raise InvalidInput("That secret is no longer in the catalog; pick another.", field="leak_secret")
    what = required_text(what_happened, "what happened", "what_happened")
    where = clean_text(where_when, "where and when", "where_when")
    links = clean_text(evidence_links, "the evidence links", "evidence_links")
    at = day_start(now) if anonymous else now
    key = receipts.new_key()
    case_id = (
        await conn.execute(
            cases.insert()
            .values(
                secret_id=secret_id,
                what_happened=what,
                where_when=where,
                evidence_links=links,
                anonymous=anonymous,
                reporter=None if anonymous else user_id,
                receipt_hash=await receipts.key_hash(conn, key),
                status="new",
                created_at=at,
                ack_due_at=at + timedelta(days=catalog.schedule.case_ack_days),
                feedback_due_at=at + timedelta(days=catalog.schedule.case_feedback_days),
            )
            .returning(cases.c.id)
        )
    ).scalar_one()
    await audit.record(
        conn,
        at=at,
        actor=audit.ANONYMOUS if anonymous else user_id,
        action="case.reported",
        subject=case_ref(case_id),
        details={"secret": secret_id, "anonymous": anonymous},
    )
    case = await get_case(conn, catalog, case_id)
    await publish(conn, catalog, case, at, post=True)
    return FiledReport(case, key)


async def _case_by_key(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    throttle: receipts.WrongKeyThrottle,
    user_id: str,
    key: str,
) -> CaseInfo | None:
    """The case a receipt key opens; None (counted, throttled) for a wrong key."""
    retry_at = throttle.retry_at(user_id, now)
    if retry_at is not None:
        minutes = max(1, int((retry_at - now).total_seconds() + 59) // 60)
        raise NotAllowed(f"Too many wrong receipt keys. Please try again in {minutes} minute(s).")
    digest = await receipts.key_hash(conn, key)
    case_id = (
        (await conn.execute(sa.select(cases.c.id).where(cases.c.receipt_hash == digest))).scalar()
        if digest
        else None
    )
    if case_id is None:
        throttle.record_failure(user_id, now)
        await receipts.count_wrong_key(conn, now)
        failures = await receipts.wrong_keys_since(conn, now)
        await signals.after_receipt_failures(conn, catalog, now, failures_this_hour=failures)
        return None
    return await get_case(conn, catalog, case_id)


async def reporter_view(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    throttle: receipts.WrongKeyThrottle,
    user_id: str,
    key: str,
) -> ReporterView | None:
    """Status and messages for whoever holds the key; None for a wrong key (the caller says so)."""
    case = await _case_by_key(conn, catalog, now, throttle, user_id, key)
    if case is None:
        return None
    return ReporterView(case, await messages_of(conn, case.id))


async def reporter_reply(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    throttle: receipts.WrongKeyThrottle,
    user_id: str,
    key: str,
    message: str,
) -> CaseInfo | None:
    """Add the reporter's message to the case; investigators see it in the case thread."""
    body = required_text(message, "your message", "message")
    case = await _case_by_key(conn, catalog, now, throttle, user_id, key)
    if case is None:
        return None
    at = day_start(now) if case.anonymous else now
    message_id = (
        await conn.execute(
            case_messages.insert()
            .values(case_id=case.id, direction="from_reporter", author=case.reporter, body=body, at=at)
            .returning(case_messages.c.id)
        )
    ).scalar_one()
    await audit.record(
        conn,
        at=at,
        actor=case.reporter or audit.ANONYMOUS,
        action="case.reporter_replied",
        subject=case.ref,
        details={"message": message_id},
    )
    note = {"event": "reporter_reply", "reporter": case.reporter, "text": body}
    await publish(conn, catalog, case, at, note=note, card=False)
    return case
