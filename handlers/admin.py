"""/confide: what Confide does, and the admins' tools."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from handlers.blocks.access import ACCESS_USAGE
from handlers.common import ephemeral
from workflows.errors import InvalidInput

CONFIDE_HELP = f"""*Confide* keeps the company's trade secrets safe where you already work: access to each \
secret by request and owner approval, time-bound and re-certified; confidentiality agreements \
acknowledged with one click; leaks reported anonymously; everything audited.

{ACCESS_USAGE}

*`/nda`* — the confidentiality agreements you still owe, with an I acknowledge button
*`/report-leak`* — report a suspected leak, anonymously by default
*`/training`* — confidentiality training you owe
*`/kudos @person <what they did>`* — thank someone for protecting a secret
*`/confide help`* — this help
*`/confide status`*, *`/confide audit <user|secret|CASE-n>`* — for admins"""


async def handle_confide_command(ack: AsyncAck, command: dict) -> None:
    sub = (command.get("text") or "").strip().split(" ")[0].lower()
    if sub in ("", "help"):
        await ack(ephemeral(CONFIDE_HELP))
        return
    raise InvalidInput(f"I don't know `/confide {sub[:30]}`. Try `/confide help`.")


def register(app: AsyncApp) -> None:
    app.command("/confide")(handle_confide_command)
