"""Audit forwarding to a real local HTTP receiver: in order, once, through outages and restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from tests.conftest import ConfideFactory
from tests.test_access import approved_grant, request
from tests.test_cli import confide_cli_async


@dataclass
class Receiver:
    """A SIEM stand-in: records every accepted POST; can answer 5xx, hang, or be switched off."""

    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)
    hang_next: int = 0
    port: int = 0
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.hang_next:  # a receiver too slow to answer, that ingests nothing
            self.hang_next -= 1
            await asyncio.sleep(5)
            return web.Response(status=504)
        if self.fail_with:
            return web.Response(status=self.fail_with.pop(0))
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        return web.json_response({"text": "Success", "code": 0})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/collector", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/collector"

    def entries(self, fmt: str = "json") -> list[dict]:
        out: list[dict] = []
        for body in self.bodies:
            if fmt == "json":
                out += json.loads(body)
            else:
                out += [json.loads(line) for line in body.decode().splitlines()]
        return out


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def assert_in_order_once(entries: list[dict], expected_count: int) -> None:
    ids = [e["id"] for e in entries]
    assert ids == list(range(1, expected_count + 1)), ids
    for previous, entry in zip(entries, entries[1:], strict=False):
        assert entry["prev_hash"] == previous["hash"]


async def test_entries_arrive_in_order_once_with_bearer_token(confide_factory: ConfideFactory, receiver):
    confide = await confide_factory.start(
        confide_audit_webhook_url=receiver.url, confide_audit_webhook_token="siem-token"
    )
    await approved_grant(confide)
    await wait_until(lambda: len(receiver.entries()) >= 3)
    await asyncio.sleep(0.3)
    assert_in_order_once(receiver.entries(), 3)
    assert receiver.headers[0]["Authorization"] == "Bearer siem-token"
    assert [e["action"] for e in receiver.entries()] == [
        "access.new_requested",
        "access.approval_recorded",
        "access.approved",
    ]


async def test_outages_5xx_timeouts_refused_and_restart_lose_nothing(
    confide_factory: ConfideFactory, receiver
):
    first = await confide_factory.start(confide_audit_webhook_url=receiver.url)
    forwarder = first.runtime.forwarder
    await forwarder.stop()  # restart it with a short timeout so a hung receiver costs the test little
    forwarder.timeout, forwarder._stopping = 0.5, False
    forwarder.start()

    receiver.fail_with = [503, 500]
    await request(first, "U0EMP01", "request customer-list 7d one")
    await wait_until(lambda: len(receiver.entries()) >= 1)
    receiver.hang_next = 1  # the next POST times out
    await request(first, "U0EMP02", "request customer-list 7d two")
    await wait_until(lambda: len(receiver.entries()) >= 2)

    port = receiver.port
    await receiver.stop()  # connection refused from here on
    await request(first, "U0EMP01", "list")  # a read: no audit entry
    await request(first, "U0ADMIN01", "request customer-list 7d three")
    await asyncio.sleep(1.5)
    await confide_factory.stop(first)  # Confide restarts while the SIEM is still down

    receiver.port = port
    await receiver.start()
    second = await confide_factory.start(confide_audit_webhook_url=receiver.url)
    await request(second, "U0GUEST01", "request customer-list 7d four")
    await wait_until(lambda: len(receiver.entries()) >= 4)
    await asyncio.sleep(0.3)
    assert_in_order_once(receiver.entries(), 4)


async def test_splunk_hec_shape_and_token(confide_factory: ConfideFactory, receiver):
    confide = await confide_factory.start(
        confide_audit_webhook_url=receiver.url,
        confide_audit_webhook_format="splunk-hec",
        confide_audit_webhook_token="hec-token",
    )
    await approved_grant(confide)
    await wait_until(lambda: len(receiver.entries("splunk-hec")) >= 3)
    events = receiver.entries("splunk-hec")
    assert receiver.headers[0]["Authorization"] == "Splunk hec-token"
    for event in events:
        assert set(event) == {"time", "event", "sourcetype"}
        assert isinstance(event["time"], float) and event["sourcetype"] == "confide:audit"
    assert_in_order_once([e["event"] for e in events], 3)


async def test_audit_forward_since_replays(confide_factory: ConfideFactory, receiver):
    confide = await confide_factory.start()  # no webhook configured while it runs
    await approved_grant(confide)
    env = {
        "SLACK_BOT_TOKEN": "xoxb-t",
        "DATABASE_URL": confide.settings.database_url,
        "CONFIDE_AUDIT_WEBHOOK_URL": receiver.url,
    }
    result = await confide_cli_async("audit", "forward", "--since", "2000-01-01T00:00:00Z", env=env)
    assert result.returncode == 0 and "forwarded 3" in result.stdout
    assert_in_order_once(receiver.entries(), 3)
    none = await confide_cli_async("audit", "forward", "--since", "2100-01-01T00:00:00Z", env=env)
    assert "forwarded 0" in none.stdout
