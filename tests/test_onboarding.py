"""team_join welcomes and asks; user_change keeps the scope current; retries do their work once."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from tests.agreements_support import acknowledge_values, eventually, nda, rows
from tests.conftest import Confide
from tests.fake_slack import slack_user
from workflows.tables import agreement_obligations, audit_log, members, outbox


def welcomes_to(confide: Confide, user: str) -> list:
    return [c for c in confide.fake.messages_to(user) if "Welcome" in c.text]


async def status_numbers(confide: Confide) -> dict[str, str]:
    """agreement id → 'acknowledged/in scope', from /nda status's fallback text."""
    _, body = await confide.slack.command("U0ADMIN01", "/nda", "status")
    pairs = body["text"].removeprefix("Agreement status: ").split("; ")
    return dict(p.split(" ") for p in pairs)


async def test_team_join_welcomes_a_member_with_the_agreements_that_apply(confide: Confide):
    fake = confide.fake
    status, _ = await confide.slack.event(
        {"type": "team_join", "user": slack_user("U0NEW01", "Nina New")}, event_id="Ev0JOIN1"
    )
    assert status == 200
    [welcome] = await fake.wait_for(lambda: welcomes_to(confide, "U0NEW01"))
    assert acknowledge_values(welcome.blocks) == ["nda|2026-01"]  # not the guests' agreement
    assert "U0NEW01" in welcome.text

    # The I acknowledge button in the welcome works like everywhere else.
    status, _ = await confide.slack.click("U0NEW01", "I acknowledge", message=welcome.args)
    assert status == 200
    assert acknowledge_values((await nda(confide, "U0NEW01"))["blocks"]) == []
    [joined] = await rows(confide, audit_log, audit_log.c.action == "member.welcomed")
    assert joined.subject == "U0NEW01"
    assert json.loads(joined.details) == {"owes": [{"agreement": "nda", "version": "2026-01"}]}
    assert (await status_numbers(confide))["nda"] == "1/7"


async def test_team_join_of_a_guest_asks_for_the_contractor_agreement_too(confide: Confide):
    fake = confide.fake
    await confide.slack.event({"type": "team_join", "user": slack_user("U0NEWG01", "Gil Guest", guest=True)})
    [welcome] = await fake.wait_for(lambda: welcomes_to(confide, "U0NEWG01"))
    assert acknowledge_values(welcome.blocks) == ["nda|2026-01", "contractor-nda|2026-03"]
    [obligation] = await rows(
        confide,
        agreement_obligations,
        agreement_obligations.c.user_id == "U0NEWG01",
        agreement_obligations.c.agreement_id == "contractor-nda",
    )
    assert obligation.first_owed_at == confide.clock()
    assert obligation.due_at == confide.clock() + timedelta(days=7)


async def test_retried_team_join_welcomes_once(confide: Confide):
    fake = confide.fake
    event = {"type": "team_join", "user": slack_user("U0NEW02", "Nora New")}
    first = await confide.slack.event(event, event_id="Ev0JOINRETRY")
    again = await confide.slack.event(event, event_id="Ev0JOINRETRY", retry_num=1)
    assert first[0] == again[0] == 200
    await fake.wait_for(lambda: welcomes_to(confide, "U0NEW02"))
    # A later event, sent after the retry, is a marker: once its welcome is out, the retry was handled.
    await confide.slack.event({"type": "team_join", "user": slack_user("U0NEW03", "Ned New")})
    await fake.wait_for(lambda: welcomes_to(confide, "U0NEW03"))

    async def drained() -> bool:
        return await rows(confide, outbox, outbox.c.sent_at.is_(None)) == []

    await eventually(drained)
    assert len(welcomes_to(confide, "U0NEW02")) == 1
    welcomed = await rows(confide, audit_log, audit_log.c.action == "member.welcomed")
    assert [w.subject for w in welcomed] == ["U0NEW02", "U0NEW03"]


async def test_bots_joining_are_not_welcomed_nor_in_scope(confide: Confide):
    await confide.slack.event({"type": "team_join", "user": slack_user("U0BOT02", "Deploy Bot", bot=True)})
    await confide.slack.event({"type": "team_join", "user": slack_user("U0NEW04", "Nell New")})
    await confide.fake.wait_for(lambda: welcomes_to(confide, "U0NEW04"))

    async def bot_stored() -> bool:
        return bool(await rows(confide, members, members.c.user_id == "U0BOT02"))

    await eventually(bot_stored)
    assert welcomes_to(confide, "U0BOT02") == []
    assert await rows(confide, agreement_obligations, agreement_obligations.c.user_id == "U0BOT02") == []
    # In scope: the six people of the workspace plus Nell; never U0BOT01 or U0BOT02.
    assert (await status_numbers(confide))["nda"] == "0/7"


async def test_user_change_follows_scope_and_deactivation(confide: Confide):
    assert await status_numbers(confide) == {"nda": "0/6", "contractor-nda": "0/1"}

    # The guest becomes a full member: the contractor agreement no longer applies to them.
    await confide.slack.event({"type": "user_change", "user": slack_user("U0GUEST01", "Gus Guest")})

    async def guest_promoted() -> bool:
        return (await status_numbers(confide)).get("contractor-nda") == "0/0"

    await eventually(guest_promoted)
    assert acknowledge_values((await nda(confide, "U0GUEST01"))["blocks"]) == ["nda|2026-01"]
    [obligation] = await rows(
        confide,
        agreement_obligations,
        agreement_obligations.c.user_id == "U0GUEST01",
        agreement_obligations.c.agreement_id == "contractor-nda",
    )
    assert obligation.due_at is None  # nothing is due from someone out of scope

    # A member first seen through user_change is in scope; a deactivated one no longer is.
    await confide.slack.event({"type": "user_change", "user": slack_user("U0LATE01", "Lou Late")})
    await confide.slack.event({"type": "user_change", "user": slack_user("U0EMP02", "Emil", deleted=True)})

    async def changed() -> bool:
        late = await rows(confide, agreement_obligations, agreement_obligations.c.user_id == "U0LATE01")
        gone = await rows(confide, members, members.c.user_id == "U0EMP02", members.c.deleted)
        return bool(late and gone)

    await eventually(changed)
    assert (await status_numbers(confide))["nda"] == "0/6"
    _, body = await confide.slack.command("U0ADMIN01", "/nda", "status")
    shown = json.dumps(body["blocks"])
    assert "U0LATE01" in shown and "U0EMP02" not in shown and "U0BOT01" not in shown
    async with confide.db.read() as conn:
        due = (
            await conn.execute(
                sa.select(agreement_obligations.c.due_at).where(agreement_obligations.c.user_id == "U0EMP02")
            )
        ).scalars()
        assert list(due) == [None]
