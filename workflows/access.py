"""Access to secrets: requests routed to owners, decisions, time-bound grants, revocation, extension."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from config.catalog import Agreement, Catalog, Secret
from workflows import agreements, audit, outbox, signals, training
from workflows.connection import Connection
from workflows.directory import resolve_principals
from workflows.errors import AlreadyDecided, ConfideError, InvalidInput, NotAllowed, NotFound
from workflows.tables import access_requests, grants, members, request_approvers, secret_reviews

DURATION = re.compile(r"^(\d{1,5})([dh])$", re.IGNORECASE)
GRANT_REF = re.compile(r"^(?:g-?)?(\d{1,9})$", re.IGNORECASE)
REQUEST_CARD = "request_card"
EXPIRY_WARNING = timedelta(hours=24)  # the grantee is offered an Extend button this long before expiry


class AgreementsOwed(ConfideError):
    """The secret requires agreements the requester has not acknowledged."""

    def __init__(self, secret: Secret, owed: list[Agreement]):
        titles = ", ".join(a.title for a in owed)
        super().__init__(f"*{secret.name}* requires you to acknowledge {titles} first.")
        self.secret = secret
        self.owed = owed


@dataclass(frozen=True)
class RequestInfo:
    id: int
    kind: str
    secret_id: str
    secret_name: str
    requester: str
    duration_hours: int
    justification: str
    status: str
    approvals_needed: int
    approved_by: list[str]
    approvers: list[str]
    decided_by: str | None
    reason: str | None
    created_at: datetime
    grant_id: int | None

    def card_data(self) -> dict[str, Any]:
        """What a request card shows; stored in the outbox so delivery renders the state it reports."""
        return {
            "request_id": self.id,
            "kind": self.kind,
            "secret_id": self.secret_id,
            "secret_name": self.secret_name,
            "requester": self.requester,
            "duration_hours": self.duration_hours,
            "justification": self.justification,
            "status": self.status,
            "approvals_needed": self.approvals_needed,
            "approved_by": self.approved_by,
            "decided_by": self.decided_by,
            "reason": self.reason,
            "grant_id": self.grant_id,
        }


@dataclass(frozen=True)
class GrantInfo:
    id: int
    secret_id: str
    grantee: str
    status: str
    granted_at: datetime
    expires_at: datetime
    review_due_at: datetime


@dataclass(frozen=True)
class Decision:
    request: RequestInfo
    outcome: str  # approved | denied | recorded (an approval that still waits for others)
    grant: GrantInfo | None = None
    waiting_for: int = 0


@dataclass
class SecretListing:
    secret: Secret
    owners: list[str]
    has_access: bool
    pending: bool = False
    expires_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def request_card_key(request_id: int) -> str:
    return f"request:{request_id}"


def parse_duration(text: str) -> int | None:
    """'30d' or '12h' in hours; None when the text is not a duration."""
    match = DURATION.match(text.strip())
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2).lower()
    return number * 24 if unit == "d" else number


def parse_grant_id(text: str) -> int:
    match = GRANT_REF.match(text.strip())
    if not match:
        raise InvalidInput(
            f"`{text[:40]}` is not a grant id. Grant ids look like `G-12`; `/access list` shows yours."
        )
    return int(match.group(1))


def expiry_warning_at(expires_at: datetime, now: datetime) -> datetime | None:
    """When the sweep warns the grantee; None when the grant is too short to be worth a warning."""
    warn_at = expires_at - EXPIRY_WARNING
    return warn_at if warn_at > now else None


def describe_hours(hours: int) -> str:
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day" if days == 1 else f"{days} days"
    return f"{hours} hour" if hours == 1 else f"{hours} hours"


def find_secret(catalog: Catalog, secret_id: str) -> Secret:
    """The secret with this id, or NotFound naming the closest ids."""
    secret = catalog.secret(secret_id.strip().lower())
    if secret is not None:
        return secret
    ids = [s.id for s in catalog.secrets]
    close = difflib.get_close_matches(secret_id.lower(), ids, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
    raise NotFound(f"There is no secret `{secret_id[:60]}`.{hint} `/access secrets` lists them all.")


def check_duration(secret: Secret, hours: int | None) -> int:
    hours = secret.default_days * 24 if hours is None else hours
    problem = _duration_problem(secret, hours)
    if problem is not None:
        raise InvalidInput(problem)
    return hours


def _duration_problem(secret: Secret, hours: int) -> str | None:
    if hours <= 0:
        return "The duration must be at least one hour."
    if hours > secret.max_days * 24:
        return (
            f"*{secret.name}* can be granted for at most {secret.max_days} days; you asked for "
            f"{describe_hours(hours)}."
        )
    return None


async def approvers_for(
    conn: Connection, catalog: Catalog, secret: Secret, requester: str, owners_gone: set[str] | None = None
) -> list[str]:
    """The secret's active owners other than the requester, topped up with admins when fewer owners
    remain than the approvals the secret needs (so nobody ever approves their own request).

    `owners_gone`: which of the secret's owners, all users rather than groups, are deactivated, when
    the caller has read that already (`_request_standing`)."""
    if owners_gone is None:
        owners = await resolve_principals(conn, secret.owners)
    else:
        owners = [u for u in dict.fromkeys(secret.owners) if u not in owners_gone]
    approvers = [u for u in owners if u != requester]
    if len(approvers) < secret.approvals:
        admins = [u for u in await resolve_principals(conn, catalog.admins) if u != requester]
        approvers += [a for a in admins if a not in approvers][: secret.approvals - len(approvers)]
    return approvers


async def check_requirements(
    conn: Connection, catalog: Catalog, now: datetime, secret: Secret, requester: str
) -> None:
    """Refuse unless the requester has acknowledged every agreement and passed every training the
    secret `requires` (current versions, not lapsed)."""
    owed = await agreements.missing_for(conn, catalog, requester, secret.requires, now)
    if owed:
        raise AgreementsOwed(secret, owed)
    untrained = await training.missing_for(conn, catalog, requester, secret.requires, now)
    if untrained:
        raise training.TrainingOwed(secret, untrained)


def _first(column: sa.ColumnElement[Any], *criteria: sa.ColumnElement[bool]) -> sa.ScalarSelect[Any]:
    return sa.select(column).where(*criteria).order_by(column).limit(1).scalar_subquery()


_DECLASSIFIED_CRITERIA = (
    secret_reviews.c.secret_id == sa.bindparam("secret_id"),
    secret_reviews.c.declassified_at.is_not(None),
)
# Everything that refuses a new request before its requirements, in one statement (it runs on every
# request): the secret's declassification, the requester's active grant and pending request for it.
_REQUEST_STANDING = sa.select(
    _first(secret_reviews.c.declassified_at, *_DECLASSIFIED_CRITERIA).label("declassified_at"),
    _first(secret_reviews.c.declassified_by, *_DECLASSIFIED_CRITERIA).label("declassified_by"),
    _first(
        grants.c.id,
        grants.c.grantee == sa.bindparam("user_id"),
        grants.c.secret_id == sa.bindparam("secret_id"),
        grants.c.status == "active",
        grants.c.expires_at > sa.bindparam("now"),
    ).label("active_grant"),
    _first(
        access_requests.c.id,
        access_requests.c.requester == sa.bindparam("user_id"),
        access_requests.c.secret_id == sa.bindparam("secret_id"),
        access_requests.c.status == "pending",
    ).label("pending_request"),
    signals.OTHER_SECRETS_REQUESTED_RECENTLY.label("other_secrets_recently"),
)
# PostgreSQL: the same, with the id the request will have, drawn from its sequence in the same round
# trip when nothing would refuse it (`draw_id`: nothing the caller checks in Python; the rest is
# the standing itself). Filing it then needs no answer from the database and joins the write's one
# statement (`Connection.insert_later`). Only a request refused for want of any approver, or a
# failed write, leaves a gap in the ids, as a rollback does.
_STANDING = _REQUEST_STANDING.subquery("standing")
_REQUEST_STANDING_AND_ID = sa.select(
    _STANDING,
    sa.case(
        (
            sa.and_(
                sa.bindparam("draw_id", type_=sa.Boolean),
                _STANDING.c.declassified_at.is_(None),
                _STANDING.c.active_grant.is_(None),
                _STANDING.c.pending_request.is_(None),
            ),
            sa.func.nextval(sa.func.pg_get_serial_sequence("access_requests", "id")),
        )
    ).label("request_id"),
)


@functools.cache
def _request_standing(owners: tuple[str, ...], draws_id: bool) -> sa.Select[Any]:
    """The request's standing, with whether each of these owners (users, not groups) is deactivated:
    for a secret owned by users, one read where there were two. Built once per secret's owners."""
    standing = _REQUEST_STANDING_AND_ID if draws_id else _REQUEST_STANDING
    return standing.add_columns(
        *(
            sa.exists()
            .where(members.c.user_id == sa.literal(owner, sa.String), members.c.deleted)
            .label(f"owner_gone_{n}")
            for n, owner in enumerate(owners)
        )
    )


def _owners_read_with_standing(secret: Secret) -> tuple[str, ...]:
    """The owners whose deactivation the standing read answers: all of them when they are users;
    none when one is a user group (its members are read as the approvers are resolved)."""
    return () if any(owner.startswith("S") for owner in secret.owners) else tuple(secret.owners)


def _owners_gone(owners: tuple[str, ...], standing: sa.Row[Any]) -> set[str]:
    return {owner for n, owner in enumerate(owners) if standing._mapping[f"owner_gone_{n}"]}


async def request_access(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    requester: str,
    secret_id: str,
    duration_hours: int | None,
    justification: str,
) -> RequestInfo:
    """File a request and route a card to every approver."""
    secret = find_secret(catalog, secret_id)
    draws_id = conn.dialect.name == "postgresql"
    hours_asked = secret.default_days * 24 if duration_hours is None else duration_hours
    owners = _owners_read_with_standing(secret)
    standing = await conn.read_row(
        _request_standing(owners, draws_id),
        {
            "user_id": requester,
            "secret_id": secret.id,
            "now": now,
            "burst_since": signals.burst_since(catalog, now),
            # Agreements and training owed are read after: a secret requiring any draws no id.
            "draw_id": not secret.requires
            and bool(justification.strip())
            and _duration_problem(secret, hours_asked) is None,
        },
    )
    _refuse_if_declassified(secret, standing.declassified_at, standing.declassified_by)
    hours = check_duration(secret, duration_hours)
    justification = justification.strip()
    if not justification:
        raise InvalidInput(
            "Please say why you need access: the owners decide on your justification.", field="justification"
        )
    await check_requirements(conn, catalog, now, secret, requester)
    if standing.active_grant is not None:
        raise InvalidInput(
            f"You already have access to *{secret.name}* (grant G-{standing.active_grant}). "
            f"To keep it longer, use `/access extend G-{standing.active_grant} <justification>`."
        )
    if standing.pending_request is not None:
        raise InvalidInput(
            f"You already have a pending request for *{secret.name}* (R-{standing.pending_request})."
        )
    return await _file_request(
        conn,
        catalog,
        now,
        secret=secret,
        requester=requester,
        hours=hours,
        justification=justification,
        kind="new",
        grant_id=None,
        other_secrets_recently=standing.other_secrets_recently,
        request_id=standing.request_id if draws_id else None,
        owners_gone=_owners_gone(owners, standing) if owners else None,
    )


_DECLASSIFIED = sa.select(secret_reviews.c.declassified_at, secret_reviews.c.declassified_by).where(
    *_DECLASSIFIED_CRITERIA
)


async def _refuse_declassified(conn: Connection, secret: Secret) -> None:
    row = (await conn.execute(_DECLASSIFIED, {"secret_id": secret.id})).first()
    if row is not None:
        _refuse_if_declassified(secret, row.declassified_at, row.declassified_by)


def _refuse_if_declassified(
    secret: Secret, declassified_at: datetime | None, declassified_by: str | None
) -> None:
    """A secret its owners declassified in a classification review is no longer granted."""
    if declassified_at is not None:
        raise InvalidInput(
            f"*{secret.name}* was declassified by <@{declassified_by}> on "
            f"{declassified_at:%Y-%m-%d}: it is no longer treated as a trade secret, so Confide no "
            "longer grants access to it. Ask its owners for the material directly."
        )


async def request_extension(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    requester: str,
    grant_ref: str,
    duration_hours: int | None,
    justification: str,
) -> RequestInfo:
    """Ask the owners to extend a grant; the grant keeps running until its old expiry meanwhile."""
    grant = await _get_grant(conn, parse_grant_id(grant_ref))
    if grant is None or grant.grantee != requester:
        raise NotFound(f"You have no grant {grant_ref[:20]}. `/access list` shows yours.")
    if grant.status != "active":
        raise InvalidInput(
            f"Grant G-{grant.id} has {grant.status}; request access again with `/access request`."
        )
    secret = find_secret(catalog, grant.secret_id)
    await _refuse_declassified(conn, secret)
    hours = check_duration(secret, duration_hours)
    if not justification.strip():
        raise InvalidInput("Please say why you need the extension.", field="justification")
    await check_requirements(conn, catalog, now, secret, requester)
    return await _file_request(
        conn,
        catalog,
        now,
        secret=secret,
        requester=requester,
        hours=hours,
        justification=justification.strip(),
        kind="extend",
        grant_id=grant.id,
    )


_INSERT_REQUEST = access_requests.insert().returning(access_requests.c.id)
_INSERT_REQUEST_WITH_ID = access_requests.insert().inline()  # its id drawn already
_INSERT_APPROVERS = request_approvers.insert().inline()


async def _file_request(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    secret: Secret,
    requester: str,
    hours: int,
    justification: str,
    kind: str,
    grant_id: int | None,
    other_secrets_recently: int | None = None,
    request_id: int | None = None,
    owners_gone: set[str] | None = None,
) -> RequestInfo:
    """`request_id`: the id drawn for it already, if any (else the database assigns one);
    `owners_gone`: as `approvers_for` takes it."""
    approvers = await approvers_for(conn, catalog, secret, requester, owners_gone)
    if not approvers:
        raise NotAllowed(f"Nobody can approve requests for *{secret.name}* right now; please tell an admin.")
    schedule = catalog.schedule
    approvals_needed = min(secret.approvals, len(approvers))
    row = {
        "kind": kind,
        "grant_id": grant_id,
        "secret_id": secret.id,
        "requester": requester,
        "duration_hours": hours,
        "justification": justification,
        "approvals_needed": approvals_needed,
        "status": "pending",
        "created_at": now,
        "remind_at": now + timedelta(hours=schedule.request_reminder_hours),
        "expires_at": now + timedelta(hours=schedule.request_expiry_hours),
    }
    if request_id is None:
        request_id = (await conn.execute(_INSERT_REQUEST, row)).scalar_one()
    else:
        await conn.insert_later(_INSERT_REQUEST_WITH_ID, {**row, "id": request_id})
    await conn.insert_later(_INSERT_APPROVERS, [{"request_id": request_id, "user_id": a} for a in approvers])
    # What was just written, rather than read back.
    info = RequestInfo(
        id=request_id,
        kind=kind,
        secret_id=secret.id,
        secret_name=secret.name,
        requester=requester,
        duration_hours=hours,
        justification=justification,
        status="pending",
        approvals_needed=approvals_needed,
        approved_by=[],
        approvers=sorted(approvers),
        decided_by=None,
        reason=None,
        created_at=now,
        grant_id=grant_id,
    )
    await audit.record(
        conn,
        at=now,
        actor=requester,
        action=f"access.{kind}_requested",
        subject=secret.id,
        details={"request": request_id, "grant": grant_id, "hours": hours, "approvers": approvers},
    )
    for approver in approvers:
        await outbox.enqueue(
            conn,
            recipient=approver,
            kind=REQUEST_CARD,
            data=info.card_data(),
            now=now,
            card_key=request_card_key(request_id),
        )
    await signals.after_request(
        conn,
        catalog,
        now,
        requester=requester,
        secret_id=secret.id,
        other_secrets_recently=other_secrets_recently,
    )
    return info


def _requests_with_approvers_where(*criteria: Any) -> sa.Select[Any]:
    """Requests with one row per approver (none for a request without), so a request reads in one
    statement."""
    return (
        sa.select(
            access_requests,
            request_approvers.c.user_id.label("approver"),
            request_approvers.c.approved_at.label("approver_approved_at"),
        )
        .join(request_approvers, request_approvers.c.request_id == access_requests.c.id, isouter=True)
        .where(*criteria)
        .order_by(access_requests.c.id, request_approvers.c.approved_at, request_approvers.c.user_id)
    )


# Statements run on every request are built once: building one costs more than running it on SQLite.
_REQUEST_BY_ID = _requests_with_approvers_where(access_requests.c.id == sa.bindparam("request_id"))
_PENDING_REQUESTS_OF = _requests_with_approvers_where(
    access_requests.c.requester == sa.bindparam("user_id"), access_requests.c.status == "pending"
)


async def get_request(conn: Connection, catalog: Catalog, request_id: int) -> RequestInfo:
    found = _requests_from_rows(catalog, await conn.execute(_REQUEST_BY_ID, {"request_id": request_id}))
    if not found:
        raise NotFound(f"Request R-{request_id} does not exist.")
    return found[0]


def _requests_from_rows(catalog: Catalog, rows: Iterable[sa.Row[Any]]) -> list[RequestInfo]:
    """Folds the rows of `_requests_with_approvers_where` into one RequestInfo per request."""
    grouped: dict[int, tuple[sa.Row[Any], list[sa.Row[Any]]]] = {}
    for row in rows:
        _, approvers = grouped.setdefault(row.id, (row, []))
        if row.approver is not None:
            approvers.append(row)
    return [_request_info(catalog, row, approvers) for row, approvers in grouped.values()]


def _request_info(catalog: Catalog, row: sa.Row[Any], approver_rows: list[sa.Row[Any]]) -> RequestInfo:
    secret = catalog.secret(row.secret_id)
    return RequestInfo(
        id=row.id,
        kind=row.kind,
        secret_id=row.secret_id,
        secret_name=secret.name if secret else row.secret_id,
        requester=row.requester,
        duration_hours=row.duration_hours,
        justification=row.justification,
        status=row.status,
        approvals_needed=row.approvals_needed,
        approved_by=[r.approver for r in approver_rows if r.approver_approved_at is not None],
        approvers=[r.approver for r in approver_rows],
        decided_by=row.decided_by,
        reason=row.reason,
        created_at=row.created_at,
        grant_id=row.grant_id,
    )


async def _lock_pending_request(
    conn: Connection, catalog: Catalog, request_id: int, user_id: str
) -> RequestInfo:
    """Lock the request row, then check the person may decide it and that it is still pending."""
    locked = (
        await conn.execute(
            sa.select(access_requests.c.id).where(access_requests.c.id == request_id).with_for_update()
        )
    ).first()
    if locked is None:
        raise NotFound(f"Request R-{request_id} does not exist.")
    info = await get_request(conn, catalog, request_id)
    if user_id not in info.approvers:
        raise NotAllowed(f"You are not an approver of request R-{request_id}; its approvers decide it.")
    if info.status != "pending":
        by = f" by <@{info.decided_by}>" if info.decided_by else ""
        raise AlreadyDecided(f"Request R-{request_id} was already {info.status}{by}.")
    secret = catalog.secret(info.secret_id)
    still_owner = secret is not None and user_id in await resolve_principals(conn, secret.owners)
    if not still_owner and not catalog.is_admin(user_id):  # the catalog changed since it was filed
        raise NotAllowed(f"You no longer own this secret, so you cannot decide R-{request_id}.")
    return info


async def check_can_decide(conn: Connection, catalog: Catalog, request_id: int, user_id: str) -> RequestInfo:
    """Raise unless this person may decide this request now (used before opening the Deny modal)."""
    return await _lock_pending_request(conn, catalog, request_id, user_id)


async def approve(
    conn: Connection, catalog: Catalog, now: datetime, *, request_id: int, approver: str
) -> Decision:
    """Record one approval; with enough distinct approvals, grant access and tell everyone."""
    info = await _lock_pending_request(conn, catalog, request_id, approver)
    if approver in info.approved_by:
        raise AlreadyDecided(
            f"You already approved R-{request_id}; it waits for "
            f"{info.approvals_needed - len(info.approved_by)} more approval(s)."
        )
    await conn.execute(
        request_approvers.update()
        .where(request_approvers.c.request_id == request_id, request_approvers.c.user_id == approver)
        .values(approved_at=now)
    )
    await audit.record(
        conn,
        at=now,
        actor=approver,
        action="access.approval_recorded",
        subject=info.secret_id,
        details={"request": request_id},
    )
    approvals = len(info.approved_by) + 1
    if approvals < info.approvals_needed:
        updated = await get_request(conn, catalog, request_id)
        await _update_cards(conn, updated, now)
        return Decision(updated, "recorded", waiting_for=info.approvals_needed - approvals)
    grant = await _grant_for(conn, catalog, now, info)
    await _decide(conn, request_id, "approved", approver, None, now)
    decided = await get_request(conn, catalog, request_id)
    await audit.record(
        conn,
        at=now,
        actor=approver,
        action="access.approved",
        subject=info.secret_id,
        details={
            "request": request_id,
            "grant": grant.id,
            "grantee": info.requester,
            "expires_at": grant.expires_at.isoformat(),
            "kind": info.kind,
        },
    )
    await _update_cards(conn, decided, now)
    await outbox.enqueue(
        conn,
        recipient=info.requester,
        kind="request_decided",
        now=now,
        data={**decided.card_data(), "expires_at": grant.expires_at.isoformat()},
    )
    return Decision(decided, "approved", grant=grant)


async def deny(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    request_id: int,
    approver: str,
    reason: str | None,
) -> Decision:
    """The first Deny decides."""
    info = await _lock_pending_request(conn, catalog, request_id, approver)
    reason = (reason or "").strip()[:2000] or None
    await _decide(conn, request_id, "denied", approver, reason, now)
    decided = await get_request(conn, catalog, request_id)
    await audit.record(
        conn,
        at=now,
        actor=approver,
        action="access.denied",
        subject=info.secret_id,
        details={"request": request_id, "requester": info.requester, "has_reason": bool(reason)},
    )
    await _update_cards(conn, decided, now)
    await outbox.enqueue(
        conn, recipient=info.requester, kind="request_decided", data=decided.card_data(), now=now
    )
    await signals.after_denial(conn, catalog, now, requester=info.requester)
    return Decision(decided, "denied")


async def _decide(
    conn: Connection, request_id: int, status: str, by: str | None, reason: str | None, now: datetime
) -> None:
    result = await conn.execute(
        access_requests.update()
        .where(access_requests.c.id == request_id, access_requests.c.status == "pending")
        .values(status=status, decided_by=by, decided_at=now, reason=reason)
    )
    if result.rowcount != 1:  # the row lock makes this unreachable; kept as the last line of defence
        raise AlreadyDecided(f"Request R-{request_id} was already decided.")


async def _grant_for(conn: Connection, catalog: Catalog, now: datetime, info: RequestInfo) -> GrantInfo:
    secret = catalog.secret(info.secret_id)
    review_days = secret.review_every_days if secret else 90
    duration = timedelta(hours=info.duration_hours)
    if info.kind == "extend" and info.grant_id is not None:
        grant = await _get_grant(conn, info.grant_id)
        if grant is None or grant.status != "active":
            raise AlreadyDecided(f"Grant G-{info.grant_id} has ended; the extension cannot apply.")
        expires_at = max(grant.expires_at, now) + duration
        await conn.execute(
            grants.update()
            .where(grants.c.id == grant.id)
            .values(
                expires_at=expires_at,
                expiry_warn_at=expiry_warning_at(expires_at, now),
                expiry_warned_at=None,
            )
        )
        refreshed = await _get_grant(conn, grant.id)
        assert refreshed is not None
        return refreshed
    review_due_at = now + timedelta(days=review_days)
    grant_id = (
        await conn.execute(
            grants.insert()
            .values(
                secret_id=info.secret_id,
                grantee=info.requester,
                request_id=info.id,
                status="active",
                granted_at=now,
                expires_at=now + duration,
                review_due_at=review_due_at,
                # The sweep finds due work by these columns (see workflows/sweep).
                expiry_warn_at=expiry_warning_at(now + duration, now),
                review_notify_at=review_due_at,
            )
            .returning(grants.c.id)
        )
    ).scalar_one()
    created = await _get_grant(conn, grant_id)
    assert created is not None
    return created


async def _update_cards(conn: Connection, info: RequestInfo, now: datetime) -> None:
    """Every approver's copy of the card shows the new state."""
    for approver in info.approvers:
        await outbox.enqueue(
            conn,
            recipient=approver,
            kind=REQUEST_CARD,
            data=info.card_data(),
            now=now,
            op="update",
            card_key=request_card_key(info.id),
        )


async def cancel_request(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    request_id: int,
    status: str,
    actor: str,
    reason: str,
) -> RequestInfo | None:
    """End a pending request without a decision (offboarding: cancelled; the sweep: expired)."""
    result = await conn.execute(
        access_requests.update()
        .where(access_requests.c.id == request_id, access_requests.c.status == "pending")
        .values(status=status, decided_at=now, reason=reason)
    )
    if result.rowcount != 1:
        return None
    return await record_request_end(
        conn, catalog, now, request_id=request_id, status=status, actor=actor, reason=reason
    )


async def record_request_end(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    request_id: int,
    status: str,
    actor: str,
    reason: str,
) -> RequestInfo:
    """Audit a request that has just left `pending` without a decision and update every approver card.

    The sweep calls this after claiming expired requests in one batch UPDATE."""
    info = await get_request(conn, catalog, request_id)
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action=f"access.request_{status}",
        subject=info.secret_id,
        details={"request": request_id, "requester": info.requester, "reason": reason},
    )
    await _update_cards(conn, info, now)
    return info


async def _get_grant(conn: Connection, grant_id: int) -> GrantInfo | None:
    row = (await conn.execute(sa.select(grants).where(grants.c.id == grant_id))).first()
    return grant_from_row(row) if row else None


def grant_from_row(row: sa.Row[Any]) -> GrantInfo:
    return GrantInfo(
        row.id, row.secret_id, row.grantee, row.status, row.granted_at, row.expires_at, row.review_due_at
    )


async def record_grant_end(
    conn: Connection, now: datetime, *, grant: GrantInfo, status: str, actor: str, reason: str
) -> None:
    """The audit entry for a grant that has just ended (the sweep claims expired grants in batches)."""
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action=f"access.grant_{status}",
        subject=grant.secret_id,
        details={"grant": grant.id, "grantee": grant.grantee, "reason": reason},
    )


_ACTIVE_GRANTS_OF = (
    sa.select(grants)
    .where(
        grants.c.grantee == sa.bindparam("user_id"),
        grants.c.status == "active",
        grants.c.expires_at > sa.bindparam("now"),
    )
    .order_by(grants.c.expires_at)
)


async def active_grants_of(conn: Connection, user_id: str, now: datetime) -> list[GrantInfo]:
    rows = await conn.execute(_ACTIVE_GRANTS_OF, {"user_id": user_id, "now": now})
    return [grant_from_row(r) for r in rows]


async def pending_requests_of(conn: Connection, catalog: Catalog, user_id: str) -> list[RequestInfo]:
    return _requests_from_rows(catalog, await conn.execute(_PENDING_REQUESTS_OF, {"user_id": user_id}))


def _nothing(column: sa.ColumnElement[Any], name: str) -> sa.ColumnElement[Any]:
    """A typed NULL in the place of `column`, for the rows of a UNION that have no such value."""
    return sa.cast(sa.null(), column.type).label(name)


# `active_grants_of` and `pending_requests_of` in one statement (the list and the App Home show
# both: on PostgreSQL one round trip where there were two). Each row has the columns both read,
# named as they name them; the other kind's are NULL.
_GRANT_COLUMNS = {
    "grantee": grants.c.grantee,
    "granted_at": grants.c.granted_at,
    "expires_at": grants.c.expires_at,
    "review_due_at": grants.c.review_due_at,
}
_REQUEST_COLUMNS = {
    **{
        name: access_requests.c[name]
        for name in (
            "kind",
            "grant_id",
            "requester",
            "duration_hours",
            "justification",
            "approvals_needed",
            "decided_by",
            "reason",
            "created_at",
        )
    },
    "approver": request_approvers.c.user_id,
    "approver_approved_at": request_approvers.c.approved_at,
}
_GRANTS_AND_PENDING_REQUESTS_OF = sa.union_all(
    sa.select(
        sa.literal("grant").label("row_kind"),
        grants.c.id,
        grants.c.secret_id,
        grants.c.status,
        *(column.label(name) for name, column in _GRANT_COLUMNS.items()),
        *(_nothing(column, name) for name, column in _REQUEST_COLUMNS.items()),
    ).where(*_ACTIVE_GRANTS_OF.whereclause.clauses),
    sa.select(
        sa.literal("request").label("row_kind"),
        access_requests.c.id,
        access_requests.c.secret_id,
        access_requests.c.status,
        *(_nothing(column, name) for name, column in _GRANT_COLUMNS.items()),
        *(column.label(name) for name, column in _REQUEST_COLUMNS.items()),
    )
    .join_from(
        access_requests,
        request_approvers,
        request_approvers.c.request_id == access_requests.c.id,
        isouter=True,
    )
    .where(*_PENDING_REQUESTS_OF.whereclause.clauses),
).order_by(
    sa.literal_column("row_kind"),
    sa.literal_column("expires_at"),
    sa.literal_column("id"),
    sa.literal_column("approver_approved_at"),
    sa.literal_column("approver"),
)


async def grants_and_pending_requests_of(
    conn: Connection, catalog: Catalog, user_id: str, now: datetime
) -> tuple[list[GrantInfo], list[RequestInfo]]:
    """`active_grants_of` and `pending_requests_of`, read in one statement."""
    rows = await conn.read_rows(_GRANTS_AND_PENDING_REQUESTS_OF, {"user_id": user_id, "now": now})
    return (
        [grant_from_row(row) for row in rows if row.row_kind == "grant"],
        _requests_from_rows(catalog, (row for row in rows if row.row_kind == "request")),
    )


async def list_secrets(
    conn: Connection, catalog: Catalog, user_id: str, now: datetime
) -> list[SecretListing]:
    my_grants, my_requests = await grants_and_pending_requests_of(conn, catalog, user_id, now)
    mine = {g.secret_id: g for g in my_grants}
    pending = {r.secret_id for r in my_requests}
    return [
        SecretListing(
            secret=s,
            owners=list(s.owners),
            has_access=s.id in mine,
            pending=s.id in pending,
            expires_at=mine[s.id].expires_at if s.id in mine else None,
        )
        for s in catalog.secrets
    ]


async def revoke_grant(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    grant_ref: str,
    actor: str,
    reason: str = "revoked",
) -> GrantInfo:
    """An owner or admin revokes a grant, or a grantee gives up their own."""
    grant_id = parse_grant_id(grant_ref)
    locked = (
        await conn.execute(sa.select(grants.c.id).where(grants.c.id == grant_id).with_for_update())
    ).first()
    grant = await _get_grant(conn, grant_id) if locked else None
    if grant is None:
        raise NotFound(f"There is no grant G-{grant_id}.")
    secret = catalog.secret(grant.secret_id)
    owners = await resolve_principals(conn, secret.owners) if secret else []
    if actor != grant.grantee and actor not in owners and not catalog.is_admin(actor):
        raise NotAllowed(f"Only the owners of the secret, an admin or the grantee can revoke G-{grant_id}.")
    if grant.status != "active":
        raise AlreadyDecided(f"Grant G-{grant_id} has already {grant.status}.")
    return await end_grant(conn, catalog, now, grant=grant, status="revoked", actor=actor, reason=reason)


async def end_grant(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    grant: GrantInfo,
    status: str,
    actor: str,
    reason: str,
    notify_grantee: bool = True,
) -> GrantInfo:
    """Move an active grant to revoked or expired, audited, telling the grantee unless they did it."""
    await conn.execute(
        grants.update()
        .where(grants.c.id == grant.id, grants.c.status == "active")
        .values(status=status, ended_at=now, ended_by=actor, end_reason=reason)
    )
    await record_grant_end(conn, now, grant=grant, status=status, actor=actor, reason=reason)
    if notify_grantee and actor != grant.grantee:
        secret = catalog.secret(grant.secret_id)
        await outbox.enqueue(
            conn,
            recipient=grant.grantee,
            kind="grant_ended",
            now=now,
            data={
                "grant_id": grant.id,
                "secret_name": secret.name if secret else grant.secret_id,
                "status": status,
                "actor": actor,
                "reason": reason,
            },
        )
    ended = await _get_grant(conn, grant.id)
    assert ended is not None
    return ended
