"""Case deadlines as the sweep will see them: claimed with one conditional UPDATE, nudged once per
cadence, moved by taking the case and by messages to the reporter, ended by closing it."""

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from tests.case_helpers import SECURITY, case_card, click_and_submit, file_report, start, wait_card
from workflows.case_deadlines import claim_due_case_nudges, due_case_nudges, nudge_recipients
from workflows.tables import cases


async def created_at(confide):
    async with confide.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.min(cases.c.created_at)))).scalar_one()


async def claim(confide, at):
    async with confide.db.write() as conn:
        return await claim_due_case_nudges(conn, confide.runtime.catalog, at)


async def test_an_untaken_case_is_due_once_per_cadence_until_taken(confide_factory):
    confide = await start(confide_factory)
    catalog = confide.runtime.catalog
    await file_report(confide)
    card = await case_card(confide)
    due = await created_at(confide) + timedelta(days=7)  # case_ack_days

    assert await claim(confide, due - timedelta(seconds=1)) == []
    async with confide.db.read() as conn:
        preview = await due_case_nudges(conn, catalog, due)
    assert [(n.ref, n.ack_overdue, n.feedback_overdue) for n in preview] == [("CASE-1", True, False)]
    nudges = await claim(confide, due)
    assert [(n.ref, n.ack_overdue, n.notify_count) for n in nudges] == [("CASE-1", True, 1)]
    async with confide.db.read() as conn:
        assert await nudge_recipients(conn, catalog, nudges[0]) == [SECURITY]
        assert await due_case_nudges(conn, catalog, due) == []
    assert await claim(confide, due) == []  # a second sweep at the same instant finds nothing
    assert await claim(confide, due + timedelta(days=2)) == []  # within review_reminder_days
    assert [n.notify_count for n in await claim(confide, due + timedelta(days=3))] == [2]

    await confide.slack.click("U0OWNER01", "Take case", message=card.args)
    await wait_card(confide, lambda t: "assigned" in t)
    assert await claim(confide, due + timedelta(days=30)) == []


async def test_the_reporter_is_owed_feedback_until_an_investigator_writes(confide_factory):
    confide = await start(confide_factory)
    catalog = confide.runtime.catalog
    await file_report(confide)
    card = await case_card(confide)
    await confide.slack.click("U0OWNER01", "Take case", message=card.args)
    await wait_card(confide, lambda t: "assigned" in t)
    due = await created_at(confide) + timedelta(days=90)  # case_feedback_days

    nudges = await claim(confide, due)
    assert [(n.ack_overdue, n.feedback_overdue, n.assignee) for n in nudges] == [(False, True, "U0OWNER01")]
    async with confide.db.read() as conn:
        assert await nudge_recipients(conn, catalog, nudges[0]) == ["U0OWNER01"]

    confide.clock.at = due + timedelta(days=1)
    message = {"Message to the reporter": "Update"}
    await click_and_submit(confide, "U0OWNER01", "Message reporter", card, message)
    await wait_card(confide, lambda t: "Messages to the reporter: 1" in t)
    async with confide.db.read() as conn:
        row = (await conn.execute(sa.select(cases))).one()
    assert row.feedback_due_at == confide.clock.at + timedelta(days=90) and row.notify_count == 0
    assert await claim(confide, confide.clock.at + timedelta(days=89)) == []
    assert len(await claim(confide, confide.clock.at + timedelta(days=90))) == 1

    await click_and_submit(confide, "U0OWNER01", "Update status", card, {"New status": "dismissed"})
    await wait_card(confide, lambda t: "Dismissed" in t)
    assert await claim(confide, confide.clock.at + timedelta(days=400)) == []


async def test_feedback_nudges_go_to_investigators_when_nobody_has_the_case(confide_factory):
    confide = await start(confide_factory)
    await file_report(confide)
    nudges = await claim(confide, await created_at(confide) + timedelta(days=90))
    assert (nudges[0].ack_overdue, nudges[0].feedback_overdue) == (True, True)
    async with confide.db.read() as conn:
        assert await nudge_recipients(conn, confide.runtime.catalog, nudges[0]) == [
            SECURITY,
            "U0ADMIN01",
            "U0OWNER01",
        ]


async def test_two_sweeps_at_once_claim_each_case_once(confide_factory):
    confide = await start(confide_factory)
    for _ in range(3):
        await file_report(confide)
    due = await created_at(confide) + timedelta(days=8)
    first, second = await asyncio.gather(claim(confide, due), claim(confide, due))
    assert sorted(n.case_id for n in first + second) == [1, 2, 3]
