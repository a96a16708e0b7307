"""Open case, on an insider-risk alert in the security channel."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond

from handlers.common import services_of
from handlers.ids import Action
from workflows.alert_cases import open_case_from_alert
from workflows.cases import case_ref


async def handle_open_case_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    async with services.db.write() as conn:
        case = await open_case_from_alert(
            conn,
            services.catalog,
            services.now(),
            alert_id=int(body["actions"][0]["value"]),
            actor=body["user"]["id"],
        )
    await ack()
    await respond(
        text=f"{case_ref(case.id)} is open; it is posted in this channel.",
        response_type="ephemeral",
        replace_original=False,
    )


def register(app: AsyncApp) -> None:
    app.action(Action.OPEN_CASE_FROM_ALERT)(handle_open_case_button)
