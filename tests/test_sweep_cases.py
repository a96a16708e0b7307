"""Case deadlines in the sweep: an untaken case nudges the security channel (with Take case), a reporter
owed feedback nudges the investigators (with Message reporter); once per cadence; never a trace of the
reporter."""

import json
from datetime import timedelta

import sqlalchemy as sa

from tests.case_helpers import SECURITY, case_card, click_and_submit, file_report, start, wait_card
from tests.conftest import Clock
from tests.sweep_support import WEDNESDAY, agreements_up_to_date, audit_actions, cli_env, nudges, run_cli
from workflows import audit
from workflows.tables import audit_log, cases
from workflows.tables import outbox as outbox_table

WHAT = "Someone pasted the Formula X recipe into a public channel."


def nudged(sent):
    return sorted(m.recipient for m in sent if m.kind == "nudges")


def items(sent, recipient):
    return [i for m in sent if m.kind == "nudges" and m.recipient == recipient for i in m.data["items"]]


async def created_at(confide, case_id=1):
    async with confide.db.read() as conn:
        return (await conn.execute(sa.select(cases.c.created_at).where(cases.c.id == case_id))).scalar_one()


async def test_untaken_case_nudges_the_channel_then_the_reporter_waits_for_the_investigator(confide_factory):
    confide = await start(confide_factory, clock=Clock(WEDNESDAY))
    fake, clock, scheduler = confide.fake, confide.clock, confide.runtime.scheduler
    await agreements_up_to_date(confide.db, confide.runtime.catalog, clock())  # no agreement reminders
    await file_report(confide, "U0EMP01", **{"What happened": WHAT})  # anonymous by default
    await case_card(confide)
    ack_due = await created_at(confide) + timedelta(days=7)  # case_ack_days

    clock.at = ack_due - timedelta(seconds=1)
    assert nudged(await scheduler.sweep_now()) == []
    clock.at = ack_due
    sent = await scheduler.sweep_now()
    assert nudged(sent) == [SECURITY]
    [item] = items(sent, SECURITY)
    assert (item["type"], item["ref"], item["notice"]) == ("case_not_taken", "CASE-1", 1)
    assert await scheduler.sweep_now() == []  # the same instant again: nothing new
    clock.advance(days=2)
    assert nudged(await scheduler.sweep_now()) == []  # within review_reminder_days
    clock.advance(days=1)
    assert [i["notice"] for i in items(await scheduler.sweep_now(), SECURITY)] == [2]

    nudge = (await fake.wait_for(lambda: nudges(fake, SECURITY)))[0]
    assert "case not taken: CASE-1" in nudge.text
    status, _ = await confide.slack.click("U0OWNER01", "Take case", message=nudge.args)  # from the nudge
    assert status == 200
    await wait_card(confide, lambda t: "assigned" in t)
    clock.advance(days=30)
    assert nudged(await scheduler.sweep_now()) == []  # taken: nothing due until the feedback deadline

    feedback_due = await created_at(confide) + timedelta(days=90)  # case_feedback_days
    clock.at = feedback_due
    sent = await scheduler.sweep_now()
    assert nudged(sent) == ["U0OWNER01"]  # the assignee, not the channel
    assert [(i["type"], i["assignee"]) for i in items(sent, "U0OWNER01")] == [
        ("case_feedback_due", "U0OWNER01")
    ]
    assert await scheduler.sweep_now() == []
    reminder = (await fake.wait_for(lambda: nudges(fake, "U0OWNER01")))[0]
    assert "reporter waiting: CASE-1" in reminder.text and "Message reporter" in str(reminder.blocks)

    clock.advance(hours=1)  # the investigator writes from the nudge: the deadline moves on
    values = {"Message to the reporter": "We are on it."}
    status, _ = await click_and_submit(confide, "U0OWNER01", "Message reporter", reminder, values)
    assert status == 200
    await wait_card(confide, lambda t: "Messages to the reporter: 1" in t)
    clock.advance(days=3)
    assert nudged(await scheduler.sweep_now()) == []

    # Nothing the sweep wrote or sent names the reporter or repeats the report.
    told = nudges(fake, SECURITY) + nudges(fake, "U0OWNER01")
    assert len(told) == 3
    await audit.seal(confide.db)
    async with confide.db.read() as conn:
        nudge_rows = (
            await conn.execute(sa.select(outbox_table.c.data).where(outbox_table.c.kind == "nudges"))
        ).all()
        audit_rows = (
            await conn.execute(
                sa.select(audit_log.c.details).where(audit_log.c.action == "case.deadline_nudged")
            )
        ).all()
    assert len(audit_rows) == 3
    for text in (
        [json.dumps(c.args) for c in told] + [r.data for r in nudge_rows] + [r.details for r in audit_rows]
    ):
        assert "U0EMP01" not in text and "Formula X recipe" not in text
    assert [d["told"] for d in await audit_actions(confide.db, "case.deadline_nudged")] == [
        [SECURITY],
        [SECURITY],
        ["U0OWNER01"],
    ]


async def test_an_unassigned_case_past_both_deadlines_tells_the_channel_and_every_investigator(
    confide_factory, database_url
):
    """Through `confide nudges --at`: one message per recipient; the same instant twice sends nothing."""
    confide = await start(confide_factory)
    await agreements_up_to_date(confide.db, confide.runtime.catalog, confide.clock())
    await file_report(confide, "U0EMP02", **{"What happened": WHAT, "Stay anonymous": []})  # named
    at = (await created_at(confide) + timedelta(days=90)).isoformat()
    env = cli_env(confide.fake, database_url, confide.settings.confide_catalog)

    code, out, err = await run_cli(env, "nudges", "--at", at)
    assert code == 0, err
    lines = sorted(out.splitlines())
    assert [line.split("\t")[0] for line in lines] == ["C0SECURITY", "U0ADMIN01", "U0OWNER01"]
    assert "case not taken: CASE-1" in lines[0] and "reporter waiting" not in lines[0]
    assert all("reporter waiting: CASE-1" in line for line in lines[1:])
    assert all("U0EMP02" not in line for line in lines)  # not even a named reporter
    assert await run_cli(env, "nudges", "--at", at) == (0, "", "")
