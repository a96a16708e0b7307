"""Confidentiality agreements: what a person owes and the acknowledgements that prove what they signed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from config.catalog import Agreement, Catalog
from workflows import audit
from workflows.errors import InvalidInput, NotFound
from workflows.sql import insert_if_absent
from workflows.tables import acknowledgements


@dataclass(frozen=True)
class Acknowledgement:
    agreement_id: str
    version: str
    at: datetime


async def acknowledgements_of(conn: AsyncConnection, user_id: str) -> list[Acknowledgement]:
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


async def missing_for(
    conn: AsyncConnection, catalog: Catalog, user_id: str, agreement_ids: list[str], now: datetime
) -> list[Agreement]:
    """Those of the named agreements the person has not acknowledged in their current version."""
    if not agreement_ids:
        return []
    acks = await acknowledgements_of(conn, user_id)
    wanted = [catalog.agreement(a) for a in agreement_ids]
    return [a for a in wanted if a is not None and not is_current(a, acks, now)]


async def acknowledge(
    conn: AsyncConnection, catalog: Catalog, now: datetime, *, user_id: str, agreement_id: str, version: str
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
    await audit.record(
        conn,
        at=now,
        actor=user_id,
        action="agreement.acknowledged",
        subject=user_id,
        details={"agreement": agreement.id, "version": version, "renewal": not inserted},
    )
    return agreement
