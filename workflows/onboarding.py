"""Who is in scope of the agreements, kept current: new members welcomed, changes followed, new versions
announced."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from config.catalog import Agreement, Catalog
from workflows import audit, outbox
from workflows.agreements import owed_by
from workflows.connection import Connection
from workflows.directory import Member
from workflows.events import claim_event
from workflows.obligations import record_versions, refresh_obligations
from workflows.offboarding import sync_member
from workflows.training import owed_by as training_owed_by
from workflows.training_obligations import sync_obligations

WELCOME = "agreements_welcome"
PUBLISHED = "agreements_published"
AUDITED_USERS = 1000  # an audit entry names at most this many people


def agreement_data(agreement: Agreement) -> dict[str, Any]:
    """What a message needs to show an agreement with its I acknowledge button."""
    return {
        "id": agreement.id,
        "title": agreement.title,
        "version": agreement.version,
        "url": agreement.url,
    }


async def welcome_member(
    conn: Connection, catalog: Catalog, now: datetime, member: Member, event_id: str | None = None
) -> bool:
    """team_join: store the member, record what they owe, DM a welcome with the I acknowledge buttons.
    False for a repeated event."""
    if not await claim_event(conn, event_id, now):
        return False
    await sync_member(conn, catalog, now, member)
    if member.is_bot or member.deleted:
        return True
    await refresh_obligations(conn, catalog, now, user_ids=[member.user_id])
    await sync_obligations(conn, catalog, now, user_ids=[member.user_id])
    owed = [o.agreement for o in await owed_by(conn, catalog, member.user_id, now)]
    trainings = [o.training for o in await training_owed_by(conn, catalog, member.user_id, now)]
    await outbox.enqueue(
        conn,
        recipient=member.user_id,
        kind=WELCOME,
        now=now,
        data={
            "user": member.user_id,
            "agreements": [agreement_data(a) for a in owed],
            "trainings": [{"id": t.id, "title": t.title, "version": t.version} for t in trainings],
        },
    )
    await audit.record(
        conn,
        at=now,
        actor=audit.SYSTEM,
        action="member.welcomed",
        subject=member.user_id,
        details={"owes": [{"agreement": a.id, "version": a.version} for a in owed]},
    )
    return True


async def member_changed(
    conn: Connection, catalog: Catalog, now: datetime, member: Member, event_id: str | None = None
) -> bool:
    """user_change: store the member (offboarding them when deactivated), then follow their scope:
    a guest who becomes a member owes the members' agreements, and no longer the guests'."""
    if not await sync_member(conn, catalog, now, member, event_id=event_id):
        return False
    await refresh_obligations(conn, catalog, now, user_ids=[member.user_id])
    await sync_obligations(conn, catalog, now, user_ids=[member.user_id])
    return True


@dataclass(frozen=True)
class AgreementsSync:
    published: list[Agreement]
    announced_to: int  # people told about a new version


async def sync_agreements(conn: Connection, catalog: Catalog, now: datetime) -> AgreementsSync:
    """After the directory is read (at start and daily): record new versions and who owes what, and ask
    everyone in scope of a new version to acknowledge it (audited, naming them). A fresh installation
    records its catalog silently and asks nobody at once: the reminders after `due_days` do."""
    published = await record_versions(conn, catalog, now)
    newly_owing = await refresh_obligations(conn, catalog, now)
    if published.first_load:
        return AgreementsSync(published.new, 0)
    by_person: dict[str, list[Agreement]] = defaultdict(list)
    for agreement in published.new:
        asked = newly_owing.get(agreement.id, [])
        for user_id in asked:
            by_person[user_id].append(agreement)
        await audit.record(
            conn,
            at=now,
            actor=audit.SYSTEM,
            action="agreement.version_published",
            subject=agreement.id,
            details={
                "version": agreement.version,
                "previous_version": published.previous.get(agreement.id),
                "title": agreement.title,
                "url": agreement.url,
                "applies_to": agreement.applies_to,
                "dtsa_notice": agreement.dtsa_notice,
                "asked": len(asked),
                "users": asked[:AUDITED_USERS],
            },
        )
    for user_id, agreements in sorted(by_person.items()):
        await outbox.enqueue(
            conn,
            recipient=user_id,
            kind=PUBLISHED,
            now=now,
            data={"user": user_id, "agreements": [agreement_data(a) for a in agreements]},
        )
    return AgreementsSync(published.new, len(by_person))
