"""The outbox: what Confide wants to say, written in the same transaction as what it reports."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflows.tables import outbox, slack_cards

_INSERT = outbox.insert()  # built once: every notification goes through here
LEASE = timedelta(seconds=60)  # a claimed row is retried by someone else if its sender dies
MAX_BACKOFF = timedelta(seconds=60)


@dataclass(frozen=True)
class OutgoingMessage:
    id: int
    recipient: str
    kind: str
    op: str
    card_key: str | None
    thread_key: str | None
    data: dict[str, Any]
    attempts: int


async def enqueue(
    conn: AsyncConnection,
    *,
    recipient: str,
    kind: str,
    data: dict[str, Any],
    now: datetime,
    op: str = "post",
    card_key: str | None = None,
    thread_key: str | None = None,
) -> None:
    """Queue a message to a user (DM) or channel; it is sent as soon as the transaction commits, whatever
    business instant `now` is (a sweep run `--at` next week still delivers today)."""
    await conn.execute(
        _INSERT,
        {
            "recipient": recipient,
            "kind": kind,
            "op": op,
            "card_key": card_key,
            "thread_key": thread_key,
            "data": json.dumps(data, sort_keys=True, default=str),
            "created_at": now,
            "next_attempt_at": now,
        },
    )


async def claim_next(
    conn: AsyncConnection, now: datetime, limit: int = 50, exclude: Collection[str] = ()
) -> list[OutgoingMessage]:
    """Claim the oldest unsent message of each recipient that is due and not leased to another sender.

    `now` is the wall clock: retry timing is operational time, not business time. Recipients in
    `exclude` are skipped (the caller is already sending to them).

    Only the head of each recipient's queue is eligible, which is what keeps a recipient's messages
    in order while Slack is refusing some of them.
    """
    return await lease(conn, await due_heads(conn, now, limit, exclude), now)


async def due_heads(
    conn: AsyncConnection, now: datetime, limit: int = 50, exclude: Collection[str] = ()
) -> list[int]:
    """The ids `claim_next` would claim, read without leasing them (a read transaction will do)."""
    heads = (
        sa.select(sa.func.min(outbox.c.id))
        .where(outbox.c.sent_at.is_(None))
        .group_by(outbox.c.recipient)
        .scalar_subquery()
    )
    query = (
        sa.select(outbox.c.id)
        .where(
            outbox.c.id.in_(heads),
            sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
            sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if exclude:
        query = query.where(outbox.c.recipient.not_in(list(exclude)))
    return list((await conn.execute(query)).scalars().all())


async def lease(conn: AsyncConnection, message_ids: list[int], now: datetime) -> list[OutgoingMessage]:
    """Lease each of these messages that is still unsent and free; another sender may have won some."""
    claimed: list[OutgoingMessage] = []
    for message_id in message_ids:
        message = await _lease(conn, message_id, now)
        if message is not None:
            claimed.append(message)
    return claimed


async def claim_next_of(conn: AsyncConnection, recipient: str, now: datetime) -> OutgoingMessage | None:
    """Claim a recipient's next message, if it is due and free: how a sender that just delivered to
    someone goes straight on to their next message (in the transaction that recorded the last one)."""
    head = (await conn.execute(_HEAD_OF, {"recipient": recipient})).scalar()
    if head is None:
        return None
    return await _lease(conn, head, now, due_only=True)


_HEAD_OF = sa.select(sa.func.min(outbox.c.id)).where(
    outbox.c.recipient == sa.bindparam("recipient"), outbox.c.sent_at.is_(None)
)


async def _lease(
    conn: AsyncConnection, message_id: int, now: datetime, due_only: bool = False
) -> OutgoingMessage | None:
    """Lease one unsent message to this sender (a conditional update: one sender wins)."""
    conditions = [
        outbox.c.id == message_id,
        outbox.c.sent_at.is_(None),
        sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    ]
    if due_only:
        conditions.append(sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now))
    row = (
        await conn.execute(
            outbox.update().where(*conditions).values(lease_until=now + LEASE).returning(outbox)
        )
    ).first()
    if row is None:
        return None
    return OutgoingMessage(
        row.id,
        row.recipient,
        row.kind,
        row.op,
        row.card_key,
        row.thread_key,
        json.loads(row.data),
        row.attempts,
    )


async def mark_sent(
    conn: AsyncConnection, message: OutgoingMessage, now: datetime, posted: tuple[str, str] | None = None
) -> None:
    """Record delivery and, for a card, where it now lives (channel, ts)."""
    await conn.execute(
        outbox.update()
        .where(outbox.c.id == message.id)
        .values(sent_at=now, lease_until=None, last_error=None)
    )
    if posted is not None and message.card_key is not None:
        channel, ts = posted
        existing = await card_location(conn, message.card_key, message.recipient)
        if existing is None:
            await conn.execute(
                slack_cards.insert().values(
                    card_key=message.card_key, recipient=message.recipient, channel=channel, ts=ts
                )
            )


async def mark_failed(
    conn: AsyncConnection,
    message: OutgoingMessage,
    now: datetime,
    error: str,
    retry_after: float | None = None,
) -> None:
    """Schedule another attempt with exponential backoff (or Slack's Retry-After)."""
    attempts = message.attempts + 1
    delay = (
        timedelta(seconds=retry_after)
        if retry_after
        else min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 6) / 4))
    )
    await conn.execute(
        outbox.update()
        .where(outbox.c.id == message.id)
        .values(attempts=attempts, next_attempt_at=now + delay, lease_until=None, last_error=error[:200])
    )


async def mark_abandoned(conn: AsyncConnection, message: OutgoingMessage, now: datetime, error: str) -> None:
    """Slack refused the message for good (say, the channel is gone); keep it, out of the queue."""
    await conn.execute(
        outbox.update()
        .where(outbox.c.id == message.id)
        .values(sent_at=now, lease_until=None, last_error=f"abandoned: {error}"[:200])
    )


async def card_location(conn: AsyncConnection, card_key: str, recipient: str) -> tuple[str, str] | None:
    row = (
        await conn.execute(
            sa.select(slack_cards.c.channel, slack_cards.c.ts).where(
                slack_cards.c.card_key == card_key, slack_cards.c.recipient == recipient
            )
        )
    ).first()
    return (row.channel, row.ts) if row else None


async def backlog(conn: AsyncConnection) -> int:
    return (await conn.execute(sa.select(sa.func.count()).where(outbox.c.sent_at.is_(None)))).scalar_one()
