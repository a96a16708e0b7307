"""Arbitrary text to every /access subcommand through the real endpoint: a 200 with a reply, always,
and nothing changed by a rejected command."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.runtime import Runtime
from tests.conftest import SIGNING_SECRET, WORKSPACE, Clock, ConfideFactory
from tests.fake_slack import FakeSlack
from tests.slack_driver import SlackDriver
from workflows.tables import access_requests, audit_log, grants

SUBCOMMANDS = [
    "",
    "request",
    "request customer-list",
    "request formula-x 30d",
    "list",
    "secrets",
    "revoke",
    "extend",
    "extend G-1",
    "help",
    "REQUEST",
    "revoke 1",
]


class BackgroundConfide:
    """Confide and the fake Slack on an event loop in a thread, so hypothesis can drive it synchronously."""

    def __init__(self, tmp_path: Path):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tmp_path = tmp_path

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    async def _start(self) -> None:
        self.fake = FakeSlack(users=[dict(u) for u in WORKSPACE])
        await self.fake.start()
        factory = ConfideFactory(self.fake, f"sqlite:///{self.tmp_path / 'fuzz.db'}", self.tmp_path)
        self.runtime = Runtime(factory.settings(), clock=Clock(), delivery_poll_seconds=0.05)
        await self.runtime.prepare()
        self.port = await self.runtime.serve_http("127.0.0.1", 0)
        self.signer = SlackDriver("", SIGNING_SECRET, self.fake)

    async def _stop(self) -> None:
        await self.signer.close()
        await self.runtime.stop()
        await self.fake.stop()

    async def state(self) -> tuple[int, int, int]:
        counts = []
        async with self.runtime.db.read() as conn:
            for table in (access_requests, grants, audit_log):
                counts.append(
                    (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
                )
        return counts[0], counts[1], counts[2]

    def command(self, text: str) -> tuple[int, bytes]:
        body = urlencode(
            {
                "token": "t",
                "team_id": "T0TEAM",
                "channel_id": "C1",
                "user_id": "U0EMP01",
                "command": "/access",
                "text": text,
                "trigger_id": "trigger.fuzz",
                "response_url": self.fake.response_url("fuzz"),
            }
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/slack/events",
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", **self.signer.sign(body)},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundConfide]:
    confide = BackgroundConfide(tmp_path_factory.mktemp("fuzz"))
    confide.run(confide._start())
    yield confide
    confide.run(confide._stop())
    confide.loop.call_soon_threadsafe(confide.loop.stop)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sub=st.sampled_from(SUBCOMMANDS), rest=st.text(max_size=200))
def test_any_text_gets_a_reply_and_rejections_change_nothing(
    background: BackgroundConfide, sub: str, rest: str
):
    text = f"{sub} {rest}" if sub else rest
    before = background.run(background.state())
    opened_before = len(background.fake.calls_to("views.open"))
    status, body = background.command(text)
    assert status == 200
    if body:
        reply = body.decode()
        assert '"text"' in reply
        assert "went wrong on our side" not in reply  # bad input is a friendly refusal, never a crash
        if "Request R-" not in reply:
            assert background.run(background.state()) == before
    else:  # an empty /access opens the request form: that modal is the reply
        assert text.strip() == ""
        assert len(background.fake.calls_to("views.open")) == opened_before + 1
        assert background.run(background.state()) == before
