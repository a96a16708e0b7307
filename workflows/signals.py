"""Insider-risk signals: patterns worth a look by the security team, raised as alerts with evidence.

Each raiser runs inside the transaction of the event it watches (a request filed, a denial, an
offboarding, a wrong receipt key), so an alert exists exactly when its evidence does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from config.catalog import Catalog
from workflows import audit, outbox
from workflows.connection import Connection
from workflows.directory import get_member
from workflows.errors import AlreadyDecided, NotFound
from workflows.tables import access_requests, grants, signal_alerts

BURST = "request-burst"
OUT_OF_HOURS = "out-of-hours"
DENIALS = "repeated-denials"
DEPARTURE = "departure"
RECEIPT_KEYS = "receipt-key-spike"

TITLES = {
    BURST: "Burst of access requests",
    OUT_OF_HOURS: "Restricted secret requested outside working hours",
    DENIALS: "Repeated denials",
    DEPARTURE: "Departure soon after restricted grants",
    RECEIPT_KEYS: "Spike of wrong receipt keys",
}


@dataclass(frozen=True)
class Alert:
    id: int
    kind: str
    subject: str
    raised_at: datetime
    evidence: dict[str, Any]
    status: str
    case_ref: str | None
    handled_by: str | None

    def card_data(self) -> dict[str, Any]:
        return {
            "alert_id": self.id,
            "kind": self.kind,
            "title": TITLES.get(self.kind, self.kind),
            "subject": self.subject,
            "raised_at": self.raised_at.isoformat(),
            "evidence": self.evidence,
            "status": self.status,
            "case_ref": self.case_ref,
            "handled_by": self.handled_by,
        }


def alert_card_key(alert_id: int) -> str:
    return f"alert:{alert_id}"


async def raise_alert(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    kind: str,
    subject: str,
    window: timedelta,
    evidence: dict[str, Any],
) -> Alert | None:
    """Record and announce an alert, unless one of this kind for this subject is still within its window."""
    recent = (
        await conn.execute(
            sa.select(signal_alerts.c.id).where(
                signal_alerts.c.kind == kind,
                signal_alerts.c.subject == subject,
                signal_alerts.c.raised_at > now - window,
            )
        )
    ).first()
    if recent is not None:
        return None
    alert_id = (
        await conn.execute(
            signal_alerts.insert()
            .values(kind=kind, subject=subject, raised_at=now, evidence=json.dumps(evidence, default=str))
            .returning(signal_alerts.c.id)
        )
    ).scalar_one()
    await audit.record(
        conn,
        at=now,
        actor=audit.SYSTEM,
        action="signal.raised",
        subject=subject,
        details={"alert": alert_id, "kind": kind},
    )
    alert = await get_alert(conn, alert_id)
    for recipient in _alert_recipients(catalog):
        await outbox.enqueue(
            conn,
            recipient=recipient,
            kind="signal_alert",
            data=alert.card_data(),
            now=now,
            card_key=alert_card_key(alert_id),
        )
    return alert


def _alert_recipients(catalog: Catalog) -> list[str]:
    return [catalog.security_channel] if catalog.security_channel else list(catalog.admins)


async def get_alert(conn: Connection, alert_id: int) -> Alert:
    row = (await conn.execute(sa.select(signal_alerts).where(signal_alerts.c.id == alert_id))).first()
    if row is None:
        raise NotFound(f"There is no alert {alert_id}.")
    return Alert(
        row.id,
        row.kind,
        row.subject,
        row.raised_at,
        json.loads(row.evidence),
        row.status,
        row.case_ref,
        row.handled_by,
    )


# Built once: it runs on every access request.
_RECENT_REQUESTS_OF = (
    sa.select(access_requests.c.id, access_requests.c.secret_id, access_requests.c.created_at)
    .where(
        access_requests.c.requester == sa.bindparam("user_id"),
        access_requests.c.created_at > sa.bindparam("since"),
    )
    .order_by(access_requests.c.id)
)


# For a query about to file a request (`access.request_access` reads it with the rest of the
# requester's standing): how many other secrets they requested within the burst window, bound as
# `burst_since`. Below the threshold the request cannot make a burst, and `after_request` skips its read.
OTHER_SECRETS_REQUESTED_RECENTLY = (
    sa.select(sa.func.count(sa.distinct(access_requests.c.secret_id)))
    .where(
        access_requests.c.requester == sa.bindparam("user_id"),
        access_requests.c.created_at > sa.bindparam("burst_since"),
        access_requests.c.secret_id != sa.bindparam("secret_id"),
    )
    .scalar_subquery()
)


def burst_since(catalog: Catalog, now: datetime) -> datetime:
    return now - timedelta(hours=catalog.signals.burst_hours)


async def after_request(
    conn: Connection,
    catalog: Catalog,
    now: datetime,
    *,
    requester: str,
    secret_id: str,
    other_secrets_recently: int | None = None,
) -> None:
    """Burst of requests; restricted secrets requested outside the requester's working hours.

    `other_secrets_recently`: OTHER_SECRETS_REQUESTED_RECENTLY as read before this request was filed,
    when the caller has it."""
    settings = catalog.signals
    if other_secrets_recently is None or other_secrets_recently + 1 >= settings.burst_secrets:
        await _check_burst(conn, catalog, now, requester)
    await _check_hours(conn, catalog, now, requester, secret_id)


async def _check_burst(conn: Connection, catalog: Catalog, now: datetime, requester: str) -> None:
    settings = catalog.signals
    since = burst_since(catalog, now)
    rows = (await conn.execute(_RECENT_REQUESTS_OF, {"user_id": requester, "since": since})).all()
    distinct = sorted({r.secret_id for r in rows})
    if len(distinct) >= settings.burst_secrets:
        await raise_alert(
            conn,
            catalog,
            now,
            kind=BURST,
            subject=requester,
            window=timedelta(hours=settings.burst_hours),
            evidence={
                "user": requester,
                "secrets": distinct,
                "requests": [r.id for r in rows],
                "hours": settings.burst_hours,
            },
        )


async def _check_hours(
    conn: Connection, catalog: Catalog, now: datetime, requester: str, secret_id: str
) -> None:
    settings = catalog.signals
    secret = catalog.secret(secret_id)
    if secret is None or secret.classification != "restricted":
        return
    member = await get_member(conn, requester)
    zone_name = (member.tz if member else None) or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone, zone_name = ZoneInfo("UTC"), "UTC"
    local = now.astimezone(zone)
    start_text, end_text = settings.working_hours.split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    if not start <= local.time().replace(tzinfo=None) < end:
        await raise_alert(
            conn,
            catalog,
            now,
            kind=OUT_OF_HOURS,
            subject=requester,
            window=timedelta(hours=24),
            evidence={
                "user": requester,
                "secret": secret.id,
                "local_time": local.strftime("%H:%M"),
                "time_zone": zone_name,
                "working_hours": settings.working_hours,
            },
        )


async def after_denial(conn: Connection, catalog: Catalog, now: datetime, *, requester: str) -> None:
    settings = catalog.signals
    window = timedelta(days=settings.denials_days)
    denied = (
        await conn.execute(
            sa.select(access_requests.c.id, access_requests.c.secret_id)
            .where(
                access_requests.c.requester == requester,
                access_requests.c.status == "denied",
                access_requests.c.decided_at > now - window,
            )
            .order_by(access_requests.c.id)
        )
    ).all()
    if len(denied) >= settings.denials:
        await raise_alert(
            conn,
            catalog,
            now,
            kind=DENIALS,
            subject=requester,
            window=window,
            evidence={
                "user": requester,
                "requests": [r.id for r in denied],
                "secrets": sorted({r.secret_id for r in denied}),
                "days": settings.denials_days,
            },
        )


async def at_departure(conn: Connection, catalog: Catalog, now: datetime, *, user_id: str) -> None:
    """Raised at offboarding: restricted grants received within the departure window."""
    settings = catalog.signals
    restricted = {s.id for s in catalog.secrets if s.classification == "restricted"}
    if not restricted:
        return
    recent = (
        await conn.execute(
            sa.select(grants.c.id, grants.c.secret_id, grants.c.granted_at)
            .where(
                grants.c.grantee == user_id,
                grants.c.secret_id.in_(restricted),
                grants.c.granted_at > now - timedelta(days=settings.departure_window_days),
            )
            .order_by(grants.c.id)
        )
    ).all()
    if recent:
        await raise_alert(
            conn,
            catalog,
            now,
            kind=DEPARTURE,
            subject=user_id,
            window=timedelta(days=settings.departure_window_days),
            evidence={
                "user": user_id,
                "days": settings.departure_window_days,
                "grants": [
                    {"grant": r.id, "secret": r.secret_id, "granted_at": r.granted_at.isoformat()}
                    for r in recent
                ],
            },
        )


async def after_receipt_failures(
    conn: Connection, catalog: Catalog, now: datetime, *, failures_this_hour: int
) -> None:
    """Counts only: who typed the wrong keys is never known, so the alert can name nobody."""
    if failures_this_hour >= catalog.signals.receipt_key_failures:
        await raise_alert(
            conn,
            catalog,
            now,
            kind=RECEIPT_KEYS,
            subject="receipt-keys",
            window=timedelta(hours=1),
            evidence={
                "failures_this_hour": failures_this_hour,
                "threshold": catalog.signals.receipt_key_failures,
            },
        )


async def mark_case_opened(
    conn: Connection, catalog: Catalog, now: datetime, *, alert_id: int, actor: str, case_ref: str
) -> Alert:
    """Link an alert to the case opened from it (once: the second click learns who was first)."""
    result = await conn.execute(
        signal_alerts.update()
        .where(signal_alerts.c.id == alert_id, signal_alerts.c.status == "open")
        .values(status="case-opened", case_ref=case_ref, handled_by=actor, handled_at=now)
    )
    if result.rowcount != 1:
        alert = await get_alert(conn, alert_id)
        raise AlreadyDecided(
            f"A case was already opened from this alert: {alert.case_ref} by <@{alert.handled_by}>."
        )
    await audit.record(
        conn, at=now, actor=actor, action="signal.case_opened", subject=case_ref, details={"alert": alert_id}
    )
    alert = await get_alert(conn, alert_id)
    for recipient in _alert_recipients(catalog):
        await outbox.enqueue(
            conn,
            recipient=recipient,
            kind="signal_alert",
            data=alert.card_data(),
            now=now,
            op="update",
            card_key=alert_card_key(alert_id),
        )
    return alert
