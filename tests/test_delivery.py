"""Nothing a person was told succeeded is lost: Slack outages, 429s and restarts."""

from __future__ import annotations

import asyncio

import aiohttp
import sqlalchemy as sa

from tests.conftest import ConfideFactory
from tests.test_access import dm, request
from workflows import outbox
from workflows.tables import outbox as outbox_table


async def unsent(confide) -> int:
    async with confide.db.read() as conn:
        return (
            await conn.execute(sa.select(sa.func.count()).where(outbox_table.c.sent_at.is_(None)))
        ).scalar_one()


async def settled_unsent(confide) -> int:
    """Unsent rows, once the deliverer has had time to record what Slack already answered (the fake
    records a call before the deliverer hears the answer and commits it)."""
    for _ in range(200):
        count = await unsent(confide)
        if count == 0:
            return 0
        await asyncio.sleep(0.05)
    return count


async def test_slack_outage_during_approval_delivers_once_after_recovery(confide_factory: ConfideFactory):
    confide = await confide_factory.start()
    fake = confide.fake
    await request(confide, "U0EMP01", "request customer-list 7d planning")
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    fake.down = True
    status, _ = await confide.slack.click("U0OWNER01", "Approve", message=dm(card))
    assert status == 200  # the decision is committed; Slack being down does not undo it
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage!503")) >= 2)
    assert fake.messages_to("U0EMP01") == []
    fake.down = False
    told = await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    await fake.wait_for(lambda: fake.calls_to("chat.update"))
    await asyncio.sleep(0.3)
    assert len(fake.messages_to("U0EMP01")) == 1 and "approved" in told[0].text
    assert len(fake.calls_to("chat.update")) == 1
    assert await unsent(confide) == 0


async def test_rate_limit_is_honoured_and_order_kept_per_recipient(confide_factory: ConfideFactory):
    confide = await confide_factory.start()
    fake = confide.fake
    fake.fail("chat.postMessage", 429, count=3, retry_after=1)
    await request(confide, "U0EMP01", "request customer-list 7d first")
    await request(confide, "U0EMP02", "request customer-list 7d second")
    cards = await fake.wait_for(
        lambda: len(fake.messages_to("U0OWNER01")) == 2 and fake.messages_to("U0OWNER01")
    )
    assert "first" in cards[0].text and "second" in cards[1].text
    assert len(fake.calls_to("chat.postMessage!429")) == 3


async def test_restart_between_approval_and_delivery_loses_nothing(confide_factory: ConfideFactory):
    first = await confide_factory.start()
    fake = first.fake
    await request(first, "U0EMP01", "request customer-list 7d planning")
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    await first.runtime.deliverer.stop()  # the process will die before it can deliver
    status, _ = await first.slack.click("U0OWNER01", "Approve", message=dm(card))
    assert status == 200
    assert await unsent(first) == 2  # the requester's DM and the card update wait in the outbox
    await confide_factory.stop(first)
    assert fake.messages_to("U0EMP01") == []

    second = await confide_factory.start()
    told = await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    update = await fake.wait_for(lambda: fake.calls_to("chat.update"))
    await asyncio.sleep(0.3)
    assert len(fake.messages_to("U0EMP01")) == 1 and "approved" in told[0].text
    assert len(update) == 1 and update[0]["channel"] == "D0OWNER01"
    assert await unsent(second) == 0


async def test_permanent_slack_error_sets_message_aside_and_queue_moves_on(confide_factory: ConfideFactory):
    confide = await confide_factory.start()
    fake = confide.fake
    original = fake._answer
    refused = []

    def refuse_first(method, args):  # the first DM to the owner is refused for good
        if method == "chat.postMessage" and not refused:
            refused.append(args)
            return {"ok": False, "error": "channel_not_found"}
        return original(method, args)

    fake._answer = refuse_first
    await request(confide, "U0EMP01", "request customer-list 7d one")
    await request(confide, "U0EMP02", "request customer-list 7d two")
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)
    async with confide.db.read() as conn:
        errors = (
            (await conn.execute(sa.select(outbox_table.c.last_error).order_by(outbox_table.c.id)))
            .scalars()
            .all()
        )
    assert errors[0] == "abandoned: channel_not_found"
    assert await settled_unsent(confide) == 0


async def test_burst_beyond_slacks_rate_limit_arrives_once_and_in_order(confide_factory: ConfideFactory):
    """A backlog bigger than Slack allows per second: 429s pause delivery, nothing is lost or doubled,
    and a recipient with many messages gets them in the order they were queued."""
    confide = await confide_factory.start()
    fake = confide.fake
    fake.rate_limit_per_second = 15
    recipients = ["U0EMP01", "U0EMP02", "U0OWNER01"]
    async with confide.db.write() as conn:
        for n in range(30):
            await outbox.enqueue(
                conn,
                recipient=recipients[n % 3] if n < 15 else "U0EMP01",
                kind="grant_ended",
                now=confide.clock(),
                data={
                    "grant_id": n,
                    "secret_name": "S",
                    "status": "expired",
                    "actor": "confide",
                    "reason": "x",
                },
            )
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) >= 30, timeout=30)
    assert await settled_unsent(confide) == 0
    sent = [int(c["text"].split("(G-")[1].split(")")[0]) for c in fake.calls_to("chat.postMessage")]
    assert sorted(sent) == list(range(30))  # every message, once
    to_first = [
        n for n, c in zip(sent, fake.calls_to("chat.postMessage"), strict=True) if c["channel"] == "U0EMP01"
    ]
    assert to_first == sorted(to_first) and len(to_first) == 20
    assert fake.calls_to("chat.postMessage!429")  # the limit was reached: this exercised the pause


async def test_fake_slack_rate_limit_answers_429_with_retry_after(fake_slack):
    fake_slack.rate_limit_per_second = 2
    async with aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(3):
            async with session.post(f"{fake_slack.url}/api/chat.postMessage", data={"channel": "U1"}) as r:
                statuses.append((r.status, r.headers.get("Retry-After")))
    assert statuses[:2] == [(200, None), (200, None)]
    assert statuses[2][0] == 429 and int(statuses[2][1]) >= 1
    assert len(fake_slack.calls_to("chat.postMessage!429")) == 1
