"""Training reminders in the sweep: owed past due_days, and a refresher falling due after every_days, seen
through `confide nudges --at` in a real subprocess; the same instant twice sends nothing new."""

from __future__ import annotations

from datetime import timedelta

from tests.agreements_support import rows
from tests.conftest import Clock, ConfideFactory
from tests.sweep_support import WEDNESDAY, audit_actions, cli_env, deactivate, nudges, run_cli, sent_items
from tests.test_nudges_cli import drained
from tests.training_support import CATALOG, buttons, click_into_view, take_training
from workflows.tables import training_obligations

PEOPLE = ["U0ADMIN01", "U0EMP01", "U0EMP02", "U0GUEST01", "U0OWNER01", "U0OWNER02"]


async def test_training_owed_past_due_days_is_reminded_with_start(confide_factory: ConfideFactory):
    clock = Clock(WEDNESDAY)
    confide = await confide_factory.start(catalog=CATALOG, clock=clock)
    fake, scheduler = confide.fake, confide.runtime.scheduler
    await take_training(confide, "U0EMP02")  # passed: never reminded before the refresher
    await deactivate(confide, "U0GUEST01", "Gus Guest")

    clock.advance(days=6, hours=23)
    assert await scheduler.sweep_now() == []
    clock.advance(hours=1)  # due_days (7) after everyone first owed it
    sent = await scheduler.sweep_now()
    assert sorted(m.recipient for m in sent) == ["U0ADMIN01", "U0EMP01", "U0OWNER01", "U0OWNER02"]
    assert await scheduler.sweep_now() == []  # the same instant again: nothing new

    [reminder] = await fake.wait_for(lambda: nudges(fake, "U0EMP01"))
    assert reminder.text.startswith("Confide: 1 item(s) — training owed: Secrets basics")
    assert "You owe it since" in reminder.text and buttons(reminder.blocks) == ["Start"]
    lesson = await click_into_view(confide, "U0EMP01", "Start", message=reminder.args)
    assert "Lesson 1 of 3" in str(lesson["blocks"])

    clock.advance(days=3)  # review_reminder_days
    again = await scheduler.sweep_now()
    assert sorted(m.recipient for m in again) == ["U0ADMIN01", "U0EMP01", "U0OWNER01", "U0OWNER02"]
    items = [item for recipient, item in await sent_items(confide.db) if recipient == "U0EMP01"]
    assert [(i["type"], i["refresher"], i["reminder"]) for i in items] == [
        ("training_due", False, 0),
        ("training_due", False, 1),
    ]
    reminded = await audit_actions(confide.db, "training.reminded")
    assert len(reminded) == 8 and {r["notice"] for r in reminded} == {1, 2}


async def test_a_refresher_falls_due_after_every_days_through_the_cli(
    confide_factory: ConfideFactory, database_url: str, tmp_path
):
    catalog_path = tmp_path / "catalog.toml"
    catalog_path.write_text(CATALOG)
    confide = await confide_factory.start(catalog=catalog_path)
    fake, passed_at = confide.fake, confide.clock()
    for person in PEOPLE:  # everyone passes now, so only refreshers can fall due
        await take_training(confide, person)
    await drained(confide)
    env = cli_env(fake, database_url, catalog_path)

    before = (passed_at + timedelta(days=89, hours=23)).isoformat()
    code, out, err = await run_cli(env, "nudges", "--at", before, "--dry-run")
    assert code == 0, err
    assert "U0EMP01" not in out and "refresher" not in out

    due = (passed_at + timedelta(days=90)).isoformat()  # every_days after the pass
    code, out, err = await run_cli(env, "nudges", "--at", due)
    assert code == 0, err
    lines = {line.split("\t")[0]: line for line in out.splitlines()}
    assert set(PEOPLE) <= set(lines)
    assert lines["U0EMP01"] == ("U0EMP01\tsent nudges: Confide: 1 item(s) — refresher due: Secrets basics")
    [refresher] = await fake.wait_for(lambda: nudges(fake, "U0EMP01"))
    assert "A refresher is due since" in refresher.text and buttons(refresher.blocks) == ["Start"]

    code, out, err = await run_cli(env, "nudges", "--at", due)  # the same instant again
    assert code == 0, err
    assert not [line for line in out.splitlines() if line.startswith(tuple(PEOPLE))]
    assert len(nudges(fake, "U0EMP01")) == 1

    # /training now shows it owed as a refresher; passing again clears it until the next one.
    confide.clock.at = passed_at + timedelta(days=90, hours=1)
    _, body = await confide.slack.command("U0EMP01", "/training")
    assert body["text"] == "You have 1 training to complete." and "Refresher: you last passed it" in str(body)
    await take_training(confide, "U0EMP01")
    [row] = await rows(confide, training_obligations, training_obligations.c.user_id == "U0EMP01")
    assert row.due_at == confide.clock() + timedelta(days=90) and row.notify_count == 0
