"""Kudos: thanking the people who protect secrets, in the recognition channel (or by DM), counted in the
weekly digest and shown on their App Home."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from config.catalog import Catalog
from workflows import audit, outbox
from workflows.connection import Connection
from workflows.directory import get_member
from workflows.errors import InvalidInput, NotAllowed
from workflows.tables import kudos

if TYPE_CHECKING:
    from workflows.digest import DigestSection

USAGE = "Usage: `/kudos @person <what they did>`, e.g. `/kudos @sam reported a phishing email`."
KUDOS_MESSAGE = "kudos"  # the outbox kind
MESSAGE_LIMIT = 1000
DIGEST_LINES = 10
# should_escape is on for /kudos, so Slack sends `<@U123|name>`; a bare `<@U123>` is accepted too.
LEADING_MENTION = re.compile(r"^\s*<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Kudos:
    id: int
    giver: str
    recipient: str
    message: str
    posted_to: str  # the recognition channel, or the recipient (a DM)
    at: datetime


def parse_kudos(text: str) -> tuple[str, str]:
    """`<@U123|name> what they did` → (user id, message)."""
    match = LEADING_MENTION.match(text or "")
    if match is None:
        if (text or "").strip().startswith("@"):
            raise InvalidInput(
                f"I couldn't tell who you mean: pick the person from Slack's @ suggestions.\n{USAGE}"
            )
        raise InvalidInput(USAGE)
    return match.group(1), match.group(2).strip()


async def give_kudos(
    conn: Connection, catalog: Catalog, now: datetime, *, giver: str, recipient: str, message: str
) -> Kudos:
    """Record the kudos, audit it and post it to the recognition channel (or DM the person)."""
    if recipient == giver:
        raise NotAllowed("Kudos are for someone else, but thank you for protecting our secrets! 🙂")
    member = await get_member(conn, recipient)
    if member is not None and member.is_bot:
        raise NotAllowed(f"<@{recipient}> is a bot; kudos are for people.")
    if member is not None and member.deleted:
        raise NotAllowed(f"<@{recipient}> is no longer in the workspace.")
    message = message.strip()
    if not message:
        raise InvalidInput(f"Please say what <@{recipient}> did to protect a secret.\n{USAGE}")
    if len(message) > MESSAGE_LIMIT:
        raise InvalidInput(f"Please keep kudos under {MESSAGE_LIMIT} characters (yours has {len(message)}).")
    posted_to = catalog.recognition_channel or recipient
    kudos_id = (
        await conn.execute(
            kudos.insert()
            .values(giver=giver, recipient=recipient, message=message, posted_to=posted_to, at=now)
            .returning(kudos.c.id)
        )
    ).scalar_one()
    await outbox.enqueue(
        conn,
        recipient=posted_to,
        kind=KUDOS_MESSAGE,
        now=now,
        data={
            "giver": giver,
            "recipient": recipient,
            "message": message,
            "in_channel": posted_to != recipient,
        },
    )
    await audit.record(
        conn,
        at=now,
        actor=giver,
        action="kudos.given",
        subject=recipient,
        details={"kudos": kudos_id, "posted_to": posted_to},
    )
    return Kudos(kudos_id, giver, recipient, message, posted_to, now)


async def received_by(conn: Connection, user_id: str, limit: int = 5) -> tuple[int, list[Kudos]]:
    """How many kudos the person received, and the latest few."""
    count = (await conn.execute(sa.select(sa.func.count()).where(kudos.c.recipient == user_id))).scalar_one()
    rows = await conn.execute(
        sa.select(kudos)
        .where(kudos.c.recipient == user_id)
        .order_by(kudos.c.at.desc(), kudos.c.id.desc())
        .limit(limit)
    )
    return count, [_kudos(r) for r in rows]


async def kudos_given(conn: Connection, catalog: Catalog, now: datetime) -> DigestSection:
    """The digest's section: kudos given in the past week, newest first."""
    # workflows.digest lists this provider, so its import waits until the digest is built.
    from workflows.digest import DigestSection

    week = kudos.c.at > now - timedelta(days=7)
    count = (await conn.execute(sa.select(sa.func.count()).where(week))).scalar_one()
    rows = await conn.execute(sa.select(kudos).where(week).order_by(kudos.c.at.desc()).limit(DIGEST_LINES))
    lines = [f"<@{r.giver}> thanked <@{r.recipient}>: {_digest_text(r.message)}" for r in rows]
    if count > len(lines):
        lines.append(f"…and {count - len(lines)} more")
    people = (
        await conn.execute(sa.select(sa.func.count(sa.distinct(kudos.c.recipient))).where(week))
    ).scalar_one()
    return DigestSection("kudos", "Kudos this week", f"{count} kudos given to {people} people", lines)


def _digest_text(message: str) -> str:
    """User text in a mrkdwn line: one line, short, and unable to mention or link anything."""
    text = " ".join(message.split())
    text = text if len(text) <= 120 else text[:119] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _kudos(row: sa.Row[Any]) -> Kudos:
    return Kudos(row.id, row.giver, row.recipient, row.message, row.posted_to, row.at)
