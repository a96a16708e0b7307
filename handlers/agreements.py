"""The I acknowledge button, wherever it appears (a refusal, a DM, a modal, the App Home)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.access import notice_modal
from handlers.blocks.common import escape, section
from handlers.common import services_of
from handlers.ids import Action
from workflows import agreements


async def handle_acknowledge_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    agreement_id, _, version = body["actions"][0]["value"].partition("|")
    async with services.db.write() as conn:
        agreement = await agreements.acknowledge(
            conn,
            services.catalog,
            services.now(),
            user_id=body["user"]["id"],
            agreement_id=agreement_id,
            version=version,
        )
    await ack()
    text = (
        f"✅ Thank you: your acknowledgement of *{escape(agreement.title)}* ({escape(version)}) is recorded."
    )
    if body.get("view", {}).get("type") == "modal":
        await client.views_update(
            view_id=body["view"]["id"], view=notice_modal("Acknowledged", [section(text)])
        )
    elif body.get("response_url"):
        await respond(text=text, response_type="ephemeral", replace_original=False)


def register(app: AsyncApp) -> None:
    app.action(Action.ACKNOWLEDGE_AGREEMENT)(handle_acknowledge_button)
