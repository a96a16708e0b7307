"""The outbox: what Confide wants to say, written in the same transaction as what it reports."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from workflows.connection import Connection, note_for_commit
from workflows.sql import insert_if_absent
from workflows.tables import outbox, slack_cards

# A claimed row is retried by another sender if its sender dies; it must outlast one send (with the
# client's own retries), or a slow send could be repeated by a second replica.
DEFAULT_LEASE = timedelta(seconds=30)
QUEUED_FOR = "outbox.queued_for"  # commit note: the recipients a transaction queued messages for
MAX_BACKOFF = timedelta(seconds=60)

# The ids enqueued by the current task while `recording()` is active. A context variable rather
# than a parameter, because the sweep reports rows written deep inside other workflows
# (access.record_request_end updating approver cards, for one).
_recording: ContextVar[list[int] | None] = ContextVar("confide_outbox_recording", default=None)


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
    lease_until: datetime | None = None  # as claimed by this sender: renewing or releasing checks it


# Built once: nearly every write enqueues (building an INSERT with its values costs more than running it).
_QUEUE_MESSAGE = outbox.insert().inline()  # inline: no RETURNING of the new id
_QUEUE_MESSAGE_RETURNING_ID = outbox.insert().returning(outbox.c.id)


async def enqueue(
    conn: Connection,
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
    row = {
        "recipient": recipient,
        "kind": kind,
        "op": op,
        "card_key": card_key,
        "thread_key": thread_key,
        "data": json.dumps(data, sort_keys=True, default=str),
        "created_at": now,
    }
    recording = _recording.get()
    if recording is None:
        await conn.insert_later(_QUEUE_MESSAGE, row)
    else:
        recording.append((await conn.execute(_QUEUE_MESSAGE_RETURNING_ID, row)).scalar_one())
    note_for_commit(conn, QUEUED_FOR, recipient)


@contextmanager
def recording() -> Iterator[list[int]]:
    """Collect the ids of the rows this task enqueues inside the block (the sweep's report)."""
    ids: list[int] = []
    token = _recording.set(ids)
    try:
        yield ids
    finally:
        _recording.reset(token)


async def messages_by_id(conn: Connection, ids: list[int]) -> list[OutgoingMessage]:
    """The queued rows with these ids, in id order."""
    if not ids:
        return []
    rows = await conn.execute(sa.select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id))
    return [_message(row) for row in rows]


async def unsent_ids(conn: Connection, ids: list[int]) -> set[int]:
    """Those of these rows not yet delivered (nor set aside)."""
    if not ids:
        return set()
    query = sa.select(outbox.c.id).where(outbox.c.id.in_(ids), outbox.c.sent_at.is_(None))
    return set((await conn.execute(query)).scalars())


async def abandoned_ids(conn: Connection, ids: list[int]) -> set[int]:
    """Those of these rows Slack refused for good (see mark_abandoned)."""
    if not ids:
        return set()
    query = sa.select(outbox.c.id).where(outbox.c.id.in_(ids), outbox.c.last_error.like("abandoned:%"))
    return set((await conn.execute(query)).scalars())


def _message(row: sa.Row[Any]) -> OutgoingMessage:
    return OutgoingMessage(
        row.id,
        row.recipient,
        row.kind,
        row.op,
        row.card_key,
        row.thread_key,
        json.loads(row.data),
        row.attempts,
        row.lease_until,
    )


# The deliverer's statements run for every message sent: built once (building one costs more than
# running it on SQLite).
_DUE = sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= sa.bindparam("now"))
_FREE = sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < sa.bindparam("now"))
# The oldest unsent messages that head their recipient's queue (no older unsent message of the
# same recipient), due and free. Two ways to find them, one per database:
# - PostgreSQL reads unsent messages in id order off `ix_outbox_unsent` and checks each against
#   `ix_outbox_pending`, so a look costs what it returns, not the size of the queue: grouping every
#   unsent message by recipient took ~95 ms a look with 100,000 queued (a campaign's DMs); this
#   takes 0.6 ms. The limit is a constant for the planner; `due_heads` takes what it needs and drops
#   excluded recipients in Python (an expanding NOT IN would keep the statement off the driver).
# - SQLite, which Confide never gives ANALYZE statistics, plans that shape as a read of every unsent
#   message and a sort of them, slower than grouping them (20,000 queued: 510 deliveries a second
#   against 640), so it keeps the grouping.
_HEADS_READ = 64
_OLDER_UNSENT = outbox.alias("older_unsent")
_DUE_HEADS_IN_ORDER = (
    sa.select(outbox.c.id, outbox.c.recipient)
    .where(
        outbox.c.sent_at.is_(None),
        _DUE,
        _FREE,
        ~sa.exists().where(
            _OLDER_UNSENT.c.sent_at.is_(None),
            _OLDER_UNSENT.c.recipient == outbox.c.recipient,
            _OLDER_UNSENT.c.id < outbox.c.id,
        ),
    )
    .order_by(outbox.c.id)
    .limit(sa.literal_column(str(_HEADS_READ)))
)
_DUE_HEADS_GROUPED = (
    sa.select(outbox.c.id)
    .where(
        outbox.c.id.in_(
            sa.select(sa.func.min(outbox.c.id))
            .where(outbox.c.sent_at.is_(None))
            .group_by(outbox.c.recipient)
            .scalar_subquery()
        ),
        _DUE,
        _FREE,
        outbox.c.recipient.not_in(sa.bindparam("exclude", expanding=True)),
    )
    .order_by(outbox.c.id)
    .limit(sa.bindparam("limit"))
)
# Due is checked again here: between `due_heads` (a read) and this lease, another sender may have
# failed the message and set its next attempt later.
_LEASE_BY_ID = (
    outbox.update()
    .where(outbox.c.id == sa.bindparam("message_id"), outbox.c.sent_at.is_(None), _DUE, _FREE)
    .values(lease_until=sa.bindparam("leased_until"))
    .returning(outbox)
)


def _lease_recipients_oldest(*other_than: sa.ColumnElement[bool]) -> sa.Update:
    """Lease a recipient's oldest unsent message (among those `other_than` allows) if it is due and
    free: a conditional update, so one sender wins."""
    oldest = (
        sa.select(outbox.c.id)
        .where(outbox.c.recipient == sa.bindparam("for_recipient"), outbox.c.sent_at.is_(None), *other_than)
        .order_by(outbox.c.sent_at, outbox.c.id)
        .limit(sa.literal_column("1"))
        .scalar_subquery()
    )
    return (
        outbox.update()
        .where(outbox.c.id == oldest, outbox.c.sent_at.is_(None), _DUE, _FREE)
        .values(lease_until=sa.bindparam("leased_until"))
        .returning(outbox)
    )


_LEASE_NEXT_OF = _lease_recipients_oldest()
_MARK_SENT = (
    outbox.update()
    .where(outbox.c.id == sa.bindparam("message_id"))
    .values(sent_at=sa.bindparam("now"), lease_until=None, last_error=None)
)
# PostgreSQL: a delivery recorded and the recipient's next message leased in one statement (a write
# that is one statement needs no BEGIN or COMMIT: one round trip where it was five). The next is the
# oldest unsent other than the one just sent, which the statement's own snapshot still sees unsent.
_LEASE_NEXT_AFTER_SENT = _lease_recipients_oldest(outbox.c.id != sa.bindparam("message_id")).add_cte(
    _MARK_SENT.cte("confide_sent")
)
_LEASE_NEXT_AFTER_SENT_CARD = _LEASE_NEXT_AFTER_SENT.add_cte(
    postgresql.insert(slack_cards)
    .values(
        card_key=sa.bindparam("posted_card"),
        recipient=sa.bindparam("for_recipient"),
        channel=sa.bindparam("posted_channel"),
        ts=sa.bindparam("posted_ts"),
    )
    .on_conflict_do_nothing()
    .cte("confide_card")
)
_CARD_LOCATION = sa.select(slack_cards.c.channel, slack_cards.c.ts).where(
    slack_cards.c.card_key == sa.bindparam("card_key"), slack_cards.c.recipient == sa.bindparam("recipient")
)


async def claim_next(
    conn: Connection,
    now: datetime,
    limit: int = 50,
    lease: timedelta = DEFAULT_LEASE,
    exclude: Collection[str] = (),
) -> list[OutgoingMessage]:
    """Claim the oldest unsent message of each recipient that is due and not leased to another sender.

    `now` is the wall clock: retry timing is operational time, not business time. Recipients in
    `exclude` are skipped (the caller is already sending to them).

    Only the head of each recipient's queue is eligible, which is what keeps a recipient's messages
    in order while Slack is refusing some of them.
    """
    return await claim(conn, await due_heads(conn, now, limit, exclude), now, lease)


async def due_heads(
    conn: Connection, now: datetime, limit: int = 50, exclude: Collection[str] = ()
) -> list[int]:
    """The ids `claim_next` would claim, oldest first, found without leasing them (a read will do).

    On PostgreSQL at most `_HEADS_READ` less the excluded recipients (each has one head at most):
    callers ask for as many as they have lanes free."""
    if conn.dialect.name == "sqlite":
        parameters = {"now": now, "limit": limit, "exclude": list(exclude)}
        return list((await conn.execute(_DUE_HEADS_GROUPED, parameters)).scalars().all())
    rows = (await conn.execute(_DUE_HEADS_IN_ORDER, {"now": now})).all()
    wanted = max(0, min(limit, _HEADS_READ - len(exclude)))
    return [row.id for row in rows if row.recipient not in exclude][:wanted]


async def claim(
    conn: Connection, message_ids: list[int], now: datetime, lease: timedelta = DEFAULT_LEASE
) -> list[OutgoingMessage]:
    """Lease each of these messages that is still unsent and free; another sender may have won some."""
    claimed: list[OutgoingMessage] = []
    for message_id in message_ids:
        message = await _lease(conn, _LEASE_BY_ID, {"message_id": message_id}, now, lease)
        if message is not None:
            claimed.append(message)
    return claimed


async def claim_next_of(
    conn: Connection, recipient: str, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> OutgoingMessage | None:
    """Claim this recipient's next message if it is due and free.

    Called in the transaction that records their last one, so a sender goes straight on to the same
    person's next message: their queue stays in order (this is still the head) without waiting for
    other recipients, and no other sender can slip in between (the row is leased before the commit).
    """
    return await _lease(conn, _LEASE_NEXT_OF, {"for_recipient": recipient}, now, lease)


async def renew_lease(
    conn: Connection, message: OutgoingMessage, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> OutgoingMessage | None:
    """Extend a lease this sender still holds (it waited out a pause before sending); None when the
    lease ran out and the row may have been taken by another sender since."""
    row = (
        await conn.execute(
            outbox.update()
            .where(*_still_held(message), outbox.c.lease_until >= now)
            .values(lease_until=now + lease)
            .returning(outbox)
        )
    ).first()
    return _message(row) if row is not None else None


async def release(conn: Connection, message: OutgoingMessage) -> None:
    """Give back a message claimed but not sent (the sender is stopping), so the next sender need not
    wait for the lease to run out."""
    await conn.execute(outbox.update().where(*_still_held(message)).values(lease_until=None))


def _still_held(message: OutgoingMessage) -> tuple[sa.ColumnElement[bool], ...]:
    """The row is still this sender's: unsent, and leased with the lease this sender was given."""
    return (
        outbox.c.id == message.id,
        outbox.c.sent_at.is_(None),
        outbox.c.lease_until == message.lease_until,
    )


async def _lease(
    conn: Connection,
    statement: sa.Update,
    parameters: dict[str, Any],
    now: datetime,
    lease: timedelta,
) -> OutgoingMessage | None:
    """Lease one unsent, free message to this sender: a conditional update, so one sender wins."""
    row = (await conn.execute(statement, {**parameters, "now": now, "leased_until": now + lease})).first()
    return _message(row) if row is not None else None


async def mark_sent(
    conn: Connection, message: OutgoingMessage, now: datetime, posted: tuple[str, str] | None = None
) -> None:
    """Record delivery and, for a card, where it now lives (channel, ts)."""
    await conn.execute(_MARK_SENT, {"message_id": message.id, "now": now})
    if posted is not None and message.card_key is not None:
        channel, ts = posted
        # A card keeps the location it was first posted at (updates edit that message).
        card = {"card_key": message.card_key, "recipient": message.recipient, "channel": channel, "ts": ts}
        await insert_if_absent(conn, slack_cards, card)


async def record_sent(
    conn: Connection,
    message: OutgoingMessage,
    now: datetime,
    posted: tuple[str, str] | None,
    *,
    lease_next: timedelta | None,
) -> OutgoingMessage | None:
    """`mark_sent`, then, unless `lease_next` is None, `claim_next_of` the same recipient: the
    write's whole work (on PostgreSQL one statement, `Connection.execute_last`)."""
    if lease_next is None or conn.dialect.name != "postgresql":
        await mark_sent(conn, message, now, posted)
        return None if lease_next is None else await claim_next_of(conn, message.recipient, now, lease_next)
    parameters = {
        "message_id": message.id,
        "for_recipient": message.recipient,
        "now": now,
        "leased_until": now + lease_next,
    }
    statement = _LEASE_NEXT_AFTER_SENT
    if posted is not None and message.card_key is not None:
        statement = _LEASE_NEXT_AFTER_SENT_CARD
        parameters.update(posted_card=message.card_key, posted_channel=posted[0], posted_ts=posted[1])
    row = (await conn.execute_last(statement, parameters)).first()
    return _message(row) if row is not None else None


async def mark_failed(
    conn: Connection,
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


async def mark_abandoned(conn: Connection, message: OutgoingMessage, now: datetime, error: str) -> None:
    """Slack refused the message for good (say, the channel is gone); keep it, out of the queue."""
    await conn.execute(
        outbox.update()
        .where(outbox.c.id == message.id)
        .values(sent_at=now, lease_until=None, last_error=f"abandoned: {error}"[:200])
    )


async def card_location(conn: Connection, card_key: str, recipient: str) -> tuple[str, str] | None:
    row = (await conn.execute(_CARD_LOCATION, {"card_key": card_key, "recipient": recipient})).first()
    return (row.channel, row.ts) if row else None


async def backlog(conn: Connection) -> tuple[int, datetime | None]:
    """How many messages wait, and since when the oldest has waited."""
    row = (
        await conn.execute(
            sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))
        )
    ).one()
    oldest = row[1]
    if oldest is not None and oldest.tzinfo is None:  # MIN() loses the column type on SQLite
        oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=UTC)
    return row[0], oldest
