"""Confidentiality agreements: what a person owes and the acknowledgements that prove what they signed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from config.catalog import Agreement, Catalog
from workflows import audit, obligations
from workflows.connection import Connection
from workflows.directory import get_member
from workflows.errors import InvalidInput, NotFound
from workflows.sql import insert_if_absent
from workflows.tables import acknowledgements


@dataclass(frozen=True)
class Acknowledgement:
    agreement_id: str
    version: str
    at: datetime


async def acknowledgements_of(conn: Connection, user_id: str) -> list[Acknowledgement]:
    rows = await conn.execute(
        sa.select(acknowledgements.c.agreement_id, acknowledgements.c.version, acknowledgements.c.at)
        .where(acknowledgements.c.user_id == user_id)
        .order_by(acknowledgements.c.at)
    )
    return [Acknowledgement(r.agreement_id, r.version, r.at) for r in rows]


def is_current(agreement: Agreement, acks: list[Acknowledgement], now: datetime) -> bool:
    """Acknowledged in its current version, and not lapsed when it must be renewed."""
    for ack in acks:
        if ack.agreement_id != agreement.id or ack.version != agreement.version:
            continue
        if agreement.renew_every_days is None or ack.at > now - timedelta(days=agreement.renew_every_days):
            return True
    return False


@dataclass(frozen=True)
class OwedAgreement:
    agreement: Agreement
    owed_since: datetime | None  # due_days counts from here
    due_at: datetime | None  # reminders start then
    previous: Acknowledgement | None  # the person's latest acknowledgement of an earlier (or lapsed) one

    @property
    def is_renewal(self) -> bool:
        return self.previous is not None and self.previous.version == self.agreement.version


@dataclass(frozen=True)
class AcknowledgedAgreement:
    agreement_id: str
    title: str
    version: str
    at: datetime
    current: bool  # the catalog's version, not lapsed
    lapses_at: datetime | None


@dataclass(frozen=True)
class AgreementsOverview:
    owed: list[OwedAgreement]
    acknowledged: list[AcknowledgedAgreement]  # newest first; the whole history


async def owed_by(conn: Connection, catalog: Catalog, user_id: str, now: datetime) -> list[OwedAgreement]:
    """The agreements in scope for this person that they have not acknowledged in their current version."""
    member = await get_member(conn, user_id)
    acks = await acknowledgements_of(conn, user_id)
    owed_from = await obligations.owed_from_of(conn, user_id)
    owed: list[OwedAgreement] = []
    for agreement in catalog.agreements:
        if not obligations.applies_to(agreement, member) or is_current(agreement, acks, now):
            continue
        earlier = [a for a in acks if a.agreement_id == agreement.id]
        previous = max(earlier, key=lambda a: a.at) if earlier else None
        since = owed_from.get((agreement.id, agreement.version))
        if since is None and previous is not None and previous.version == agreement.version:
            since = obligations.lapses_at(agreement, previous.at)
        owed.append(OwedAgreement(agreement, since, obligations.first_due(agreement, since), previous))
    return owed


async def overview(conn: Connection, catalog: Catalog, user_id: str, now: datetime) -> AgreementsOverview:
    """What /nda shows: what the person owes, and every acknowledgement they ever made."""
    owed = await owed_by(conn, catalog, user_id, now)
    titles = await obligations.version_titles(conn)
    acks = await acknowledgements_of(conn, user_id)
    history: list[AcknowledgedAgreement] = []
    for ack in sorted(acks, key=lambda a: a.at, reverse=True):
        agreement = catalog.agreement(ack.agreement_id)
        title = titles.get((ack.agreement_id, ack.version)) or (
            agreement.title if agreement else ack.agreement_id
        )
        current = agreement is not None and is_current(agreement, [ack], now)
        lapse = obligations.lapses_at(agreement, ack.at) if current and agreement else None
        history.append(AcknowledgedAgreement(ack.agreement_id, title, ack.version, ack.at, current, lapse))
    return AgreementsOverview(owed, history)


async def missing_for(
    conn: Connection, catalog: Catalog, user_id: str, agreement_ids: list[str], now: datetime
) -> list[Agreement]:
    """Those of the named agreements the person has not acknowledged in their current version."""
    if not agreement_ids:
        return []
    acks = await acknowledgements_of(conn, user_id)
    wanted = [catalog.agreement(a) for a in agreement_ids]
    return [a for a in wanted if a is not None and not is_current(a, acks, now)]


async def acknowledge(
    conn: Connection, catalog: Catalog, now: datetime, *, user_id: str, agreement_id: str, version: str
) -> Agreement:
    """Record that a person acknowledged an agreement's version; kept forever, audited once."""
    agreement = catalog.agreement(agreement_id)
    if agreement is None:
        raise NotFound("That agreement is no longer in the catalog.")
    if version != agreement.version:
        raise InvalidInput(
            f"*{agreement.title}* has a newer version ({agreement.version}). Run `/nda` to see and "
            "acknowledge the current one."
        )
    acks = await acknowledgements_of(conn, user_id)
    if is_current(agreement, acks, now):
        return agreement
    if agreement.renew_every_days is not None:
        # A renewal refreshes the date; the audit log keeps every earlier acknowledgement as evidence.
        await conn.execute(
            acknowledgements.update()
            .where(
                acknowledgements.c.user_id == user_id,
                acknowledgements.c.agreement_id == agreement.id,
                acknowledgements.c.version == version,
            )
            .values(at=now)
        )
    inserted = await insert_if_absent(
        conn,
        acknowledgements,
        {"user_id": user_id, "agreement_id": agreement.id, "version": version, "at": now},
    )
    await obligations.mark_acknowledged(conn, agreement, user_id, now)
    await audit.record(
        conn,
        at=now,
        actor=user_id,
        action="agreement.acknowledged",
        subject=user_id,
        details={"agreement": agreement.id, "version": version, "renewal": not inserted},
    )
    return agreement
