"""Arbitrary text to /training and /kudos through the real endpoint: a 200 with a friendly reply, always;
only an accepted kudos changes anything."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_command_fuzz import BackgroundConfide
from workflows import audit
from workflows.tables import audit_log, kudos, training_attempts

PREFIXES = ["", "status", "help", "<@U0EMP02|emil>", "<@U0EMP02>", "<@U0EMP01|eve>", "<@U0BOT01>", "@emil"]


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundConfide]:
    confide = BackgroundConfide(tmp_path_factory.mktemp("culture-fuzz"))
    confide.run(confide._start())
    yield confide
    confide.run(confide._stop())
    confide.loop.call_soon_threadsafe(confide.loop.stop)


async def counts(confide: BackgroundConfide) -> tuple[int, ...]:
    await audit.seal(confide.runtime.db)  # an earlier example's entries may still be queued
    async with confide.runtime.db.read() as conn:
        return tuple(
            [
                (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
                for table in (kudos, training_attempts, audit_log)
            ]
        )


def post(confide: BackgroundConfide, command: str, text: str) -> tuple[int, str]:
    body = urlencode(
        {
            "token": "t",
            "team_id": "T0TEAM",
            "channel_id": "C1",
            "user_id": "U0EMP01",
            "command": command,
            "text": text,
            "trigger_id": "trigger.fuzz",
            "response_url": confide.fake.response_url("fuzz"),
        }
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{confide.port}/slack/events",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", **confide.signer.sign(body)},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    command=st.sampled_from(["/training", "/kudos"]),
    prefix=st.sampled_from(PREFIXES),
    rest=st.text(max_size=200),
)
def test_any_text_gets_a_friendly_reply(background: BackgroundConfide, command: str, prefix: str, rest: str):
    before = background.run(counts(background))
    status, reply = post(background, command, f"{prefix} {rest}" if prefix else rest)
    assert status == 200 and '"text"' in reply
    assert "went wrong on our side" not in reply
    if "Your kudos for" not in reply:
        assert background.run(counts(background)) == before
