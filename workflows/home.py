"""What a person's App Home shows: their access, what they owe, and what they answer for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from config.catalog import Catalog
from workflows import access, compliance, kudos, training
from workflows.agreements import OwedAgreement, owed_by
from workflows.connection import Connection
from workflows.directory import resolve_principals
from workflows.kudos import Kudos
from workflows.training import TrainingOverview


@dataclass(frozen=True)
class Home:
    user_id: str
    now: datetime
    owed: list[OwedAgreement]
    grants: list[access.GrantInfo]
    pending: list[access.RequestInfo]
    reviews_due: list[compliance.GrantDue] | None  # None: the person owns no secret
    dashboard: compliance.Dashboard | None  # None: not an admin
    training: TrainingOverview | None = None
    kudos_received: int = 0
    latest_kudos: list[Kudos] = field(default_factory=list)


async def secrets_owned_by(conn: Connection, catalog: Catalog, user_id: str) -> list[str]:
    """The secrets whose owners (users or user groups) include this person."""
    return [s.id for s in catalog.secrets if user_id in await resolve_principals(conn, s.owners)]


async def home_for(conn: Connection, catalog: Catalog, user_id: str, now: datetime) -> Home:
    """Everything the App Home shows this person, as of now."""
    owned = await secrets_owned_by(conn, catalog, user_id)
    kudos_count, latest_kudos = await kudos.received_by(conn, user_id)
    grants, pending = await access.grants_and_pending_requests_of(conn, catalog, user_id, now)
    return Home(
        user_id=user_id,
        now=now,
        owed=await owed_by(conn, catalog, user_id, now),
        grants=grants,
        pending=pending,
        reviews_due=await compliance.reviews_due(conn, catalog, now, owned) if owned else None,
        dashboard=await compliance.dashboard(conn, catalog, now) if catalog.is_admin(user_id) else None,
        training=await training.overview(conn, catalog, user_id, now),
        kudos_received=kudos_count,
        latest_kudos=latest_kudos,
    )
