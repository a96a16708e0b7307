"""/confide: what Confide does, and the admins' tools (status dashboard, audit trail)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from handlers.blocks import admin as blocks
from handlers.blocks.access import ACCESS_USAGE
from handlers.blocks.dashboard import dashboard_message
from handlers.common import ephemeral, services_of
from workflows import audit, compliance
from workflows.errors import InvalidInput

CONFIDE_HELP = f"""*Confide* keeps the company's trade secrets safe where you already work: access to each \
secret by request and owner approval, time-bound and re-certified; confidentiality agreements \
acknowledged with one click; leaks reported anonymously; everything audited.

{ACCESS_USAGE}

*`/nda`* — the confidentiality agreements you still owe, with an I acknowledge button
*`/report-leak`* — report a suspected leak, anonymously by default
*`/training`* — confidentiality training you owe: short lessons and a quiz
*`/kudos @person <what they did>`* — thank someone for protecting a secret
*`/confide help`* — this help
The App Home (Confide's *Home* tab) shows your access, requests, agreements, training and kudos at a glance.

*For admins*
• `/nda status` — acknowledged / in scope per agreement, and who is outstanding
• `/training status` — passed / in scope per training, and who is outstanding
• `/confide status` — the compliance dashboard: coverage, reviews due and overdue, pending requests, \
open cases by age, overdue items, training, classification reviews and their outcomes
• `/confide audit <user-id|secret-id|CASE-n>` — recent audit entries for that subject"""


async def handle_confide_command(ack: AsyncAck, command: dict, context: AsyncBoltContext) -> None:
    words = (command.get("text") or "").strip().split()
    sub = words[0].lower() if words else ""
    if sub in ("", "help"):
        await ack(ephemeral(CONFIDE_HELP))
        return
    services = services_of(context)
    user_id = command["user_id"]
    now = services.now()
    if sub == "status":
        async with services.db.read() as conn:
            dashboard = await compliance.admin_dashboard(conn, services.catalog, user_id, now)
        await ack(response_type="ephemeral", **dashboard_message(dashboard))
        return
    if sub == "audit":
        await audit.seal(services.db)  # so the trail shows what was done a moment ago
        async with services.db.read() as conn:
            subject, entries = await compliance.audit_trail(
                conn, services.catalog, user_id, " ".join(words[1:2]) if len(words) == 2 else ""
            )
        await ack(response_type="ephemeral", **blocks.audit_trail(subject, entries))
        return
    raise InvalidInput(f"I don't know `/confide {sub[:30]}`. Try `/confide help`.")


def register(app: AsyncApp) -> None:
    app.command("/confide")(handle_confide_command)
