"""Sends the audit log to a SIEM webhook (httpx): batched, in order, retried with backoff, never on the
request path, so a SIEM outage neither loses entries nor slows Slack acks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from config.settings import Settings
from workflows import forwarding
from workflows.audit import AuditEntry, iter_entries, seal
from workflows.db import Database
from workflows.services import utc_now

logger = logging.getLogger("confide.forwarder")


def webhook_headers(settings: Settings) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "confide-audit-forwarder"}
    if settings.confide_audit_webhook_token is not None:
        scheme = "Splunk" if settings.confide_audit_webhook_format == "splunk-hec" else "Bearer"
        headers["Authorization"] = f"{scheme} {settings.confide_audit_webhook_token.get_secret_value()}"
    return headers


async def post_batch(client: httpx.AsyncClient, settings: Settings, entries: list[AuditEntry]) -> None:
    """One POST; raises httpx.HTTPError on anything but a 2xx."""
    assert settings.confide_audit_webhook_url is not None
    body = forwarding.encode(entries, settings.confide_audit_webhook_format)
    response = await client.post(
        settings.confide_audit_webhook_url, content=body, headers=webhook_headers(settings)
    )
    response.raise_for_status()


class AuditForwarder:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        timeout: float = 10.0,
    ):
        self.db = db
        self.settings = settings
        self.clock = clock
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.timeout = timeout
        self.lease = timedelta(seconds=timeout * 3)  # outlasts one POST, so no other replica repeats it
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        db.after_commit.append(lambda _notes: self._wake.set())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-forwarder")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while not self._stopping:
                try:
                    sent = await self.forward_once(client)
                except Exception:  # the loop must outlive a database hiccup; the cursor has not moved
                    logger.exception("audit forwarding round failed")
                    sent = 0
                if sent == 0 and not self._stopping:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def forward_once(self, client: httpx.AsyncClient) -> int:
        """Forward the next batch; returns how many entries the receiver accepted."""
        async with self.db.write() as conn:
            batch = await forwarding.claim_batch(conn, self.clock(), size=self.batch_size, lease=self.lease)
        if batch is None:
            return 0
        try:
            await post_batch(client, self.settings, batch.entries)
        except httpx.HTTPError as exc:
            reason = type(exc).__name__
            if isinstance(exc, httpx.HTTPStatusError):
                reason = f"HTTP {exc.response.status_code}"
            async with self.db.write() as conn:
                delay = await forwarding.mark_failed(conn, self.clock(), reason)
            logger.warning("audit forwarding deferred error=%s retry_in=%ss", reason, delay.total_seconds())
            return 0
        async with self.db.write() as conn:
            await forwarding.mark_forwarded(conn, batch)
        return len(batch.entries)


async def replay(
    db: Database, settings: Settings, since: datetime | None, *, batch_size: int = 200, attempts: int = 5
) -> int:
    """`confide audit forward --since T`: send every entry since T again (the cursor is not moved)."""
    sent = 0
    await seal(db)
    async with httpx.AsyncClient(timeout=10.0) as client, db.read() as conn:
        batch: list[AuditEntry] = []
        async for entry in iter_entries(conn, since=since):
            batch.append(entry)
            if len(batch) == batch_size:
                sent += await _post_with_retries(client, settings, batch, attempts)
                batch = []
        if batch:
            sent += await _post_with_retries(client, settings, batch, attempts)
    return sent


async def _post_with_retries(
    client: httpx.AsyncClient, settings: Settings, batch: list[AuditEntry], attempts: int
) -> int:
    for attempt in range(attempts):
        try:
            await post_batch(client, settings, batch)
            return len(batch)
        except httpx.HTTPError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(2**attempt)
    return 0
