"""The numbers admins answer for: agreement coverage, reviews due, pending requests, open cases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from config.catalog import Agreement, Catalog
from workflows import audit, classification, training
from workflows.classification import ClassificationStatus
from workflows.connection import Connection
from workflows.directory import active_members
from workflows.errors import InvalidInput, NotAllowed
from workflows.obligations import applies_to, first_due, lapses_at, owed_from_for, still_valid
from workflows.open_cases import OpenCase, open_cases
from workflows.tables import access_requests, acknowledgements, grants
from workflows.training import TrainingCoverage

REVIEW_HORIZON = timedelta(days=7)  # "due for review" looks this far ahead
AUDIT_USAGE = "Usage: `/confide audit <user-id|secret-id|CASE-n>`, e.g. `/confide audit U0123ABC`."
USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CASE_REF = re.compile(r"^case-?(\d{1,9})$", re.IGNORECASE)
CATALOG_ID = re.compile(r"^[a-z0-9-]{1,64}$")


@dataclass(frozen=True)
class Outstanding:
    user_id: str
    owed_since: datetime | None
    due_at: datetime | None
    overdue: bool  # past due_days without acknowledgement


@dataclass(frozen=True)
class AgreementCoverage:
    agreement: Agreement
    in_scope: int
    acknowledged: int
    outstanding: list[Outstanding]  # longest owed first
    earlier_versions: list[tuple[str, int]]  # (version, people who acknowledged it), newest first

    @property
    def overdue(self) -> int:
        return sum(1 for o in self.outstanding if o.overdue)

    @property
    def percent(self) -> int:
        return 100 if self.in_scope == 0 else (100 * self.acknowledged) // self.in_scope


@dataclass(frozen=True)
class GrantDue:
    grant_id: int
    secret_id: str
    secret_name: str
    grantee: str
    review_due_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class PendingRequest:
    request_id: int
    secret_id: str
    secret_name: str
    requester: str
    created_at: datetime


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    coverage: list[AgreementCoverage]
    reviews_due_soon: list[GrantDue]  # review_due_at within REVIEW_HORIZON
    reviews_overdue: list[GrantDue]  # review_due_at passed
    pending_requests: list[PendingRequest]  # oldest first
    # None: this installation has no cases feature, and the section is left out altogether.
    open_cases: list[OpenCase] | None = None
    training: list[TrainingCoverage] | None = None
    classification: ClassificationStatus | None = None

    @property
    def agreements_overdue(self) -> int:
        """People past `due_days` without acknowledging, summed over the agreements."""
        return sum(c.overdue for c in self.coverage)

    @property
    def cases_overdue(self) -> int:
        return sum(c.overdue for c in self.open_cases or [])

    @property
    def overdue_items(self) -> int:
        return self.agreements_overdue + len(self.reviews_overdue) + self.cases_overdue


def require_admin(catalog: Catalog, user_id: str, what: str) -> None:
    if not catalog.is_admin(user_id):
        raise NotAllowed(f"Sorry, {what} is for Confide's admins. `/confide help` shows what you can do.")


async def agreement_coverage(conn: Connection, catalog: Catalog, now: datetime) -> list[AgreementCoverage]:
    """Per agreement, its current version: acknowledged / in scope, and who is outstanding since when."""
    people = await active_members(conn)
    coverage: list[AgreementCoverage] = []
    for agreement in catalog.agreements:
        scope = [m for m in people if applies_to(agreement, m)]
        acked = await _acknowledged_at(conn, agreement)
        owed_from = await owed_from_for(conn, agreement)
        done = 0
        outstanding: list[Outstanding] = []
        for member in scope:
            at = acked.get(member.user_id)
            if at is not None and still_valid(agreement, at, now):
                done += 1
                continue
            since = owed_from.get(member.user_id) or (lapses_at(agreement, at) if at is not None else None)
            due = first_due(agreement, since)
            outstanding.append(Outstanding(member.user_id, since, due, due is not None and due <= now))
        outstanding.sort(key=lambda o: (o.owed_since or now, o.user_id))
        coverage.append(
            AgreementCoverage(
                agreement, len(scope), done, outstanding, await _earlier_versions(conn, agreement)
            )
        )
    return coverage


async def nda_status(
    conn: Connection, catalog: Catalog, user_id: str, now: datetime
) -> list[AgreementCoverage]:
    """/nda status: admins only."""
    require_admin(catalog, user_id, "`/nda status`")
    return await agreement_coverage(conn, catalog, now)


async def dashboard(conn: Connection, catalog: Catalog, now: datetime) -> Dashboard:
    """Everything the compliance dashboard shows, as of now."""
    due = await reviews_due(conn, catalog, now)
    return Dashboard(
        now=now,
        coverage=await agreement_coverage(conn, catalog, now),
        reviews_due_soon=[g for g in due if g.review_due_at > now],
        reviews_overdue=[g for g in due if g.review_due_at <= now],
        pending_requests=await pending_requests(conn, catalog),
        training=await training.coverage(conn, catalog, now),
        classification=await classification.status(conn, catalog, now),
        open_cases=await open_cases(conn, now),
    )


async def admin_dashboard(conn: Connection, catalog: Catalog, user_id: str, now: datetime) -> Dashboard:
    """/confide status: admins only."""
    require_admin(catalog, user_id, "`/confide status`")
    return await dashboard(conn, catalog, now)


async def reviews_due(
    conn: Connection, catalog: Catalog, now: datetime, secret_ids: list[str] | None = None
) -> list[GrantDue]:
    """Active grants whose review is overdue or falls within REVIEW_HORIZON, soonest first."""
    query = (
        sa.select(grants)
        .where(
            grants.c.status == "active",
            grants.c.expires_at > now,
            grants.c.review_due_at <= now + REVIEW_HORIZON,
        )
        .order_by(grants.c.review_due_at, grants.c.id)
    )
    if secret_ids is not None:
        if not secret_ids:
            return []
        query = query.where(grants.c.secret_id.in_(secret_ids))
    return [
        GrantDue(
            r.id, r.secret_id, _secret_name(catalog, r.secret_id), r.grantee, r.review_due_at, r.expires_at
        )
        for r in await conn.execute(query)
    ]


async def pending_requests(conn: Connection, catalog: Catalog) -> list[PendingRequest]:
    rows = await conn.execute(
        sa.select(access_requests)
        .where(access_requests.c.status == "pending")
        .order_by(access_requests.c.created_at, access_requests.c.id)
    )
    return [
        PendingRequest(r.id, r.secret_id, _secret_name(catalog, r.secret_id), r.requester, r.created_at)
        for r in rows
    ]


def parse_audit_subject(text: str) -> str:
    """A user id (or mention), a secret id or CASE-n, as the audit log records it."""
    text = text.strip()
    if mention := USER_MENTION.match(text):
        return mention.group(1)
    if USER_ID.match(text.upper()) and text[:1] in ("U", "W"):
        return text.upper()
    if case := CASE_REF.match(text):
        return f"CASE-{int(case.group(1))}"
    if CATALOG_ID.match(text.lower()):
        return text.lower()
    raise InvalidInput(f"`{text[:40]}` is not a user, secret or case. {AUDIT_USAGE}")


async def audit_trail(
    conn: Connection, catalog: Catalog, user_id: str, subject_text: str, limit: int = 20
) -> tuple[str, list[audit.AuditEntry]]:
    """/confide audit: admins only; the most recent entries about (or by) the subject."""
    require_admin(catalog, user_id, "`/confide audit`")
    if not subject_text.strip():
        raise InvalidInput(AUDIT_USAGE)
    subject = parse_audit_subject(subject_text)
    return subject, await audit.entries_for_subject(conn, subject, limit=limit)


# ---- internals ---------------------------------------------------------------------------------------


def _secret_name(catalog: Catalog, secret_id: str) -> str:
    secret = catalog.secret(secret_id)
    return secret.name if secret else secret_id


async def _acknowledged_at(conn: Connection, agreement: Agreement) -> dict[str, datetime]:
    rows = await conn.execute(
        sa.select(acknowledgements.c.user_id, acknowledgements.c.at).where(
            acknowledgements.c.agreement_id == agreement.id, acknowledgements.c.version == agreement.version
        )
    )
    return {r.user_id: r.at for r in rows}


async def _earlier_versions(conn: Connection, agreement: Agreement) -> list[tuple[str, int]]:
    rows = await conn.execute(
        sa.select(acknowledgements.c.version, sa.func.count(), sa.func.max(acknowledgements.c.at))
        .where(
            acknowledgements.c.agreement_id == agreement.id, acknowledgements.c.version != agreement.version
        )
        .group_by(acknowledgements.c.version)
    )
    return [(r[0], r[1]) for r in sorted(rows, key=lambda r: r[2], reverse=True)]
