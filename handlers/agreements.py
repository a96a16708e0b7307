"""/nda, /nda status and the I acknowledge button, wherever it appears (a refusal, a DM, a modal, the
App Home)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks import agreements as blocks
from handlers.blocks.access import notice_modal
from handlers.blocks.common import section
from handlers.common import ephemeral, services_of
from handlers.home import publish_home
from handlers.ids import Action
from workflows import agreements, compliance
from workflows.errors import InvalidInput


async def handle_nda_command(ack: AsyncAck, command: dict, context: AsyncBoltContext) -> None:
    services = services_of(context)
    user_id = command["user_id"]
    words = (command.get("text") or "").split()
    sub = words[0].lower() if words else ""
    now = services.now()
    if sub == "":
        async with services.db.read() as conn:
            overview = await agreements.overview(conn, services.catalog, user_id, now)
        await ack(response_type="ephemeral", **blocks.nda_overview(overview, now))
        return
    if sub == "help":
        await ack(ephemeral(blocks.NDA_USAGE))
        return
    if sub == "status":
        page_text = words[1] if len(words) == 2 else "1"
        if len(words) > 2 or not (page_text.isascii() and page_text.isdigit()):
            raise InvalidInput(f"Usage: `/nda status [page]`.\n\n{blocks.NDA_USAGE}")
        page = int(page_text)
        async with services.db.read() as conn:
            coverage = await compliance.nda_status(conn, services.catalog, user_id, now)
        await ack(response_type="ephemeral", **blocks.nda_status(coverage, now, page))
        return
    raise InvalidInput(f"I don't know `/nda {sub[:30]}`.\n\n{blocks.NDA_USAGE}")


async def handle_nda_status_page_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    value = body["actions"][0].get("value", "1")
    page = int(value) if value.isascii() and value.isdigit() else 1
    now = services.now()
    async with services.db.read() as conn:
        coverage = await compliance.nda_status(conn, services.catalog, body["user"]["id"], now)
    await ack()
    await respond(replace_original=True, response_type="ephemeral", **blocks.nda_status(coverage, now, page))


async def handle_acknowledge_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    user_id = body["user"]["id"]
    agreement_id, _, version = body["actions"][0]["value"].partition("|")
    async with services.db.write() as conn:
        agreement = await agreements.acknowledge(
            conn,
            services.catalog,
            services.now(),
            user_id=user_id,
            agreement_id=agreement_id,
            version=version,
        )
    await ack()
    text = blocks.acknowledged_text(agreement, version)
    view_type = body.get("view", {}).get("type")
    if view_type == "home":
        await publish_home(client, services, user_id)
    elif view_type == "modal":
        await client.views_update(
            view_id=body["view"]["id"], view=notice_modal("Acknowledged", [section(text)])
        )
    elif body.get("response_url"):
        await respond(text=text, response_type="ephemeral", replace_original=False)


def register(app: AsyncApp) -> None:
    app.command("/nda")(handle_nda_command)
    app.action(Action.ACKNOWLEDGE_AGREEMENT)(handle_acknowledge_button)
    app.action(Action.NDA_STATUS_PREVIOUS)(handle_nda_status_page_button)
    app.action(Action.NDA_STATUS_NEXT)(handle_nda_status_page_button)
