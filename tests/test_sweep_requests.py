"""Sweep rows for undecided requests: approvers reminded once per period, then the request expires."""

from tests.conftest import Clock, Confide, ConfideFactory
from tests.sweep_support import WEDNESDAY, block_ids, deactivate, nudges
from workflows import audit

TWO_OWNER_CATALOG = """
admins = ["U0ADMIN01"]
security_channel = "C0SECURITY"

[[secrets]]
id = "blueprints"
name = "Plant blueprints"
owners = ["U0OWNER01", "U0OWNER02"]
approvals = 1
"""


async def start(factory: ConfideFactory, catalog: str | None = None) -> Confide:
    return await factory.start(catalog=catalog, clock=Clock(WEDNESDAY))


async def test_approvers_are_reminded_once_per_period_then_the_request_expires(confide_factory):
    confide = await start(confide_factory)
    fake, clock, scheduler = confide.fake, confide.clock, confide.runtime.scheduler
    status, body = await confide.slack.command("U0EMP01", "/access", "request customer-list 7d planning")
    assert status == 200 and "R-1" in body["text"]
    await fake.wait_for(lambda: fake.messages_to("U0OWNER01"))

    clock.advance(hours=23, minutes=59)
    assert await scheduler.sweep_now() == []

    clock.advance(minutes=1)  # 24 h undecided
    sent = await scheduler.sweep_now()
    assert [(m.recipient, m.kind) for m in sent] == [("U0OWNER01", "nudges")]
    reminder = (await fake.wait_for(lambda: nudges(fake, "U0OWNER01")))[0]
    assert "R-1" in reminder.text and "planning" in reminder.text
    assert "remind_1" in block_ids(reminder)  # Approve / Deny right in the reminder
    assert await scheduler.sweep_now() == []  # the same instant again: nothing new

    clock.advance(hours=12)
    assert await scheduler.sweep_now() == []  # within the period
    clock.advance(hours=12)  # 48 h: the second period
    assert [m.recipient for m in await scheduler.sweep_now()] == ["U0OWNER01"]
    await fake.wait_for(lambda: len(nudges(fake, "U0OWNER01")) == 2)

    clock.advance(hours=24)  # 72 h: expires instead of a third reminder
    sent = await scheduler.sweep_now()
    assert sorted((m.recipient, m.kind, m.op) for m in sent) == [
        ("U0EMP01", "nudges", "post"),
        ("U0OWNER01", "request_card", "update"),
    ]
    told = (await fake.wait_for(lambda: nudges(fake, "U0EMP01")))[0]
    assert "R-1" in told.text and "expired" in told.text and "72 hours" in told.text
    card = (await fake.wait_for(lambda: fake.calls_to("chat.update")))[0]
    assert "Expired" in card.text
    assert len(nudges(fake, "U0OWNER01")) == 2
    assert await scheduler.sweep_now() == []

    # A late click on the old reminder changes nothing.
    status, _ = await confide.slack.click("U0OWNER01", "Approve", message=reminder.args)
    assert status == 200
    refusal = await fake.wait_for(lambda: fake.calls_to("response_url"))
    assert "already expired" in refusal[-1]["text"]
    async with confide.db.read() as conn:
        assert await audit.verify_chain(conn) is None


async def test_approve_from_the_reminder(confide_factory):
    confide = await start(confide_factory)
    fake, clock = confide.fake, confide.clock
    await confide.slack.command("U0EMP01", "/access", "request customer-list 7d planning")
    clock.advance(hours=24)
    await confide.runtime.scheduler.sweep_now()
    reminder = (await fake.wait_for(lambda: nudges(fake, "U0OWNER01")))[0]
    status, _ = await confide.slack.click("U0OWNER01", "Approve", message=reminder.args)
    assert status == 200
    told = await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    assert "approved" in told[0].text
    clock.advance(hours=48)
    assert await confide.runtime.scheduler.sweep_now() == []  # decided: no reminder, no expiry


async def test_work_of_deactivated_approvers_goes_to_the_others_then_the_admins(confide_factory):
    confide = await start(confide_factory, TWO_OWNER_CATALOG)
    fake, clock, scheduler = confide.fake, confide.clock, confide.runtime.scheduler
    await confide.slack.command("U0EMP01", "/access", "request blueprints 7d planning")
    await fake.wait_for(lambda: fake.messages_to("U0OWNER01") and fake.messages_to("U0OWNER02"))

    await deactivate(confide, "U0OWNER01")
    clock.advance(hours=24)
    assert [m.recipient for m in await scheduler.sweep_now()] == ["U0OWNER02"]

    await deactivate(confide, "U0OWNER02")
    clock.advance(hours=24)
    sent = await scheduler.sweep_now()
    # Nobody left who can approve: the admin becomes an approver and gets the request card.
    assert [(m.recipient, m.kind) for m in sent] == [("U0ADMIN01", "request_card")]
    card = (await fake.wait_for(lambda: fake.messages_to("U0ADMIN01")))[0]
    status, _ = await confide.slack.click("U0ADMIN01", "Approve", message=card.args)
    assert status == 200
    told = await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    assert "approved" in told[0].text
    assert not nudges(fake, "U0OWNER01")
    assert len(nudges(fake, "U0OWNER02")) == 1
