"""/training end to end over Slack's wire protocol: lessons paged in a modal, a failed quiz naming the
wrong questions, Retry, a pass recorded and audited; access gated on training; /training status."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.agreements_support import rows
from tests.conftest import Confide, ConfideFactory
from tests.training_support import (
    CATALOG,
    RIGHT,
    TWO_WRONG,
    buttons,
    click_into_view,
    read_lessons,
    take_training,
)
from workflows.tables import audit_log, training_attempts, training_obligations


def dump(blocks: object) -> str:
    return json.dumps(blocks, ensure_ascii=False)


async def test_taking_a_training_lessons_then_a_failed_quiz_then_a_pass(confide_factory: ConfideFactory):
    confide = await confide_factory.start(catalog=CATALOG)
    fake = confide.fake
    status, body = await confide.slack.command("U0EMP01", "/training")
    assert status == 200 and body["response_type"] == "ephemeral"
    assert body["text"] == "You have 1 training to complete."
    assert buttons(body["blocks"]) == ["Start"] and "Secrets basics" in dump(body["blocks"])
    assert "Please complete it by <!date^" in dump(body["blocks"])

    # Start opens lesson 1; Next pages through every lesson (the long third one over two pages).
    lesson = await click_into_view(confide, "U0EMP01", "Start", blocks=body["blocks"])
    assert lesson["type"] == "modal" and lesson["title"]["text"] == "Secrets basics"
    shown = dump(lesson["blocks"])
    assert (
        "Lesson 1 of 3" in shown
        and "*Why*" in shown
        and "*valuable*" in shown
        and "_not generally known_" in shown
    )
    assert buttons(lesson["blocks"]) == ["Next"]
    seen = []
    while "Next" in buttons(lesson["blocks"]):
        lesson = await click_into_view(confide, "U0EMP01", "Next", view=lesson)
        seen.append(lesson["blocks"][0]["elements"][0]["text"])
        assert len(lesson["blocks"]) <= 100
        assert all(len(b["text"]["text"]) <= 3000 for b in lesson["blocks"] if b["type"] == "section")
    assert [s.split(" · ", 1)[1] for s in seen] == [
        "Lesson 2 of 3",
        "Lesson 3 of 3 · part 1 of 2",
        "Lesson 3 of 3 · part 2 of 2",
    ]
    assert buttons(lesson["blocks"]) == ["Back", "Take the quiz"]
    back = await click_into_view(confide, "U0EMP01", "Back", view=lesson)
    assert "part 1 of 2" in back["blocks"][0]["elements"][0]["text"]

    # The quiz: one radio group per question, labelled with its text.
    quiz = await click_into_view(confide, "U0EMP01", "Take the quiz", view=lesson)
    inputs = [b for b in quiz["blocks"] if b["type"] == "input"]
    assert [b["label"]["text"] for b in inputs] == list(RIGHT)
    assert {b["element"]["type"] for b in inputs} == {"radio_buttons"}
    assert quiz["submit"]["text"] == "Submit answers"

    # Two wrong of four: not passed, the wrong questions named, Retry offered.
    status, failed = await confide.slack.submit("U0EMP01", quiz, TWO_WRONG)
    assert status == 200 and failed["response_action"] == "update"
    shown = dump(failed["view"]["blocks"])
    assert "2 of 4 right; 3 are needed" in shown
    assert "2. How do you get access?" in shown and "3. Where do secrets live?" in shown
    assert "What makes a trade secret?" not in shown
    assert buttons(failed["view"]["blocks"]) == ["Retry", "Review the lessons"]
    assert fake.calls_to("views.publish", user_id="U0EMP01") == []

    # Retry shows the quiz again, fresh; the right answers pass.
    retry = await click_into_view(confide, "U0EMP01", "Retry", view=failed["view"])
    assert [b["label"]["text"] for b in retry["blocks"] if b["type"] == "input"] == list(RIGHT)
    status, passed = await confide.slack.submit("U0EMP01", retry, RIGHT)
    assert status == 200
    shown = dump(passed["view"]["blocks"])
    assert (
        "You passed Secrets basics" in shown and "4 of 4 right" in shown and "refresher will be due" in shown
    )
    # The Home is republished to show it done.
    home = await fake.wait_for(lambda: fake.calls_to("views.publish", user_id="U0EMP01"))
    assert "You are up to date with your confidentiality training" in dump(home[0].view)

    _, body = await confide.slack.command("U0EMP01", "/training")
    assert body["text"] == "✅ You owe no training: you are up to date."
    assert "Secrets basics* (v1) — passed <!date^" in dump(body["blocks"])

    attempts = await rows(confide, training_attempts)
    assert [(a.user_id, a.version, a.correct, a.total, a.passed) for a in attempts] == [
        ("U0EMP01", "v1", 2, 4, False),
        ("U0EMP01", "v1", 4, 4, True),
    ]
    audited = await rows(confide, audit_log, audit_log.c.subject == "basics")
    assert [(a.action, a.actor) for a in audited] == [
        ("training.failed", "U0EMP01"),
        ("training.passed", "U0EMP01"),
    ]
    assert json.loads(audited[0].details)["wrong"] == [2, 3]
    [obligation] = await rows(confide, training_obligations, training_obligations.c.user_id == "U0EMP01")
    assert obligation.passed_at == confide.clock() and obligation.due_at == obligation.owed_from


async def test_access_to_a_secret_is_gated_on_its_training(confide_factory: ConfideFactory):
    confide = await confide_factory.start(catalog=CATALOG)
    status, refused = await confide.slack.command("U0EMP02", "/access", "request recipe 7d new product")
    assert status == 200
    assert "requires you to complete the training Secrets basics first" in refused["text"]
    assert buttons(refused["blocks"]) == ["Start"]
    assert await rows(confide, training_attempts) == []

    # Start right there, in the refusal: the lessons, the quiz, a pass; then the request goes through.
    quiz = await read_lessons(confide, "U0EMP02", refused["blocks"])
    status, _ = await confide.slack.submit("U0EMP02", quiz, RIGHT)
    assert status == 200
    _, filed = await confide.slack.command("U0EMP02", "/access", "request recipe 7d new product")
    assert "Request R-1 sent" in filed["text"]


async def test_the_access_form_turns_into_a_training_prompt_whose_start_continues_in_the_modal(
    confide_factory: ConfideFactory,
):
    confide = await confide_factory.start(catalog=CATALOG)
    await confide.slack.command("U0EMP01", "/access")
    form = (await confide.fake.wait_for(lambda: confide.fake.calls_to("views.open")))[0].view
    status, body = await confide.slack.submit(
        "U0EMP01", form, {"Secret": "Secret recipe (recipe)", "Justification": "launch"}
    )
    assert status == 200 and body["response_action"] == "update"
    assert body["view"]["title"]["text"] == "Training first" and buttons(body["view"]["blocks"]) == ["Start"]
    lesson = await click_into_view(confide, "U0EMP01", "Start", view=body["view"])
    assert "Lesson 1 of 3" in dump(lesson["blocks"])


async def test_a_newer_version_makes_old_buttons_say_so(confide_factory: ConfideFactory):
    confide = await confide_factory.start(catalog=CATALOG)
    _, body = await confide.slack.command("U0EMP01", "/training")
    stale = json.loads(json.dumps(body["blocks"]).replace("basics|v1", "basics|v0"))
    status, _ = await confide.slack.click("U0EMP01", "Start", blocks=stale)
    assert status == 200
    reply = await confide.fake.wait_for(lambda: confide.fake.calls_to("response_url"))
    assert "has a newer version (v1)" in reply[0]["text"]
    assert confide.fake.calls_to("views.open") == []


async def test_training_status_for_admins_and_help(confide_factory: ConfideFactory):
    confide = await confide_factory.start(catalog=CATALOG)
    await take_training(confide, "U0EMP01")
    _, refused = await confide.slack.command("U0EMP01", "/training", "status")
    assert "Sorry" in refused["text"] and "admins" in refused["text"]

    _, body = await confide.slack.command("U0ADMIN01", "/training", "status")
    assert body["text"] == "Training status: basics 1/6"
    shown = dump(body["blocks"])
    assert "*1 of 6* passed (16%) · 5 outstanding, 0 overdue" in shown
    for person in ("U0ADMIN01", "U0OWNER01", "U0OWNER02", "U0EMP02", "U0GUEST01"):
        assert f"<@{person}> — owed since" in shown
    assert "<@U0EMP01>" not in shown and "U0BOT01" not in shown

    confide.clock.advance(days=8)  # past due_days
    _, body = await confide.slack.command("U0ADMIN01", "/training", "status")
    assert "5 outstanding, 5 overdue" in dump(body["blocks"])

    _, usage = await confide.slack.command("U0EMP01", "/training", "help")
    assert "/training status" in usage["text"]
    _, unknown = await confide.slack.command("U0EMP01", "/training", "skip it please")
    assert "I don't know `/training skip it please`" in unknown["text"]


async def test_app_home_shows_training_owed_with_start(confide: Confide):
    status, _ = await confide.slack.event({"type": "app_home_opened", "user": "U0EMP01", "tab": "home"})
    assert status == 200
    [home] = await confide.fake.wait_for(lambda: confide.fake.calls_to("views.publish", user_id="U0EMP01"))
    assert "Training you owe" in dump(home.view) and "Handling trade secrets" in dump(home.view)
    lesson = await click_into_view(confide, "U0EMP01", "Start", blocks=home.view["blocks"])
    assert "What makes a trade secret" in dump(lesson["blocks"])


async def test_newcomers_are_welcomed_with_the_training_and_admins_see_completion(confide: Confide):
    fake = confide.fake
    newcomer = {"id": "U0NEW01", "name": "nia", "real_name": "Nia New", "deleted": False, "is_bot": False}
    status, _ = await confide.slack.event({"type": "team_join", "user": newcomer})
    assert status == 200
    [welcome] = await fake.wait_for(lambda: fake.messages_to("U0NEW01"))
    assert "Handling trade secrets" in welcome.text and buttons(welcome.blocks) == ["I acknowledge", "Start"]
    [obligation] = await rows(confide, training_obligations, training_obligations.c.user_id == "U0NEW01")
    assert obligation.due_at == confide.clock() + timedelta(days=120)

    _, body = await confide.slack.command("U0ADMIN01", "/confide", "status")
    shown = dump(body["blocks"])
    assert "*Training completion*" in shown
    assert (
        "*Handling trade secrets* (`handling-secrets`, version 2026-01, everyone): *0 of 7* passed" in shown
    )
