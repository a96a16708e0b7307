"""Buttons in a classification review (Still secret, Declassify, Change owners) and their forms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from config.catalog import Secret
from handlers.blocks import classification as blocks
from handlers.blocks.access import notice_modal
from handlers.blocks.common import section
from handlers.common import input_value, services_of
from handlers.ids import ClassificationAction, ClassificationBlock, ClassificationView
from workflows import classification


async def handle_still_secret_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    async with services.db.write() as conn:
        answer = await classification.confirm_still_secret(
            conn,
            services.catalog,
            services.now(),
            secret_id=body["actions"][0]["value"],
            user_id=body["user"]["id"],
        )
    await ack()
    original = (body.get("message") or {}).get("blocks") or []
    await respond(replace_original=True, **blocks.review_recorded(original, answer))


def _opens(render: Callable[[Secret], dict[str, Any]]) -> Callable[..., Awaitable[None]]:
    """Declassify and Change owners: check the clicker may answer, then open that form."""

    async def handle_review_form_button(
        ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        services = services_of(context)
        async with services.db.read() as conn:
            secret = await classification.check_can_answer(
                conn, services.catalog, body["actions"][0]["value"], body["user"]["id"]
            )
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=render(secret))

    return handle_review_form_button


async def handle_declassify_submission(
    ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    async with services.db.write() as conn:
        answer = await classification.declassify(
            conn,
            services.catalog,
            services.now(),
            secret_id=view["private_metadata"],
            user_id=body["user"]["id"],
            note=input_value(view, ClassificationBlock.NOTE),
        )
    await ack(
        response_action="update", view=notice_modal("Declassified", [section(blocks.outcome_line(answer))])
    )


async def handle_change_owners_submission(
    ack: AsyncAck, body: dict, view: dict, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    async with services.db.write() as conn:
        answer = await classification.propose_owners(
            conn,
            services.catalog,
            services.now(),
            secret_id=view["private_metadata"],
            user_id=body["user"]["id"],
            owners=(input_value(view, ClassificationBlock.OWNERS) or "").split(","),
            note=input_value(view, ClassificationBlock.NOTE),
            field=ClassificationBlock.OWNERS,
        )
    await ack(
        response_action="update", view=notice_modal("Owners recorded", [section(blocks.outcome_line(answer))])
    )


def register(app: AsyncApp) -> None:
    app.action(ClassificationAction.STILL_SECRET)(handle_still_secret_button)
    app.action(ClassificationAction.DECLASSIFY)(_opens(blocks.declassify_modal))
    app.action(ClassificationAction.CHANGE_OWNERS)(_opens(blocks.owners_modal))
    app.view(ClassificationView.DECLASSIFY)(handle_declassify_submission)
    app.view(ClassificationView.CHANGE_OWNERS)(handle_change_owners_submission)
