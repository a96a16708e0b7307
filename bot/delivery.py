"""The outbox deliverer: sends queued messages in order per recipient, through outages and restarts.

Each recipient with something to send gets a lane: a task that sends their oldest message, records
it and, in that same transaction, claims their next one, so a person with many messages is served as
fast as Slack allows rather than one message per round. Up to `concurrency` lanes run at once.
Every chat.* call takes its turn from a pacer: spaced to `rate_per_second` when that is set, and all
held while Slack's Retry-After runs, so a 429 pauses everyone instead of each sender discovering it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.blocks.messages import render
from workflows import outbox
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


class Pacer:
    """Turns for chat.* calls: evenly spaced a little under `rate_per_second`, Slack's allowance, and
    none while Slack's Retry-After runs.

    The margin is there because Slack counts arrivals: network jitter bunches evenly spaced calls,
    and one call over the allowance costs a whole Retry-After for every sender. A turn nobody took
    is not lost at once: up to half the margin's worth of calls may catch up without waiting.
    """

    MARGIN = 0.95

    def __init__(self, rate_per_second: float | None = None):
        self.interval = 1.0 / (rate_per_second * self.MARGIN) if rate_per_second else 0.0
        self.catch_up = (rate_per_second or 0.0) * (1 - self.MARGIN) / 2 * self.interval
        self._next_slot = 0.0
        self._resume_at = 0.0

    async def turn(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            slot = max(now - self.catch_up, self._next_slot, self._resume_at)
            self._next_slot = slot + self.interval
            if slot > now:
                await asyncio.sleep(slot - now)
            if loop.time() >= self._resume_at:  # no 429 arrived while this turn waited
                return

    def hold(self, seconds: float) -> None:
        self._resume_at = max(self._resume_at, asyncio.get_running_loop().time() + seconds)


class Deliverer:
    def __init__(
        self,
        db: Database,
        client: AsyncWebClient,
        clock: Callable[[], datetime],
        *,
        poll_seconds: float = 1.0,
        concurrency: int = 16,
        rate_per_second: float | None = None,
    ):
        self.db = db
        self.client = client
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.pacer = Pacer(rate_per_second)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._own_session: aiohttp.ClientSession | None = None
        self._stopping = False
        db.after_commit.append(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        if self.client.session is None:
            # One pooled HTTP session instead of the SDK's default of a new session (and connection)
            # per call, which cost more CPU than everything else a delivery does.
            self._own_session = aiohttp.ClientSession()
            self.client.session = self._own_session
        self._task = asyncio.create_task(self._run(), name="outbox-deliverer")

    async def stop(self) -> None:
        """Finish the messages in flight, then stop; unsent rows stay in the outbox for the next start."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._lanes:
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)
        if self._own_session is not None:
            await self._own_session.close()
            self.client.session = None
            self._own_session = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                claimed = await self.dispatch()
            except Exception:  # the loop must survive a database hiccup; the rows stay queued
                logger.exception("delivery round failed")
                claimed = 0
            if self._stopping:
                break
            # Wake-ups come with every commit; gathering those of a few milliseconds into one round
            # keeps a busy app from scanning the queue once per request.
            await asyncio.sleep(ROUND_GAP_SECONDS)
            if claimed == 0 and not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def dispatch(self) -> int:
        """Open a lane for each recipient whose next message is due, as far as lanes are free."""
        free = self.concurrency - len(self._lanes)
        if free <= 0:
            return 0
        # Look first, lease after: most wake-ups find nothing new, and a read takes no write lock.
        async with self.db.read() as conn:
            due = await outbox.due_heads(conn, self.clock(), limit=free, exclude=self._lanes.keys())
        if not due:
            return 0
        async with self.db.write() as conn:
            claimed = await outbox.lease(conn, due, self.clock())
        for message in claimed:
            self._lanes[message.recipient] = asyncio.create_task(
                self._lane(message), name=f"outbox-lane-{message.id}"
            )
        return len(claimed)

    async def _lane(self, message: OutgoingMessage | None) -> None:
        recipient = message.recipient if message else ""
        try:
            while message is not None:
                message = await self._deliver(message)
        except Exception:  # a lane must not take the deliverer down; its lease lapses and it is retried
            logger.exception("delivery lane failed")
        finally:
            self._lanes.pop(recipient, None)
            self.wake()

    async def _deliver(self, message: OutgoingMessage) -> OutgoingMessage | None:
        """Send one message and record the outcome; returns the recipient's next message, if claimed."""
        try:
            posted = await self._send(message)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            status = exc.response.status_code
            if status == 429 or status >= 500 or error not in PERMANENT_ERRORS:
                retry_after = _retry_after(exc.response.headers) if status == 429 else None
                if retry_after is not None:
                    self.pacer.hold(retry_after)
                logger.warning(
                    "delivery deferred id=%s kind=%s status=%s error=%s",
                    message.id,
                    message.kind,
                    status,
                    error,
                )
                async with self.db.write() as conn:
                    await outbox.mark_failed(conn, message, self.clock(), f"{status} {error}", retry_after)
                return None
            logger.error("delivery abandoned id=%s kind=%s error=%s", message.id, message.kind, error)
            async with self.db.write() as conn:
                await outbox.mark_abandoned(conn, message, self.clock(), error)
                return await self._next_of(conn, message)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.warning(
                "delivery deferred id=%s kind=%s error=%s", message.id, message.kind, type(exc).__name__
            )
            async with self.db.write() as conn:
                await outbox.mark_failed(conn, message, self.clock(), type(exc).__name__)
            return None
        async with self.db.write() as conn:
            await outbox.mark_sent(conn, message, self.clock(), posted)
            return await self._next_of(conn, message)

    async def _next_of(self, conn: Any, message: OutgoingMessage) -> OutgoingMessage | None:
        if self._stopping:
            return None
        return await outbox.claim_next_of(conn, message.recipient, self.clock())

    async def _send(self, message: OutgoingMessage) -> tuple[str, str] | None:
        payload = render(message.kind, message.data)
        if message.op == "update" and message.card_key:
            async with self.db.read() as conn:
                location = await outbox.card_location(conn, message.card_key, message.recipient)
            if location is not None:
                channel, ts = location
                await self.pacer.turn()
                await self.client.chat_update(channel=channel, ts=ts, **payload)
                return None
        kwargs: dict[str, Any] = {"channel": message.recipient, **payload}
        if message.thread_key:
            async with self.db.read() as conn:
                parent = await outbox.card_location(conn, message.thread_key, message.recipient)
            if parent is not None:
                kwargs["channel"], kwargs["thread_ts"] = parent
        await self.pacer.turn()
        response = await self.client.chat_postMessage(**kwargs)
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
