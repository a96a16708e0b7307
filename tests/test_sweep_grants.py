"""Sweep rows for grants: an Extend button 24 h before expiry, then the grant ends and the grantee is told."""

import sqlalchemy as sa

from tests.conftest import Clock
from tests.sweep_support import WEDNESDAY, agreements_up_to_date, audit_actions, nudges
from workflows.tables import grants


async def grant_row(confide, grant_id):
    async with confide.db.read() as conn:
        return (await conn.execute(sa.select(grants).where(grants.c.id == grant_id))).one()


async def request_and_approve(confide, command_text):
    fake = confide.fake
    before = len(fake.messages_to("U0OWNER01"))
    await confide.slack.command("U0EMP01", "/access", command_text)
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")[before:]))[0]
    status, _ = await confide.slack.click("U0OWNER01", "Approve", message=card.args)
    assert status == 200


async def test_extend_button_a_day_before_expiry_then_expiry(confide_factory):
    confide = await confide_factory.start(clock=Clock(WEDNESDAY))
    fake, clock, scheduler = confide.fake, confide.clock, confide.runtime.scheduler
    await agreements_up_to_date(confide.db, confide.runtime.catalog, clock())
    await request_and_approve(confide, "request customer-list 3d launch prep")
    await fake.wait_for(lambda: fake.messages_to("U0EMP01"))

    clock.advance(hours=47, minutes=59)
    assert await scheduler.sweep_now() == []
    clock.advance(minutes=1)  # 24 h before expiry
    assert [m.recipient for m in await scheduler.sweep_now()] == ["U0EMP01"]
    warning = (await fake.wait_for(lambda: nudges(fake, "U0EMP01")))[0]
    assert "G-1" in warning.text and "Key customer list" in warning.text
    assert await scheduler.sweep_now() == []  # warned once

    status, _ = await confide.slack.click("U0EMP01", "Extend", message=warning.args)
    assert status == 200
    opened = (await fake.wait_for(lambda: fake.calls_to("views.open")))[-1]
    assert opened.view["private_metadata"] == "1"
    status, body = await confide.slack.submit(
        "U0EMP01", opened.view, {"Duration": "7 days", "Justification": "launch slipped a week"}
    )
    assert status == 200 and body["response_action"] == "update"
    card = (await fake.wait_for(lambda: [c for c in fake.messages_to("U0OWNER01") if "R-2" in c.text]))[0]
    assert "extend" in card.text and "launch slipped a week" in card.text
    status, _ = await confide.slack.click("U0OWNER01", "Approve", message=card.args)
    assert status == 200
    await fake.wait_for(lambda: len(fake.messages_to("U0EMP01")) >= 3)  # approval of the extension

    clock.advance(hours=24)  # the old expiry: the grant runs on
    assert await scheduler.sweep_now() == []
    assert (await grant_row(confide, 1)).status == "active"

    clock.advance(days=6)  # 24 h before the new expiry: warned again
    assert [m.recipient for m in await scheduler.sweep_now()] == ["U0EMP01"]
    clock.advance(hours=24)
    assert [m.recipient for m in await scheduler.sweep_now()] == ["U0EMP01"]
    told = (await fake.wait_for(lambda: len(nudges(fake, "U0EMP01")) == 3 and nudges(fake, "U0EMP01")))[-1]
    assert "G-1" in told.text and "expired" in told.text
    row = await grant_row(confide, 1)
    assert (row.status, row.ended_by, row.end_reason) == ("expired", "confide", "expired")
    assert [d["grant"] for d in await audit_actions(confide.db, "access.grant_expired")] == [1]
    assert await scheduler.sweep_now() == []

    status, body = await confide.slack.command("U0EMP01", "/access", "list")
    assert "no active grants" in body["text"] or "0 active grant" in body["text"]


async def test_pending_extension_is_withdrawn_when_the_grant_expires(confide_factory):
    confide = await confide_factory.start(clock=Clock(WEDNESDAY))
    fake, clock, scheduler = confide.fake, confide.clock, confide.runtime.scheduler
    await request_and_approve(confide, "request customer-list 2d launch prep")
    await confide.slack.command("U0EMP01", "/access", "extend G-1 7d more time please")
    await fake.wait_for(lambda: [c for c in fake.messages_to("U0OWNER01") if "R-2" in c.text])

    clock.advance(hours=48)
    sent = await scheduler.sweep_now()
    assert sorted((m.recipient, m.kind) for m in sent) == [
        ("U0EMP01", "nudges"),
        ("U0OWNER01", "request_card"),  # the extension card now shows it was cancelled
    ]
    told = (await fake.wait_for(lambda: nudges(fake, "U0EMP01")))[0]
    assert "expired" in told.text
    assert "R-2 was withdrawn" in "\n".join(b["text"]["text"] for b in told.blocks if "text" in b)
    cancelled = await fake.wait_for(lambda: [c for c in fake.calls_to("chat.update") if "R-2" in c.text])
    assert "Cancelled" in cancelled[-1].text
