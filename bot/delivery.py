"""The outbox deliverer: sends queued messages in order per recipient, through outages and restarts."""

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
from handlers.blocks.messages import render
from workflows import outbox
from workflows.db import Database
from workflows.outbox import OutgoingMessage

logger = logging.getLogger("confide.delivery")

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
    ):
        self.db = db
        self.client = client
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.metrics = metrics or Metrics()
        self.lease = lease
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        db.after_commit.append(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-deliverer")

    async def stop(self) -> None:
        """Finish the batch in flight, then stop; unsent rows stay in the outbox for the next start."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.deliver_once()
            except Exception:  # the loop must survive a database hiccup; the rows stay queued
                logger.exception("delivery round failed")
                sent = 0
            if sent == 0 and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def deliver_once(self) -> int:
        """Claim the head of each recipient's queue and send them; returns how many were claimed."""
        async with self.db.write() as conn:
            claimed = await outbox.claim_next(
                conn, self.clock(), limit=self.concurrency * 8, lease=self.lease
            )
        if not claimed:
            return 0
        semaphore = asyncio.Semaphore(self.concurrency)

        async def send(message: OutgoingMessage) -> None:
            async with semaphore:
                await self._deliver(message)

        await asyncio.gather(*(send(m) for m in claimed))
        return len(claimed)

    async def _deliver(self, message: OutgoingMessage) -> None:
        try:
            payload = render(message.kind, message.data)
        except Exception:  # a row no renderer can turn into a message must not block its recipient
            logger.exception(
                "delivery abandoned id=%s kind=%s: the message cannot be rendered", message.id, message.kind
            )
            async with self.db.write() as conn:
                await outbox.mark_abandoned(conn, message, self.clock(), "cannot be rendered")
            self.metrics.observe_delivery("abandoned")
            return
        try:
            posted = await self._send(message, payload)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            status = exc.response.status_code
            if status == 429 or status >= 500 or error not in PERMANENT_ERRORS:
                retry_after = _retry_after(exc.response.headers) if status == 429 else None
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
                return
            logger.error("delivery abandoned id=%s kind=%s error=%s", message.id, message.kind, error)
            async with self.db.write() as conn:
                await outbox.mark_abandoned(conn, message, self.clock(), error)
            self.metrics.observe_delivery("abandoned")
            return
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.warning(
                "delivery deferred id=%s kind=%s error=%s", message.id, message.kind, type(exc).__name__
            )
            async with self.db.write() as conn:
                await outbox.mark_failed(conn, message, self.clock(), type(exc).__name__)
            self.metrics.observe_delivery("deferred")
            return
        async with self.db.write() as conn:
            await outbox.mark_sent(conn, message, self.clock(), posted)
        self.metrics.observe_delivery("sent")

    async def _send(self, message: OutgoingMessage, payload: dict[str, Any]) -> tuple[str, str] | None:
        if message.op == "update" and message.card_key:
            async with self.db.read() as conn:
                location = await outbox.card_location(conn, message.card_key, message.recipient)
            if location is not None:
                channel, ts = location
                await self.client.chat_update(channel=channel, ts=ts, **payload)
                return None
        kwargs: dict[str, Any] = {"channel": message.recipient, **payload}
        if message.thread_key:
            async with self.db.read() as conn:
                parent = await outbox.card_location(conn, message.thread_key, message.recipient)
            if parent is not None:
                kwargs["channel"], kwargs["thread_ts"] = parent
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
