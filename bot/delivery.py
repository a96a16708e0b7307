"""The outbox deliverer: sends queued messages in order per recipient, through outages and restarts.

Each recipient with something to send gets a lane: a task that sends their oldest message, records it
and, in that same transaction, claims their next one, so a person with many messages is served as fast
as Slack allows rather than one message per round, and their order holds. Up to `concurrency` lanes
run at once. Every Slack call takes its turn from one pacer (bot/pacing.py): a 429 holds all lanes for
its Retry-After, and the calls are spaced just under Slack's allowance (`rate_per_second`, or learned
from a 429), so 429s stay rare.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import Metrics
from bot.pacing import Pacer
from bot.slack_client import http_session
from bot.web_api import WebApi
from handlers.blocks.messages import render
from workflows import outbox
from workflows.connection import CommitNotes, Connection
from workflows.db import Database
from workflows.outbox import OutgoingMessage

logger = logging.getLogger("confide.delivery")

ROUND_GAP_SECONDS = 0.01  # at most ~100 looks at the queue a second, however busy the app

# Slack errors that no retry will fix; the message is set aside (and logged) so the queue moves on.
PERMANENT_ERRORS = {
    "channel_not_found",
    "user_not_found",
    "is_archived",
    "account_inactive",
    "not_in_channel",
    "invalid_blocks",
    "msg_too_long",
    "no_text",
    "cannot_dm_bot",
    "user_disabled",
    "invalid_arguments",
}


class Deliverer:
    """Sends the outbox: a lane per recipient, all lanes sharing one pacer and one HTTP session."""

    def __init__(
        self,
        db: Database,
        client: AsyncWebClient,
        clock: Callable[[], datetime],
        *,
        poll_seconds: float = 1.0,
        concurrency: int = 8,
        metrics: Metrics | None = None,
        lease: timedelta = outbox.DEFAULT_LEASE,
        rate_per_second: float | None = None,
    ):
        self.db = db
        self.client = client
        self.web_api = WebApi(client)  # its calls, without the SDK's generic path (bot/web_api.py)
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.metrics = metrics or Metrics()
        self.lease = lease
        self.pacer = Pacer(rate_per_second)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._stopping = False
        db.after_commit.append(self._after_commit)

    def wake(self) -> None:
        self._wake.set()

    def _after_commit(self, notes: CommitNotes) -> None:
        """Look at the queue when a commit queued something for a recipient without a lane. A lane
        finds its recipient's new messages itself, and wakes the deliverer when it ends."""
        queued_for = notes.get(outbox.QUEUED_FOR, frozenset())
        if not queued_for.issubset(self._lanes.keys()):
            self.wake()

    def start(self) -> None:
        self._stopping = False
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="outbox-deliverer")

    async def stop(self) -> None:
        """Finish the messages in flight, then stop; unsent rows stay in the outbox for the next start."""
        self._stopping = True
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self._finish_lanes()
        if self._session is not None:
            await self._session.close()
            self.client.session = None
            self._session = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                opened = await self.dispatch()
            except Exception:  # the loop must survive a database hiccup; the rows stay queued
                logger.exception("delivery round failed")
                opened = 0
            if self._stopping:
                break
            # Every commit wakes the deliverer, its own included; gathering a few milliseconds of
            # wake-ups into one look at the queue keeps a busy app from scanning it per commit.
            await asyncio.sleep(ROUND_GAP_SECONDS)
            if opened == 0 and not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def deliver_once(self) -> int:
        """Open lanes for the recipients whose next message is due and wait until they have sent what
        they can; returns how many lanes were opened. For one-shot callers (`confide nudges`)."""
        opened = await self.dispatch()
        await self._finish_lanes()
        return opened

    async def dispatch(self) -> int:
        """Open a lane for each recipient whose next message is due, as far as lanes are free."""
        free = self.concurrency - len(self._lanes)
        if free <= 0 or self._stopping:
            return 0
        # Look first, lease after: most wake-ups find nothing new, and a read takes no write lock.
        async with self.db.read() as conn:
            due = await outbox.due_heads(conn, self.clock(), limit=free, exclude=self._lanes.keys())
        if not due:
            return 0
        async with self.db.write() as conn:
            claimed = await outbox.claim(conn, due, self.clock(), self.lease)
        self._open_session()
        for message in claimed:
            self._lanes[message.recipient] = asyncio.create_task(
                self._lane(message), name=f"outbox-lane-{message.id}"
            )
        return len(claimed)

    def _open_session(self) -> None:
        if self.client.session is None or self.client.session.closed:
            # Without a session of its own the SDK opens a session, and a connection, for every call.
            self._session = http_session(self.client)
            self.client.session = self._session

    async def _finish_lanes(self) -> None:
        while self._lanes:
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)

    async def _lane(self, message: OutgoingMessage) -> None:
        """Send one recipient's messages, oldest first, for as long as the next one is due."""
        next_message: OutgoingMessage | None = message
        try:
            while next_message is not None:
                next_message = await self._deliver(next_message)
        except Exception:  # a lane must not take the deliverer down; its lease lapses and it is retried
            logger.exception("delivery lane failed")
        finally:
            self._lanes.pop(message.recipient, None)
            self.wake()

    async def _deliver(self, message: OutgoingMessage) -> OutgoingMessage | None:
        """Send one message and record the outcome; returns the recipient's next one, if claimed."""
        try:
            payload = render(message.kind, message.data)
        except Exception:  # a row no renderer can turn into a message must not block its recipient
            logger.exception(
                "delivery abandoned id=%s kind=%s: the message cannot be rendered", message.id, message.kind
            )
            async with self.db.write() as conn:
                await outbox.mark_abandoned(conn, message, self.clock(), "cannot be rendered")
                next_message = await self._next_of(conn, message)
            self.metrics.observe_delivery("abandoned")
            return next_message
        held = await self._hold_lease(message)
        if held is None:
            return None
        message = held
        try:
            posted = await self._send(message, payload)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            status = exc.response.status_code
            if status == 429 or status >= 500 or error not in PERMANENT_ERRORS:
                retry_after = _retry_after(exc.response.headers) if status == 429 else None
                if retry_after is not None:
                    self.pacer.hold(retry_after)  # every lane waits, not only this message
                logger.warning(
                    "delivery deferred id=%s kind=%s status=%s error=%s",
                    message.id,
                    message.kind,
                    status,
                    error,
                )
                async with self.db.write() as conn:
                    await outbox.mark_failed(conn, message, self.clock(), f"{status} {error}", retry_after)
                self.metrics.observe_delivery("deferred")
                return None
            logger.error("delivery abandoned id=%s kind=%s error=%s", message.id, message.kind, error)
            async with self.db.write() as conn:
                await outbox.mark_abandoned(conn, message, self.clock(), error)
                next_message = await self._next_of(conn, message)
            self.metrics.observe_delivery("abandoned")
            return next_message
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.warning(
                "delivery deferred id=%s kind=%s error=%s", message.id, message.kind, type(exc).__name__
            )
            async with self.db.write() as conn:
                await outbox.mark_failed(conn, message, self.clock(), type(exc).__name__)
            self.metrics.observe_delivery("deferred")
            return None
        self.pacer.accepted()
        async with self.db.write() as conn:
            lease = None if self._stopping else self.lease
            next_message = await outbox.record_sent(conn, message, self.clock(), posted, lease_next=lease)
        self.metrics.observe_delivery("sent")
        return next_message

    async def _hold_lease(self, message: OutgoingMessage) -> OutgoingMessage | None:
        """Wait for this call's turn, keeping the message's lease: renewed if the wait (a Retry-After)
        used up half of it, so no other sender can take the row while this one is about to send it.
        None if the message is given up: the deliverer is stopping, or the lease ran out."""
        if not await self.pacer.turn(self._stop):
            async with self.db.write() as conn:
                await outbox.release(conn, message)
            return None
        now = self.clock()
        if message.lease_until is not None and message.lease_until - now < self.lease / 2:
            async with self.db.write() as conn:
                return await outbox.renew_lease(conn, message, now, self.lease)
        return message

    async def _next_of(self, conn: Connection, message: OutgoingMessage) -> OutgoingMessage | None:
        if self._stopping:
            return None
        return await outbox.claim_next_of(conn, message.recipient, self.clock(), self.lease)

    async def _send(self, message: OutgoingMessage, payload: dict[str, Any]) -> tuple[str, str] | None:
        if message.op == "update" and message.card_key:
            async with self.db.read() as conn:
                location = await outbox.card_location(conn, message.card_key, message.recipient)
            if location is not None:
                channel, ts = location
                await self.web_api.call("chat.update", {"channel": channel, "ts": ts, **payload})
                return None
        kwargs: dict[str, Any] = {"channel": message.recipient, **payload}
        if message.thread_key:
            async with self.db.read() as conn:
                parent = await outbox.card_location(conn, message.thread_key, message.recipient)
            if parent is not None:
                kwargs["channel"], kwargs["thread_ts"] = parent
        response = await self.web_api.call("chat.postMessage", kwargs)
        return str(response["channel"]), str(response["ts"])


def _retry_after(headers: Any) -> float:
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key) if headers else None
        if value:
            try:
                return max(1.0, float(value[0] if isinstance(value, list) else value))
            except ValueError:
                pass
    return 1.0
