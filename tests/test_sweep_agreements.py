"""Agreements owed past due_days: reminded with the I acknowledge button, every review_reminder_days,
then escalated once to the admins and the security channel; never the deactivated."""

import asyncio
import tomllib
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import event

from config.catalog import parse_catalog
from tests.agreements_support import acknowledge, acknowledge_values, ephemeral_reply
from tests.conftest import Clock
from tests.sweep_support import (
    WEDNESDAY,
    audit_actions,
    cli_env,
    deactivate,
    nudges,
    run_cli,
    sent_items,
)
from workflows.db import Database
from workflows.sweep.run import run_sweep, sweep
from workflows.tables import agreement_obligations

CATALOG = """
admins = ["U0ADMIN01"]
security_channel = "C0SECURITY"

[[agreements]]
id = "nda"
title = "Employee Confidentiality Agreement"
version = "v1"
url = "https://intranet.example/nda-v1.pdf"
applies_to = "everyone"
due_days = 14
dtsa_notice = true
"""
OWING = ["U0ADMIN01", "U0GUEST01", "U0OWNER01", "U0OWNER02"]  # not U0EMP01 (acknowledged), U0EMP02 (gone)


def nudged(sent):
    return sorted(m.recipient for m in sent if m.kind == "nudges")


def items(sent, recipient):
    return [i for m in sent if m.kind == "nudges" and m.recipient == recipient for i in m.data["items"]]


async def test_reminders_with_the_button_every_three_days_then_one_escalation(confide_factory):
    confide = await confide_factory.start(catalog=CATALOG, clock=Clock(WEDNESDAY))
    fake, clock, scheduler = confide.fake, confide.clock, confide.runtime.scheduler
    await acknowledge(confide, "U0EMP01", "nda")
    await deactivate(confide, "U0EMP02", "Emil Employee")

    clock.advance(days=14, seconds=-1)
    assert nudged(await scheduler.sweep_now()) == []
    clock.advance(seconds=1)  # due_days after the installation first owed it
    sent = await scheduler.sweep_now()
    assert nudged(sent) == OWING
    [owed] = items(sent, "U0OWNER01")
    assert (owed["type"], owed["agreement_id"], owed["version"], owed["reminder"]) == (
        "agreement_owed",
        "nda",
        "v1",
        1,
    )
    assert await scheduler.sweep_now() == []  # the same instant again: nothing new

    reminder = (await fake.wait_for(lambda: nudges(fake, "U0OWNER01")))[0]
    assert "agreement to acknowledge: Employee Confidentiality Agreement (v1)" in reminder.text
    assert acknowledge_values(reminder.blocks) == ["nda|v1"]
    status, _ = await confide.slack.click("U0OWNER01", "I acknowledge", message=reminder.args)
    assert status == 200
    await ephemeral_reply(confide, "your acknowledgement of *Employee Confidentiality Agreement* (v1)")

    clock.advance(days=3)
    sent = await scheduler.sweep_now()
    assert nudged(sent) == ["U0ADMIN01", "U0GUEST01", "U0OWNER02"]
    assert {i["reminder"] for r in nudged(sent) for i in items(sent, r)} == {2}
    assert not await audit_actions(confide.db, "agreement.escalated")

    clock.advance(days=3)  # two reminders went unanswered: the admins and the channel are told
    sent = await scheduler.sweep_now()
    assert nudged(sent) == ["C0SECURITY", "U0ADMIN01", "U0GUEST01", "U0OWNER02"]
    [escalation] = items(sent, "C0SECURITY")
    assert escalation["type"] == "agreement_escalation"
    assert (escalation["users"], escalation["count"]) == (["U0ADMIN01", "U0GUEST01", "U0OWNER02"], 3)
    assert [i["type"] for i in items(sent, "U0ADMIN01")] == ["agreement_owed", "agreement_escalation"]
    alert = (await fake.wait_for(lambda: nudges(fake, "C0SECURITY")))[0]
    assert "Agreements still outstanding" in str(alert.blocks) and "<@U0GUEST01>" in str(alert.blocks)
    escalated = await audit_actions(confide.db, "agreement.escalated")
    assert len(escalated) == 3 and {e["reminders"] for e in escalated} == {2}

    clock.advance(days=3)  # the people keep being reminded; the escalation is not repeated
    sent = await scheduler.sweep_now()
    assert nudged(sent) == ["U0ADMIN01", "U0GUEST01", "U0OWNER02"]
    assert len(await audit_actions(confide.db, "agreement.escalated")) == 3

    assert not nudges(fake, "U0EMP02") and not nudges(fake, "U0EMP01")
    reminded = await audit_actions(confide.db, "agreement.reminded")
    assert len(reminded) == 4 + 3 + 3 + 3


async def test_a_renewal_owes_it_anew_reminders_count_again_and_may_escalate_again(confide_factory):
    confide = await confide_factory.start(catalog=CATALOG + "renew_every_days = 30\n", clock=Clock(WEDNESDAY))
    clock, scheduler = confide.clock, confide.runtime.scheduler
    for day in (14, 17, 20):
        clock.at = WEDNESDAY + timedelta(days=day)
        await scheduler.sweep_now()
    assert len(await audit_actions(confide.db, "agreement.escalated")) == 6  # everyone in the workspace

    await acknowledge(confide, "U0EMP01", "nda")  # acknowledging resets the count
    acknowledged_at = clock()
    async with confide.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(agreement_obligations).where(agreement_obligations.c.user_id == "U0EMP01")
            )
        ).one()
    assert (row.notify_count, row.due_at) == (0, acknowledged_at + timedelta(days=30 + 14))

    # The acknowledgement lapses after 30 days; 14 days later the reminders start again from one.
    for day, reminder in ((44, 1), (47, 2), (50, 3)):
        clock.at = acknowledged_at + timedelta(days=day)
        sent = await scheduler.sweep_now()
        assert [i["reminder"] for i in items(sent, "U0EMP01")] == [reminder]
    escalated = await audit_actions(confide.db, "agreement.escalated")
    assert len(escalated) == 7 and escalated[-1]["reminders"] == 2


async def test_confide_nudges_at_shows_then_sends_reminders_once_and_counts_sweeps_not_days(
    confide_factory, database_url
):
    # A fixed clock: on a real one, some days put a sweep below within a day of the weekly digest's
    # slot, and the digest's line joined the nudges'.
    confide = await confide_factory.start(catalog=CATALOG, clock=Clock(WEDNESDAY))
    env = cli_env(confide.fake, database_url, confide.settings.confide_catalog)
    due = confide.clock() + timedelta(days=14, seconds=1)

    code, out, err = await run_cli(env, "nudges", "--at", due.isoformat(), "--dry-run")
    assert code == 0, err
    assert sorted(line.split("\t")[0] for line in out.splitlines()) == [
        "U0ADMIN01",
        "U0EMP01",
        "U0EMP02",
        "U0GUEST01",
        "U0OWNER01",
        "U0OWNER02",
    ]
    assert all(
        "would send nudges: Confide: 1 item(s) — agreement to acknowledge: Employee Confidentiality "
        "Agreement (v1)" in line
        for line in out.splitlines()
    )
    code, out, err = await run_cli(env, "nudges", "--at", due.isoformat())
    assert code == 0, err
    assert len(out.splitlines()) == 6 and all("\tsent nudges:" in line for line in out.splitlines())
    assert len(nudges(confide.fake, "U0GUEST01")) == 1
    assert await run_cli(env, "nudges", "--at", due.isoformat()) == (0, "", "")

    # Reminders count the sweeps that reminded, not the days: a sweep after a long pause is reminder 2.
    code, out, _ = await run_cli(env, "nudges", "--at", (due + timedelta(days=10)).isoformat())
    assert code == 0 and len(out.splitlines()) == 6
    code, out, _ = await run_cli(env, "nudges", "--at", (due + timedelta(days=13)).isoformat())
    assert code == 0
    escalation = [line for line in out.splitlines() if line.startswith("C0SECURITY\t")]
    assert (
        len(escalation) == 1
        and "agreement outstanding: Employee Confidentiality Agreement (v1), 6" in (escalation[0])
    )
    assert [i["reminder"] for r, i in await sent_items(confide.db) if r == "U0EMP01"] == [1, 2, 3]


async def test_two_sweeps_at_once_escalate_once(confide_factory):
    confide = await confide_factory.start(catalog=CATALOG, clock=Clock(WEDNESDAY))
    db, catalog = confide.db, confide.runtime.catalog
    for day in (14, 17):
        await sweep(db, catalog, WEDNESDAY + timedelta(days=day))
    at = WEDNESDAY + timedelta(days=20)
    await asyncio.gather(sweep(db, catalog, at), sweep(db, catalog, at))
    escalations = [(r, i["count"]) for r, i in await sent_items(db) if i["type"] == "agreement_escalation"]
    assert sorted(escalations) == [("C0SECURITY", 6), ("U0ADMIN01", 6)]
    assert len(await audit_actions(db, "agreement.escalated")) == 6
    assert len(await audit_actions(db, "agreement.reminded")) == 18


async def test_the_claim_searches_the_due_index(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'plans.db'}")
    await db.migrate()
    catalog = parse_catalog_toml(CATALOG)
    later, earlier = WEDNESDAY + timedelta(days=300), WEDNESDAY - timedelta(days=1)
    rows = [
        {
            "user_id": f"U0PERSON{i:04d}",
            "agreement_id": "nda",
            "version": "v1",
            "first_owed_at": earlier,
            "owed_from": earlier,
            "due_at": earlier if i % 500 == 0 else (later if i % 3 else None),
        }
        for i in range(2000)
    ]
    async with db.write() as conn:
        await conn.execute(agreement_obligations.insert(), rows)
        await conn.execute(sa.text("ANALYZE"))
    statements: list[tuple[str, tuple]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("UPDATE agreement_obligations") and " IN (SELECT " in statement:
            statements.append((statement, tuple(parameters)))

    event.listen(db.sync_engine, "before_cursor_execute", capture)
    async with db.write() as conn:
        await run_sweep(conn, catalog, WEDNESDAY)
    event.remove(db.sync_engine, "before_cursor_execute", capture)
    assert statements
    async with db.read() as conn:
        for statement, parameters in statements:
            plan = [
                row[3] for row in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            ]
            assert not [step for step in plan if step.startswith("SCAN")], (statement, plan)
            assert any("ix_obligations_due" in step for step in plan), plan
    assert len(await audit_actions(db, "agreement.reminded")) == 4  # 0, 500, 1000, 1500
    await db.dispose()


def parse_catalog_toml(text):
    return parse_catalog(tomllib.loads(text))
