"""Who owes which agreement version, since when: the record behind `due_days` and the reminders.

An obligation row is written the first time a person is in scope of an agreement's current version
(at start, on the daily directory sync, on `team_join` and `user_change`). Acknowledging it clears its
`due_at`; a renewal (`renew_every_days`) makes it owed again from the day the acknowledgement lapses.
Like the member directory they derive from, obligations are bookkeeping and not audited one by one:
the acknowledgements, the welcomes and each newly published version are.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from config.catalog import Agreement, Catalog, Training
from workflows.connection import Connection
from workflows.directory import Member
from workflows.sql import insert_if_absent
from workflows.tables import acknowledgements, agreement_obligations, agreement_versions, members

CHUNK = 500  # ids per IN (...) list: well inside SQLite's and asyncpg's parameter limits


def applies_to(agreement: Agreement | Training, member: Member | None) -> bool:
    """In scope (of an agreement or a training): people (never bots, never deactivated) that
    `applies_to` covers. Someone the directory has not seen yet is taken for a full member."""
    if member is None:
        return agreement.applies_to in ("everyone", "members")
    if member.is_bot or member.deleted:
        return False
    if agreement.applies_to == "members":
        return not member.is_guest
    if agreement.applies_to == "guests":
        return member.is_guest
    return True


def lapses_at(agreement: Agreement, acknowledged_at: datetime) -> datetime | None:
    """When an acknowledgement must be renewed; None when it never lapses."""
    if agreement.renew_every_days is None:
        return None
    return acknowledged_at + timedelta(days=agreement.renew_every_days)


def still_valid(agreement: Agreement, acknowledged_at: datetime, now: datetime) -> bool:
    lapse = lapses_at(agreement, acknowledged_at)
    return lapse is None or now < lapse


def first_due(agreement: Agreement, owed_from: datetime | None) -> datetime | None:
    return owed_from + timedelta(days=agreement.due_days) if owed_from is not None else None


@dataclass(frozen=True)
class PublishedVersions:
    new: list[Agreement]  # versions Confide sees for the first time
    first_load: bool  # no version was known before: a fresh installation
    previous: dict[str, str]  # agreement id → the version known before, for those that had one


async def record_versions(conn: Connection, catalog: Catalog, now: datetime) -> PublishedVersions:
    """Remember when each agreement version was first loaded, and what it said about itself."""
    rows = (await conn.execute(sa.select(agreement_versions))).all()
    known = {(r.agreement_id, r.version) for r in rows}
    latest = {r.agreement_id: r.version for r in sorted(rows, key=lambda r: r.first_seen_at)}
    new: list[Agreement] = []
    for agreement in catalog.agreements:
        if (agreement.id, agreement.version) in known:
            continue
        inserted = await insert_if_absent(
            conn,
            agreement_versions,
            {
                "agreement_id": agreement.id,
                "version": agreement.version,
                "title": agreement.title[:200],
                "url": agreement.url,
                "applies_to": agreement.applies_to,
                "dtsa_notice": agreement.dtsa_notice,
                "first_seen_at": now,
            },
        )
        if inserted:  # else another replica got there first, and announces it
            new.append(agreement)
    return PublishedVersions(new, first_load=not known, previous=latest)


async def version_titles(conn: Connection) -> dict[tuple[str, str], str]:
    """Titles of every version ever loaded, for agreements the catalog no longer lists."""
    rows = await conn.execute(
        sa.select(agreement_versions.c.agreement_id, agreement_versions.c.version, agreement_versions.c.title)
    )
    return {(r.agreement_id, r.version): r.title for r in rows}


async def refresh_obligations(
    conn: Connection, catalog: Catalog, now: datetime, user_ids: Collection[str] | None = None
) -> dict[str, list[str]]:
    """Bring obligations in line with the directory and the catalog, for everyone or the people named.

    Returns, per agreement id, the people who started owing its current version just now.
    """
    people = await _people(conn, user_ids)
    newly_owing: dict[str, list[str]] = {}
    for agreement in catalog.agreements:
        in_scope = {u for u, m in people.items() if applies_to(agreement, m)}
        existing = await _obligations(conn, agreement, user_ids)
        acks = await _acknowledged_at(conn, agreement, user_ids)
        rows: list[dict[str, Any]] = []
        for user_id in sorted(in_scope - existing.keys()):
            at = acks.get(user_id)
            if at is not None and still_valid(agreement, at, now):
                owed_from = lapses_at(agreement, at)
            else:
                owed_from = lapses_at(agreement, at) if at is not None else now
                newly_owing.setdefault(agreement.id, []).append(user_id)
            rows.append(
                {
                    "user_id": user_id,
                    "agreement_id": agreement.id,
                    "version": agreement.version,
                    "first_owed_at": min(at, now) if at is not None else now,
                    "owed_from": owed_from,
                    "acknowledged_at": at,
                    "due_at": first_due(agreement, owed_from),
                }
            )
        if rows:
            await _insert_all_if_absent(conn, rows)
        await _follow_scope(conn, agreement, existing, in_scope)
    await _stand_down_superseded(conn, catalog, user_ids)
    return newly_owing


async def mark_acknowledged(conn: Connection, agreement: Agreement, user_id: str, now: datetime) -> None:
    """Nothing is due any more, until the acknowledgement lapses (renewals)."""
    owed_from = lapses_at(agreement, now)
    values = {
        "owed_from": owed_from,
        "acknowledged_at": now,
        "due_at": first_due(agreement, owed_from),
        "last_notified_at": None,
        "notify_count": 0,
    }
    key = {"user_id": user_id, "agreement_id": agreement.id, "version": agreement.version}
    if not await insert_if_absent(conn, agreement_obligations, {**key, "first_owed_at": now, **values}):
        await conn.execute(
            agreement_obligations.update()
            .where(*(agreement_obligations.c[k] == v for k, v in key.items()))
            .values(**values)
        )


async def owed_from_of(conn: Connection, user_id: str) -> dict[tuple[str, str], datetime | None]:
    """(agreement, version) → since when this person owes it, for every obligation they have."""
    rows = await conn.execute(
        sa.select(
            agreement_obligations.c.agreement_id,
            agreement_obligations.c.version,
            agreement_obligations.c.owed_from,
        ).where(agreement_obligations.c.user_id == user_id)
    )
    return {(r.agreement_id, r.version): r.owed_from for r in rows}


async def owed_from_for(conn: Connection, agreement: Agreement) -> dict[str, datetime | None]:
    """user → since when they owe the agreement's current version."""
    return {u: r.owed_from for u, r in (await _obligations(conn, agreement, None)).items()}


# ---- internals ---------------------------------------------------------------------------------------


def _chunks(ids: Iterable[str]) -> list[list[str]]:
    ordered = sorted(set(ids))
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


async def _people(conn: Connection, user_ids: Collection[str] | None) -> dict[str, Member]:
    query = sa.select(members)
    if user_ids is None:
        rows = (await conn.execute(query)).all()
    else:
        rows = []
        for chunk in _chunks(user_ids):
            rows += (await conn.execute(query.where(members.c.user_id.in_(chunk)))).all()
    return {r.user_id: Member(r.user_id, r.name, r.is_bot, r.is_guest, r.deleted, r.tz) for r in rows}


async def _obligations(
    conn: Connection, agreement: Agreement, user_ids: Collection[str] | None
) -> dict[str, sa.Row[Any]]:
    query = sa.select(agreement_obligations).where(
        agreement_obligations.c.agreement_id == agreement.id,
        agreement_obligations.c.version == agreement.version,
    )
    if user_ids is None:
        return {r.user_id: r for r in await conn.execute(query)}
    found: dict[str, sa.Row[Any]] = {}
    for chunk in _chunks(user_ids):
        found.update(
            {
                r.user_id: r
                for r in await conn.execute(query.where(agreement_obligations.c.user_id.in_(chunk)))
            }
        )
    return found


async def _acknowledged_at(
    conn: Connection, agreement: Agreement, user_ids: Collection[str] | None
) -> dict[str, datetime]:
    query = sa.select(acknowledgements.c.user_id, acknowledgements.c.at).where(
        acknowledgements.c.agreement_id == agreement.id, acknowledgements.c.version == agreement.version
    )
    if user_ids is None:
        return {r.user_id: r.at for r in await conn.execute(query)}
    found: dict[str, datetime] = {}
    for chunk in _chunks(user_ids):
        found.update(
            {r.user_id: r.at for r in await conn.execute(query.where(acknowledgements.c.user_id.in_(chunk)))}
        )
    return found


async def _insert_all_if_absent(conn: Connection, rows: list[dict[str, Any]]) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(agreement_obligations).on_conflict_do_nothing()
    for i in range(0, len(rows), CHUNK):
        await conn.execute(statement, rows[i : i + CHUNK])


async def _follow_scope(
    conn: Connection, agreement: Agreement, existing: dict[str, sa.Row[Any]], in_scope: set[str]
) -> None:
    """Nothing is due from people who left the scope; people back in scope (or a changed `due_days`
    before any reminder went out) get their due date from when they started owing."""
    this_version = (
        agreement_obligations.c.agreement_id == agreement.id,
        agreement_obligations.c.version == agreement.version,
    )
    leaving = [u for u, r in existing.items() if u not in in_scope and r.due_at is not None]
    for chunk in _chunks(leaving):
        await conn.execute(
            agreement_obligations.update()
            .where(*this_version, agreement_obligations.c.user_id.in_(chunk))
            .values(due_at=None)
        )
    for user_id, row in existing.items():
        if user_id not in in_scope or row.owed_from is None:
            continue
        wanted = first_due(agreement, row.owed_from)
        if row.due_at is None or (row.notify_count == 0 and row.due_at != wanted):
            await conn.execute(
                agreement_obligations.update()
                .where(*this_version, agreement_obligations.c.user_id == user_id)
                .values(due_at=wanted)
            )


async def _stand_down_superseded(
    conn: Connection, catalog: Catalog, user_ids: Collection[str] | None
) -> None:
    """An old version, or an agreement gone from the catalog, is never due again."""
    current = [
        sa.and_(agreement_obligations.c.agreement_id == a.id, agreement_obligations.c.version == a.version)
        for a in catalog.agreements
    ]
    statement = agreement_obligations.update().where(agreement_obligations.c.due_at.is_not(None))
    if current:
        statement = statement.where(sa.not_(sa.or_(*current)))
    if user_ids is None:
        await conn.execute(statement.values(due_at=None))
        return
    for chunk in _chunks(user_ids):
        await conn.execute(statement.where(agreement_obligations.c.user_id.in_(chunk)).values(due_at=None))
