"""Events API: members joining (welcome), changing (scope, offboarding on deactivation)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from handlers.common import services_of
from workflows.directory import change_group_members, member_from_slack
from workflows.onboarding import member_changed, welcome_member


async def handle_user_change_event(body: dict, event: dict, context: AsyncBoltContext) -> None:
    services = services_of(context)
    async with services.db.write() as conn:
        await member_changed(
            conn,
            services.catalog,
            services.now(),
            member_from_slack(event["user"]),
            event_id=body.get("event_id"),
        )


async def handle_team_join_event(body: dict, event: dict, context: AsyncBoltContext) -> None:
    services = services_of(context)
    async with services.db.write() as conn:
        await welcome_member(
            conn,
            services.catalog,
            services.now(),
            member_from_slack(event["user"]),
            event_id=body.get("event_id"),
        )


async def handle_subteam_members_changed_event(body: dict, event: dict, context: AsyncBoltContext) -> None:
    services = services_of(context)
    async with services.db.write() as conn:
        await change_group_members(
            conn,
            services.now(),
            event["subteam_id"],
            added=event.get("added_users") or [],
            removed=event.get("removed_users") or [],
            event_id=body.get("event_id"),
        )


def register(app: AsyncApp) -> None:
    app.event("user_change")(handle_user_change_event)
    app.event("subteam_members_changed")(handle_subteam_members_changed_event)
    app.event("team_join")(handle_team_join_event)
