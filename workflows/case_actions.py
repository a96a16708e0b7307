"""What investigators do on a case: take it, move its status, message the reporter, add evidence and
record legal actions. Each is one locked, audited change that refreshes the case card and threads a note
under it; a named reporter is told of status changes and messages by DM."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from config.catalog import Catalog
from workflows import audit, outbox
from workflows.cases import (
    CLOSED,
    REPORTER_UPDATE,
    STATUSES,
    CaseInfo,
    clean_text,
    dtsa_status,
    get_case,
    publish,
    require_investigator,
    required_text,
)
from workflows.connection import Connection
from workflows.errors import AlreadyDecided, InvalidInput, NotFound
from workflows.tables import case_evidence, case_legal_actions, case_messages, cases

LEGAL_KINDS = ("cease-and-desist", "injunction", "litigation", "law-enforcement", "other")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
LINK = re.compile(r"^https?://\S+$", re.IGNORECASE)
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


async def case_for_investigator(
    conn: Connection, catalog: Catalog, case_id: int, user_id: str, *, open_only: bool = False
) -> CaseInfo:
    """Raise unless this person may act on this case now (also used before opening a modal)."""
    await require_investigator(conn, catalog, user_id)
    case = await get_case(conn, catalog, case_id)
    if open_only and case.closed:
        raise AlreadyDecided(f"{case.ref} is {case.status}; its assignment and status no longer change.")
    return case


async def _lock(
    conn: Connection, catalog: Catalog, case_id: int, user_id: str, *, open_only: bool
) -> CaseInfo:
    locked = (
        await conn.execute(sa.select(cases.c.id).where(cases.c.id == case_id).with_for_update())
    ).first()
    if locked is None:
        raise NotFound(f"There is no CASE-{case_id}.")
    return await case_for_investigator(conn, catalog, case_id, user_id, open_only=open_only)


async def _tell_named_reporter(
    conn: Connection, case: CaseInfo, now: datetime, update: dict[str, Any]
) -> None:
    """Only a named reporter is ever messaged; an anonymous one reads updates with their key."""
    if case.reporter is not None:
        await outbox.enqueue(
            conn, recipient=case.reporter, kind=REPORTER_UPDATE, now=now, data={"case_id": case.id, **update}
        )


async def _recorded(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    case: CaseInfo,
    user_id: str,
    action: str,
    details: dict[str, Any],
    note: dict[str, Any],
) -> CaseInfo:
    """Audit an investigator's change, then show it: the card refreshed and a note in its thread."""
    await audit.record(conn, at=now, actor=user_id, action=action, subject=case.ref, details=details)
    updated = await get_case(conn, catalog, case.id)
    await publish(conn, catalog, updated, now, note={"by": user_id, **note})
    return updated


async def take_case(
    conn: Connection, catalog: Catalog, now: datetime, *, case_id: int, user_id: str
) -> CaseInfo:
    """Assign the case to whoever clicked; a new case moves to triaging and its ack deadline ends."""
    case = await _lock(conn, catalog, case_id, user_id, open_only=True)
    if case.assignee == user_id:
        raise AlreadyDecided(f"You already have {case.ref}.")
    status = "triaging" if case.status == "new" else case.status
    await conn.execute(
        cases.update()
        .where(cases.c.id == case_id)
        .values(assignee=user_id, status=status, ack_due_at=None, notify_count=0)
    )
    details = {"previous_assignee": case.assignee, "status": status}
    note = {"event": "taken", "previous": case.assignee, "status": status}
    taken = await _recorded(conn, catalog, now, case, user_id, "case.taken", details, note)
    if status != case.status:
        await _tell_named_reporter(conn, taken, now, {"event": "status", "status": status})
    return taken


async def update_status(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    case_id: int,
    user_id: str,
    status: str | None,
    note: str | None = None,
) -> CaseInfo:
    """Move an open case to another status; resolved and dismissed are final and end its deadlines."""
    if status not in STATUSES or status == "new":
        raise InvalidInput("Pick the case's new status.", field="case_status")
    text = clean_text(note, "the note", "case_note")
    case = await _lock(conn, catalog, case_id, user_id, open_only=True)
    if status == case.status:
        raise InvalidInput(f"{case.ref} is already {status}.", field="case_status")
    values: dict[str, Any] = {"status": status}
    if status in CLOSED:
        values.update(closed_at=now, ack_due_at=None, feedback_due_at=None)
    await conn.execute(cases.update().where(cases.c.id == case_id).values(**values))
    note_id = None
    if text:  # an internal note: in the case thread and the export, never shown to the reporter
        note_id = await _add_message(conn, case_id, "internal", user_id, text, now)
    details = {"from": case.status, "to": status, "note": note_id}
    thread = {"event": "status", "from": case.status, "to": status, "text": text}
    updated = await _recorded(conn, catalog, now, case, user_id, "case.status_changed", details, thread)
    await _tell_named_reporter(conn, updated, now, {"event": "status", "status": status})
    return updated


async def _add_message(
    conn: Connection, case_id: int, direction: str, author: str, body: str, now: datetime
) -> int:
    return (
        await conn.execute(
            case_messages.insert()
            .values(case_id=case_id, direction=direction, author=author, body=body, at=now)
            .returning(case_messages.c.id)
        )
    ).scalar_one()


async def message_reporter(
    conn: Connection, catalog: Catalog, now: datetime, *, case_id: int, user_id: str, message: str | None
) -> CaseInfo:
    """A message the reporter reads with `/report-leak status`; it restarts the feedback deadline."""
    body = required_text(message, "the message", "case_message")
    case = await _lock(conn, catalog, case_id, user_id, open_only=False)
    message_id = await _add_message(conn, case_id, "to_reporter", user_id, body, now)
    values: dict[str, Any] = {"notify_count": 0}
    if not case.closed:
        values["feedback_due_at"] = now + timedelta(days=catalog.schedule.case_feedback_days)
    await conn.execute(cases.update().where(cases.c.id == case_id).values(**values))
    details = {"message": message_id}
    note = {"event": "message_to_reporter", "text": body}
    updated = await _recorded(conn, catalog, now, case, user_id, "case.reporter_messaged", details, note)
    await _tell_named_reporter(conn, updated, now, {"event": "message", "text": body})
    return updated


def parse_sha256(text: str | None) -> str | None:
    digest = "".join((text or "").split()).lower()
    if digest and not SHA256.match(digest):
        raise InvalidInput("A SHA-256 is 64 hexadecimal characters (0-9, a-f).", field="evidence_sha256")
    return digest or None


async def add_evidence(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    case_id: int,
    user_id: str,
    description: str | None,
    link: str | None = None,
    sha256: str | None = None,
) -> CaseInfo:
    """Append evidence (never edited or removed); its audit entry carries the digests that pin it."""
    text = required_text(description, "a description", "evidence_description")
    url = clean_text(link, "the link", "evidence_link")
    if url and not LINK.match(url):
        raise InvalidInput("The link must be a web address starting with https://.", field="evidence_link")
    digest = parse_sha256(sha256)
    case = await _lock(conn, catalog, case_id, user_id, open_only=False)
    evidence_id = (
        await conn.execute(
            case_evidence.insert()
            .values(
                case_id=case_id, description=text, link=url, sha256=digest, added_by=user_id, added_at=now
            )
            .returning(case_evidence.c.id)
        )
    ).scalar_one()
    pinned = {"link": url, "sha256": digest, "description_sha256": text_digest(text)}
    details = {"evidence": evidence_id, **pinned}
    note = {"event": "evidence", "description": text, "link": url, "sha256": digest}
    return await _recorded(conn, catalog, now, case, user_id, "case.evidence_added", details, note)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_date(text: str | None) -> date:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise InvalidInput("Enter the date as YYYY-MM-DD.", field="legal_date") from None


async def record_legal_action(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    case_id: int,
    user_id: str,
    kind: str | None,
    action_date: str | None,
    counterparty: str | None,
    status: str | None,
    notes: str | None = None,
    subject: str | None = None,
) -> CaseInfo:
    """Record a legal action; naming a subject records them on the case with their DTSA notice status."""
    if kind not in LEGAL_KINDS:
        raise InvalidInput("Pick the kind of legal action.", field="legal_kind")
    when = parse_date(action_date)
    party = required_text(counterparty, "the counterparty", "legal_counterparty", limit=200)
    state = required_text(status, "the status", "legal_status", limit=100)
    text = clean_text(notes, "the notes", "legal_notes")
    subject = (subject or "").strip() or None
    if subject is not None and not USER_ID.match(subject):
        raise InvalidInput("The subject must be a person in this workspace.", field="legal_subject")
    case = await _lock(conn, catalog, case_id, user_id, open_only=False)
    subject = subject or case.subject_user
    if subject != case.subject_user:
        await conn.execute(cases.update().where(cases.c.id == case_id).values(subject_user=subject))
    dtsa = await dtsa_status(conn, catalog, subject) if subject else None
    notice = dtsa.notice_given if dtsa else None
    action_id = (
        await conn.execute(
            case_legal_actions.insert()
            .values(
                case_id=case_id,
                kind=kind,
                action_date=when,
                counterparty=party,
                status=state,
                notes=text,
                subject_user=subject,
                dtsa_notice=notice,
                recorded_by=user_id,
                recorded_at=now,
            )
            .returning(case_legal_actions.c.id)
        )
    ).scalar_one()
    details = {"legal_action": action_id, "kind": kind, "date": when.isoformat(), "counterparty": party}
    details.update(status=state, subject=subject, dtsa_notice=notice)
    note = {"event": "legal", **details, "notes": text}
    return await _recorded(conn, catalog, now, case, user_id, "case.legal_action_recorded", details, note)
