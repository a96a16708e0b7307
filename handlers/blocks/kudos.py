"""Block Kit for kudos: the post in the recognition channel (or the DM), the giver's reply, the Home."""

from __future__ import annotations

import re
from typing import Any

from handlers.blocks.common import context, escape, message, section, slack_date, truncate, user
from workflows.kudos import Kudos

# People named in the kudos stay mentions (Slack sends them as <@U123|name>); everything else the giver
# typed is escaped, so it can never become a link, a channel mention or @here.
_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>")


def kudos_text(raw: str) -> str:
    out, last = [], 0
    for match in _MENTION.finditer(raw):
        out.append(escape(raw[last : match.start()]))
        out.append(user(match.group(1)))
        last = match.end()
    out.append(escape(raw[last:]))
    return "".join(out)


def kudos_message(data: dict[str, Any]) -> dict[str, Any]:
    """The outbox kind `kudos`: a post in the recognition channel, or a DM to the person thanked."""
    quote = "\n".join(f">{line}" for line in kudos_text(data["message"]).split("\n"))
    if data.get("in_channel"):
        text = f"🏅 {user(data['giver'])} thanks {user(data['recipient'])} for protecting our trade secrets"
    else:
        text = f"🏅 {user(data['giver'])} sent you kudos for protecting our trade secrets"
    return message(text, [section(f"{text}:\n{quote}")])


def kudos_sent(kudos: Kudos) -> str:
    where = (
        f"<#{kudos.posted_to}>" if kudos.posted_to != kudos.recipient else f"{user(kudos.recipient)} by DM"
    )
    return f"🏅 Thank you! Your kudos for {user(kudos.recipient)} went to {where}."


def home_kudos(count: int, latest: list[Kudos]) -> list[dict[str, Any]]:
    if not count:
        return [
            section("*Kudos you received*"),
            context("None yet. `/kudos @person <what they did>` thanks someone who protected a secret."),
        ]
    lines = [
        f"• {user(k.giver)}, {slack_date(k.at, '{date_short}')}: {kudos_text(_short(k.message))}"
        for k in latest
    ]
    blocks = [section(f"*Kudos you received: {count}* 🏅\n" + "\n".join(lines))]
    if count > len(latest):
        blocks.append(context(f"…and {count - len(latest)} earlier."))
    return blocks


def _short(raw: str, limit: int = 200) -> str:
    """One line, cut before escaping so that no entity or mention is cut in half."""
    text = " ".join(raw.split())
    return text if len(text) <= limit else truncate(text, limit)
