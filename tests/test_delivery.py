"""Nothing a person was told succeeded is lost: Slack outages, 429s and restarts."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from tests.conftest import ConfideFactory
from tests.test_access import dm, request
from workflows.tables import outbox


async def unsent(confide) -> int:
    async with confide.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).where(outbox.c.sent_at.is_(None)))).scalar_one()


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
        errors = (await conn.execute(sa.select(outbox.c.last_error).order_by(outbox.c.id))).scalars().all()
    assert errors[0] == "abandoned: channel_not_found"
    assert await unsent(confide) == 0


async def test_a_commit_wakes_the_deliverer_without_waiting_for_its_poll(confide_factory: ConfideFactory):
    confide = await confide_factory.start()
    confide.runtime.deliverer.poll_seconds = 60  # only a wake-up can deliver within the test's patience
    await asyncio.sleep(0.2)  # let the deliverer settle into its long wait
    await request(confide, "U0EMP01", "request customer-list 7d prompt")
    await confide.fake.wait_for(lambda: confide.fake.messages_to("U0OWNER01"), timeout=5)


async def test_a_message_that_cannot_be_rendered_is_set_aside_and_the_queue_moves_on(
    confide_factory: ConfideFactory,
):
    from workflows import outbox as outbox_workflow

    confide = await confide_factory.start()
    async with confide.db.write() as conn:  # an alert whose evidence lost its fields
        await outbox_workflow.enqueue(
            conn, recipient="U0OWNER01", kind="signal_alert", data={"broken": True}, now=confide.clock()
        )
    await request(confide, "U0EMP01", "request customer-list 7d after the broken one")
    card = await confide.fake.wait_for(lambda: confide.fake.messages_to("U0OWNER01"))
    assert "after the broken one" in card[0].text
    async with confide.db.read() as conn:
        errors = (await conn.execute(sa.select(outbox.c.last_error).order_by(outbox.c.id))).scalars().all()
    assert errors[0] == "abandoned: cannot be rendered"
