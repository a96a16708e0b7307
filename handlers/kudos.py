"""/kudos @person <what they did>: thanks posted to the recognition channel, or by DM."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from handlers.blocks.kudos import kudos_sent
from handlers.common import ephemeral, services_of
from workflows import kudos


async def handle_kudos_command(ack: AsyncAck, command: dict, context: AsyncBoltContext) -> None:
    services = services_of(context)
    text = command.get("text") or ""
    if text.strip().lower() in ("", "help"):
        await ack(ephemeral(f"Thank someone for upholding confidentiality. {kudos.USAGE}"))
        return
    recipient, what = kudos.parse_kudos(text)
    async with services.db.write() as conn:
        given = await kudos.give_kudos(
            conn,
            services.catalog,
            services.now(),
            giver=command["user_id"],
            recipient=recipient,
            message=what,
        )
    await ack(ephemeral(kudos_sent(given)))


def register(app: AsyncApp) -> None:
    app.command("/kudos")(handle_kudos_command)
