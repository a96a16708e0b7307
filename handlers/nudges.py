"""Buttons in the sweep's messages: Keep and Revoke in an access review, Extend before expiry."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.access import notice_modal, request_filed
from handlers.blocks.nudges import extend_modal, review_recorded
from handlers.common import input_value, services_of
from handlers.ids import Action, Block, View
from workflows import access, reviews


async def handle_keep_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    grant_id = int(body["actions"][0]["value"])
    async with services.db.write() as conn:
        outcome = await reviews.keep_grant(
            conn, services.catalog, services.now(), grant_id=grant_id, actor=body["user"]["id"]
        )
    await ack()
    await respond(replace_original=True, **review_recorded(_message_blocks(body), outcome))


async def handle_revoke_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    grant_id = int(body["actions"][0]["value"])
    async with services.db.write() as conn:
        outcome = await reviews.revoke_in_review(
            conn, services.catalog, services.now(), grant_id=grant_id, actor=body["user"]["id"]
        )
    await ack()
    await respond(replace_original=True, **review_recorded(_message_blocks(body), outcome))


async def handle_extend_button(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    async with services.db.read() as conn:
        grant, secret = await reviews.grant_to_extend(
            conn,
            services.catalog,
            services.now(),
            grant_id=int(body["actions"][0]["value"]),
            user_id=body["user"]["id"],
        )
    await ack()
    await client.views_open(trigger_id=body["trigger_id"], view=extend_modal(grant, secret))


async def handle_extend_modal_submission(
    ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    duration = input_value(view, Block.DURATION)
    async with services.db.write() as conn:
        info = await access.request_extension(
            conn,
            services.catalog,
            services.now(),
            requester=body["user"]["id"],
            grant_ref=view["private_metadata"],
            duration_hours=access.parse_duration(duration) if duration else None,
            justification=input_value(view, Block.JUSTIFICATION) or "",
        )
    filed = request_filed(info)
    await ack(response_action="update", view=notice_modal("Extension requested", filed["blocks"]))


def _message_blocks(body: dict) -> list[dict]:
    return (body.get("message") or {}).get("blocks") or []


def register(app: AsyncApp) -> None:
    app.action(Action.KEEP_GRANT)(handle_keep_button)
    app.action(Action.REVOKE_GRANT)(handle_revoke_button)
    app.action(Action.EXTEND_GRANT)(handle_extend_button)
    app.view(View.EXTEND_GRANT)(handle_extend_modal_submission)
