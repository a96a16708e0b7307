"""Events API: members joining (welcome), changing (scope, offboarding on deactivation)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from handlers.common import services_of
from workflows.directory import member_from_slack
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


def register(app: AsyncApp) -> None:
    app.event("user_change")(handle_user_change_event)
    app.event("team_join")(handle_team_join_event)
