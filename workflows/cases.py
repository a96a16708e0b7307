"""Leak cases: what a case is, who may act on it, and the card in the security channel that shows it.

Reports open cases (workflows.reports); investigators act on them (workflows.case_actions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from config.catalog import Catalog
from workflows import agreements, outbox
from workflows.connection import Connection
from workflows.directory import resolve_principals
from workflows.errors import InvalidInput, NotAllowed, NotFound
from workflows.tables import (
    case_evidence,
    case_legal_actions,
    case_messages,
    cases,
    group_members,
    members,
)

STATUSES = ("new", "triaging", "investigating", "escalated-legal", "resolved", "dismissed")
CLOSED = ("resolved", "dismissed")
MAX_TEXT = 3000
CASE_CARD = "case_card"
CASE_NOTE = "case_note"
REPORTER_UPDATE = "case_reporter_update"
CASE_REF = re.compile(r"^(?:case-?)?(\d{1,9})$", re.IGNORECASE)


def case_ref(case_id: int) -> str:
    return f"CASE-{case_id}"


def case_card_key(case_id: int) -> str:
    return f"case:{case_id}"


def parse_case_ref(text: str) -> int:
    match = CASE_REF.match(text.strip())
    if not match:
        raise InvalidInput(f"`{text[:40]}` is not a case; cases look like `CASE-12`.")
    return int(match.group(1))


def day_start(at: datetime) -> datetime:
    """The only precision kept for anything an anonymous reporter does."""
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class DtsaStatus:
    """Whether the agreements a person acknowledged carried the 18 U.S.C. 1833(b) immunity notice."""

    subject: str
    agreements: list[dict[str, Any]]  # id, title, version, acknowledged_at, dtsa_notice
    notice_given: bool

    def as_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "agreements": self.agreements, "notice_given": self.notice_given}


@dataclass(frozen=True)
class CaseInfo:
    id: int
    secret_id: str | None
    secret_name: str | None
    what_happened: str
    where_when: str | None
    evidence_links: str | None
    anonymous: bool
    reporter: str | None
    status: str
    assignee: str | None
    subject_user: str | None
    dtsa: DtsaStatus | None
    created_at: datetime
    ack_due_at: datetime | None
    feedback_due_at: datetime | None
    evidence_count: int
    legal_count: int
    messages_to_reporter: int

    @property
    def ref(self) -> str:
        return case_ref(self.id)

    @property
    def closed(self) -> bool:
        return self.status in CLOSED

    def card_data(self) -> dict[str, Any]:
        """What the case card shows; stored in the outbox so delivery renders the state it reports."""
        return {
            "case_id": self.id,
            "status": self.status,
            "assignee": self.assignee,
            "secret_id": self.secret_id,
            "secret_name": self.secret_name,
            "what_happened": self.what_happened,
            "where_when": self.where_when,
            "evidence_links": self.evidence_links,
            "anonymous": self.anonymous,
            "reporter": self.reporter,
            "created_at": self.created_at.isoformat(),
            "subject": self.subject_user,
            "dtsa": self.dtsa.as_json() if self.dtsa else None,
            "evidence_count": self.evidence_count,
            "legal_count": self.legal_count,
            "messages_to_reporter": self.messages_to_reporter,
        }


@dataclass(frozen=True)
class CaseMessage:
    id: int
    direction: str  # to_reporter | from_reporter | internal
    author: str | None
    body: str
    at: datetime


async def investigators(conn: Connection, catalog: Catalog) -> list[str]:
    """The catalog's `investigators` when set; otherwise the members of the security channel."""
    if catalog.investigators is not None:
        return await resolve_principals(conn, catalog.investigators)
    if catalog.security_channel is None:
        return []
    bots = sa.select(members.c.user_id).where(members.c.is_bot)  # Confide itself sits in the channel
    rows = await conn.execute(
        sa.select(group_members.c.user_id)
        .where(group_members.c.group_id == catalog.security_channel, group_members.c.user_id.not_in(bots))
        .order_by(group_members.c.user_id)
    )
    return await resolve_principals(conn, rows.scalars().all())


async def require_investigator(conn: Connection, catalog: Catalog, user_id: str) -> None:
    if user_id not in await investigators(conn, catalog):
        raise NotAllowed("Only the security team's investigators can act on leak cases.")


def clean_text(value: str | None, what: str, field: str, *, limit: int = MAX_TEXT) -> str | None:
    """Stripped text or None when empty; InvalidInput naming the modal field when it is too long."""
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"Please keep {what} under {limit} characters.", field=field)
    return value or None


def required_text(value: str | None, what: str, field: str, *, limit: int = MAX_TEXT) -> str:
    text = clean_text(value, what, field, limit=limit)
    if text is None:
        raise InvalidInput(f"Please fill in {what}.", field=field)
    return text


async def get_case(conn: Connection, catalog: Catalog, case_id: int) -> CaseInfo:
    row = (await conn.execute(sa.select(cases).where(cases.c.id == case_id))).first()
    if row is None:
        raise NotFound(f"There is no {case_ref(case_id)}.")

    async def count(table: sa.Table, *where: Any) -> int:
        query = sa.select(sa.func.count()).select_from(table).where(table.c.case_id == case_id, *where)
        return int((await conn.execute(query)).scalar_one())

    secret = catalog.secret(row.secret_id) if row.secret_id else None
    return CaseInfo(
        id=row.id,
        secret_id=row.secret_id,
        secret_name=secret.name if secret else row.secret_id,
        what_happened=row.what_happened,
        where_when=row.where_when,
        evidence_links=row.evidence_links,
        anonymous=row.anonymous,
        reporter=row.reporter,
        status=row.status,
        assignee=row.assignee,
        subject_user=row.subject_user,
        dtsa=await dtsa_status(conn, catalog, row.subject_user) if row.subject_user else None,
        created_at=row.created_at,
        ack_due_at=row.ack_due_at,
        feedback_due_at=row.feedback_due_at,
        evidence_count=await count(case_evidence),
        legal_count=await count(case_legal_actions),
        messages_to_reporter=await count(case_messages, case_messages.c.direction == "to_reporter"),
    )


async def dtsa_status(conn: Connection, catalog: Catalog, subject: str) -> DtsaStatus:
    """Which agreements the subject acknowledged, and whether any carried the DTSA notice.

    The catalog describes each agreement's current text; an older version is judged by it too.
    """
    items = []
    for ack in await agreements.acknowledgements_of(conn, subject):
        agreement = catalog.agreement(ack.agreement_id)
        items.append(
            {
                "id": ack.agreement_id,
                "title": agreement.title if agreement else ack.agreement_id,
                "version": ack.version,
                "acknowledged_at": ack.at.isoformat(),
                "dtsa_notice": bool(agreement and agreement.dtsa_notice),
            }
        )
    return DtsaStatus(subject, items, any(i["dtsa_notice"] for i in items))


async def messages_of(conn: Connection, case_id: int, *, internal: bool = False) -> list[CaseMessage]:
    query = sa.select(case_messages).where(case_messages.c.case_id == case_id).order_by(case_messages.c.id)
    if not internal:
        query = query.where(case_messages.c.direction != "internal")
    rows = (await conn.execute(query)).all()
    return [CaseMessage(r.id, r.direction, r.author, r.body, r.at) for r in rows]


async def publish(
    conn: Connection,
    catalog: Catalog,
    case: CaseInfo,
    now: datetime,
    *,
    note: dict[str, Any] | None = None,
    post: bool = False,
    card: bool = True,
) -> None:
    """Post or refresh the case card in the security channel, and thread a note under it."""
    channel = catalog.security_channel
    if channel is None:
        return
    key = case_card_key(case.id)
    if card:
        await outbox.enqueue(
            conn,
            recipient=channel,
            kind=CASE_CARD,
            data=case.card_data(),
            now=now,
            op="post" if post else "update",
            card_key=key,
        )
    if note is not None:
        await outbox.enqueue(
            conn,
            recipient=channel,
            kind=CASE_NOTE,
            data={"case_id": case.id, **note},
            now=now,
            thread_key=key,
        )
