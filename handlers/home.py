"""The App Home: published when someone opens it, and again after they act on it."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.home import home_view
from handlers.common import services_of
from workflows.home import home_for
from workflows.services import Services


async def publish_home(client: AsyncWebClient, services: Services, user_id: str) -> None:
    """Render this person's Home as of now and publish it (views.publish replaces the whole tab)."""
    async with services.db.read() as conn:
        home = await home_for(conn, services.catalog, user_id, services.now())
    await client.views_publish(user_id=user_id, view=home_view(home, services.catalog))


async def handle_app_home_opened_event(
    event: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    if event.get("tab", "home") != "home":  # the Messages tab needs nothing from us
        return
    await publish_home(client, services_of(context), event["user"])


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(handle_app_home_opened_event)
