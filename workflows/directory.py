"""The member directory: who is in the workspace, who is deactivated, who is in which user group."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from workflows.connection import Connection
from workflows.events import claim_event
from workflows.sql import insert_if_absent
from workflows.tables import group_members, members


@dataclass(frozen=True)
class Member:
    user_id: str
    name: str
    is_bot: bool
    is_guest: bool
    deleted: bool
    tz: str | None


def member_from_slack(user: dict[str, Any]) -> Member:
    """Read the fields Confide needs from a Slack user object (users.list, user_change, team_join)."""
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name")
        or profile.get("real_name")
        or user.get("real_name")
        or user.get("name")
        or ""
    )
    return Member(
        user_id=user["id"],
        name=str(name)[:200],
        is_bot=bool(user.get("is_bot")) or user.get("id") == "USLACKBOT",
        is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
        deleted=bool(user.get("deleted")),
        tz=user.get("tz"),
    )


async def upsert_member(conn: Connection, member: Member, now: datetime) -> Member | None:
    """Store a member's current state; returns the previous state (None for someone new)."""
    row = (await conn.execute(sa.select(members).where(members.c.user_id == member.user_id))).first()
    values = {
        "name": member.name,
        "is_bot": member.is_bot,
        "is_guest": member.is_guest,
        "deleted": member.deleted,
        "tz": member.tz,
        "updated_at": now,
    }
    if row is None:
        inserted = await insert_if_absent(
            conn, members, {"user_id": member.user_id, "first_seen_at": now, **values}
        )
        if inserted:
            return None
    await conn.execute(members.update().where(members.c.user_id == member.user_id).values(**values))
    return _member(row) if row is not None else None


async def get_member(conn: Connection, user_id: str) -> Member | None:
    row = (await conn.execute(sa.select(members).where(members.c.user_id == user_id))).first()
    return _member(row) if row else None


async def active_members(conn: Connection) -> list[Member]:
    """Everyone who can owe something: people (not bots) who are not deactivated, by id."""
    rows = await conn.execute(
        sa.select(members)
        .where(sa.not_(members.c.is_bot), sa.not_(members.c.deleted))
        .order_by(members.c.user_id)
    )
    return [_member(r) for r in rows]


# Built once: they run on every access request. Most secrets have one owner, and an expanding IN
# is rendered anew at every execution, so one id has a statement of its own.
_DEACTIVATED_AMONG = sa.select(members.c.user_id).where(
    members.c.user_id.in_(sa.bindparam("user_ids", expanding=True)), members.c.deleted
)
_DEACTIVATED_ONE = sa.select(members.c.user_id).where(
    members.c.user_id == sa.bindparam("user_id"), members.c.deleted
)


async def deactivated(conn: Connection, user_ids: Iterable[str]) -> set[str]:
    ids = list(set(user_ids))
    if not ids:
        return set()
    if len(ids) == 1:
        return set((await conn.execute(_DEACTIVATED_ONE, {"user_id": ids[0]})).scalars())
    return set((await conn.execute(_DEACTIVATED_AMONG, {"user_ids": ids})).scalars())


async def replace_group_members(conn: Connection, group_id: str, user_ids: Iterable[str]) -> None:
    await conn.execute(group_members.delete().where(group_members.c.group_id == group_id))
    rows = [{"group_id": group_id, "user_id": u} for u in sorted(set(user_ids))]
    if rows:
        await conn.execute(group_members.insert(), rows)


async def change_group_members(
    conn: Connection,
    now: datetime,
    group_id: str,
    *,
    added: Iterable[str],
    removed: Iterable[str],
    event_id: str | None = None,
) -> None:
    """Apply a `subteam_members_changed` event, so owner groups route to their current members."""
    if not await claim_event(conn, event_id, now):
        return
    removed = list(removed)
    if removed:
        await conn.execute(
            group_members.delete().where(
                group_members.c.group_id == group_id, group_members.c.user_id.in_(removed)
            )
        )
    for user_id in added:
        await insert_if_absent(conn, group_members, {"group_id": group_id, "user_id": user_id})


async def resolve_principals(conn: Connection, principals: Iterable[str]) -> list[str]:
    """Users and user groups (S...) to active user ids, in a stable order, without duplicates."""
    principals = list(principals)
    groups = [p for p in principals if p.startswith("S")]
    expanded: dict[str, None] = {p: None for p in principals if not p.startswith("S")}
    if groups:
        rows = await conn.execute(
            sa.select(group_members.c.user_id)
            .where(group_members.c.group_id.in_(groups))
            .order_by(group_members.c.user_id)
        )
        expanded.update({u: None for u in rows.scalars()})
    gone = await deactivated(conn, expanded)
    return [u for u in expanded if u not in gone]


def _member(row: sa.Row[Any]) -> Member:
    return Member(row.user_id, row.name, row.is_bot, row.is_guest, row.deleted, row.tz)
