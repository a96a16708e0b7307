"""Investigators on a case, end to end: Take case, Update status, Message reporter, Add evidence and
Record legal action, each threaded under the card and audited; and only investigators may act."""

from datetime import timedelta

import sqlalchemy as sa

from tests.case_helpers import (
    SECURITY,
    case_card,
    click_and_submit,
    example_catalog,
    file_report,
    refusals,
    start,
    wait_card,
    wait_note,
)
from workflows import audit
from workflows.tables import case_evidence, case_legal_actions, cases


async def case_row(confide, case_id=1):
    async with confide.db.read() as conn:
        return (await conn.execute(sa.select(cases).where(cases.c.id == case_id))).one()


async def test_take_case_assigns_the_clicker_and_moves_new_to_triaging(confide_factory):
    confide = await start(confide_factory)
    await file_report(confide)
    card = await case_card(confide)
    assert (await case_row(confide)).ack_due_at is not None

    status, _ = await confide.slack.click("U0ADMIN01", "Take case", message=card.args)
    assert status == 200
    shown = await wait_card(confide, lambda t: "Triaging" in t)
    assert "assigned to <@U0ADMIN01>" in shown
    await wait_note(confide, "<@U0ADMIN01> took CASE-1")
    row = await case_row(confide)
    assert (row.status, row.assignee, row.ack_due_at) == ("triaging", "U0ADMIN01", None)

    await confide.slack.click("U0OWNER01", "Take case", message=card.args)
    await wait_note(confide, "took CASE-1 over from <@U0ADMIN01>")
    await wait_card(confide, lambda t: "assigned to <@U0OWNER01>" in t)
    await confide.slack.click("U0OWNER01", "Take case", message=card.args)
    assert "You already have CASE-1" in (await confide.fake.wait_for(lambda: refusals(confide)))[0]["text"]
    async with confide.db.read() as conn:
        actions = [e.action for e in reversed(await audit.entries_for_subject(conn, "CASE-1"))]
    assert actions == ["case.reported", "case.taken", "case.taken"]


async def test_status_moves_through_the_lifecycle_and_closing_is_final(confide_factory):
    confide = await start(confide_factory)
    fake = confide.fake
    await file_report(confide)
    card = await case_card(confide)
    await confide.slack.click("U0ADMIN01", "Update status", message=card.args)
    modal = (await fake.wait_for(lambda: fake.calls_to("views.open")[1:]))[0].view
    select = next(b for b in modal["blocks"] if b.get("label", {}).get("text") == "New status")
    assert [o["value"] for o in select["element"]["options"]] == [
        "triaging",
        "investigating",
        "escalated-legal",
        "resolved",
        "dismissed",
    ]
    status, body = await confide.slack.submit(
        "U0ADMIN01", modal, {"New status": "investigating", "Note": "Checking badge logs"}
    )
    assert status == 200 and body is None
    await wait_note(confide, "moved CASE-1 from 🆕 New to 🔎 Investigating")
    await wait_note(confide, "Checking badge logs")
    await wait_card(confide, lambda t: "Investigating" in t)

    # A modal opened before someone else moved the case cannot move it to the same status again.
    await confide.slack.click("U0OWNER01", "Update status", message=card.args)
    stale = (await fake.wait_for(lambda: fake.calls_to("views.open")[2:]))[0].view
    await confide.slack.click("U0ADMIN01", "Update status", message=card.args)
    other = (await fake.wait_for(lambda: fake.calls_to("views.open")[3:]))[0].view
    await confide.slack.submit("U0ADMIN01", other, {"New status": "Escalated to legal"})
    status, body = await confide.slack.submit("U0OWNER01", stale, {"New status": "escalated-legal"})
    assert body["response_action"] == "errors"
    assert "already escalated-legal" in body["errors"]["case_status"]

    resolve = {"New status": "Resolved"}
    status, body = await click_and_submit(confide, "U0ADMIN01", "Update status", card, resolve)
    assert status == 200 and body is None
    shown = await wait_card(confide, lambda t: "Resolved" in t)
    assert "Take case" not in shown and "Update status" not in shown and "Add evidence" in shown
    row = await case_row(confide)
    assert row.status == "resolved" and row.closed_at is not None
    assert row.ack_due_at is None and row.feedback_due_at is None

    await confide.slack.click("U0ADMIN01", "Update status", message=card.args)
    refused = await fake.wait_for(lambda: refusals(confide))
    assert "CASE-1 is resolved" in refused[0]["text"]


async def test_named_report_records_the_reporter_and_dms_them_updates(confide_factory):
    confide = await start(confide_factory)
    fake = confide.fake
    key = await file_report(confide, "U0EMP01", **{"Stay anonymous": []})
    card = await case_card(confide)
    assert "Reported by:* <@U0EMP01>" in card.text
    row = await case_row(confide)
    assert row.reporter == "U0EMP01" and not row.anonymous
    assert row.created_at == confide.clock.at  # a named report keeps its exact time

    await confide.slack.click("U0ADMIN01", "Take case", message=card.args)
    dm = await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    assert "CASE-1 is now 🟡 Triaging" in dm[0].text
    confide.clock.advance(days=5)
    message = {"Message to the reporter": "Thanks!"}
    await click_and_submit(confide, "U0ADMIN01", "Message reporter", card, message)
    dms = await fake.wait_for(lambda: fake.messages_to("U0EMP01")[1:])
    assert "Thanks!" in dms[0].text
    assert all(key not in c.text for c in fake.messages_to("U0EMP01"))
    row = await case_row(confide)
    assert row.feedback_due_at == confide.clock.at + timedelta(days=90)
    status, body = await confide.slack.command("U0EMP01", "/report-leak", f"reply {key} You're welcome")
    await wait_note(confide, "<@U0EMP01> (the reporter) replied")


async def test_evidence_is_validated_on_the_modal_and_appended(confide_factory):
    confide = await start(confide_factory)
    await file_report(confide)
    card = await case_card(confide)
    status, body = await click_and_submit(
        confide, "U0ADMIN01", "Add evidence", card, {"Description": "USB photo", "SHA-256": "abc123"}
    )
    assert body["response_action"] == "errors" and "64 hexadecimal" in body["errors"]["evidence_sha256"]
    status, body = await click_and_submit(
        confide, "U0ADMIN01", "Add evidence", card, {"Description": "USB photo", "Link": "not a link"}
    )
    assert body["response_action"] == "errors" and "evidence_link" in body["errors"]

    digest = "AB" * 32
    status, body = await click_and_submit(
        confide,
        "U0ADMIN01",
        "Add evidence",
        card,
        {"Description": "USB photo", "Link": "https://drive.example/f/1", "SHA-256": digest},
    )
    assert status == 200 and body is None
    note = await wait_note(confide, "added evidence")
    assert "ab" * 32 in note.text and "https://drive.example/f/1" in note.text
    await click_and_submit(confide, "U0OWNER01", "Add evidence", card, {"Description": "Badge log export"})
    await wait_card(confide, lambda t: "Evidence: 2" in t)
    async with confide.db.read() as conn:
        rows = (await conn.execute(sa.select(case_evidence).order_by(case_evidence.c.id))).all()
        entries = await audit.entries_for_subject(conn, "CASE-1")
    entries = [e for e in entries if e.action == "case.evidence_added"]
    assert [(r.description, r.sha256, r.added_by) for r in rows] == [
        ("USB photo", "ab" * 32, "U0ADMIN01"),
        ("Badge log export", None, "U0OWNER01"),
    ]
    assert rows[0].added_at == confide.clock.at
    assert {e.details["evidence"] for e in entries} == {rows[0].id, rows[1].id}


async def acknowledge_nda(confide, user):
    status, body = await confide.slack.command(user, "/access", "request pricing-model 7d need it")
    status, _ = await confide.slack.click(user, "I acknowledge", blocks=body["blocks"])
    assert status == 200


async def test_legal_action_shows_whether_the_subject_got_the_dtsa_notice(confide_factory):
    confide = await start(confide_factory)
    await acknowledge_nda(confide, "U0EMP02")
    await file_report(confide)
    card = await case_card(confide)
    status, body = await click_and_submit(
        confide,
        "U0ADMIN01",
        "Record legal action",
        card,
        {"Legal action": "cease-and-desist", "Date": "31/12/2026", "Counterparty": "Acme", "Status": "sent"},
    )
    assert body["response_action"] == "errors" and "YYYY-MM-DD" in body["errors"]["legal_date"]
    status, body = await click_and_submit(
        confide, "U0ADMIN01", "Record legal action", card, {"Legal action": "injunction", "Status": "filed"}
    )
    assert body["response_action"] == "errors" and "legal_counterparty" in body["errors"]

    status, body = await click_and_submit(
        confide,
        "U0ADMIN01",
        "Record legal action",
        card,
        {
            "Legal action": "Cease-and-desist",
            "Date": "2026-12-01",
            "Counterparty": "Acme Corp",
            "Status": "sent",
            "Notes": "Via outside counsel",
            "Subject": "U0EMP02",
        },
    )
    assert status == 200 and body is None
    shown = await wait_card(confide, lambda t: "Subject" in t)
    assert "<@U0EMP02>" in shown
    assert "DTSA immunity notice given in Employee Confidentiality Agreement (2026-01)" in shown
    assert "Legal actions: 1" in shown
    note = await wait_note(confide, "recorded a legal action")
    assert "Cease-and-desist" in note.text and "Acme Corp" in note.text and "Via outside counsel" in note.text
    async with confide.db.read() as conn:
        action = (await conn.execute(sa.select(case_legal_actions))).one()
    assert (action.kind, action.action_date.isoformat(), action.counterparty, action.status) == (
        "cease-and-desist",
        "2026-12-01",
        "Acme Corp",
        "sent",
    )
    assert (action.subject_user, action.dtsa_notice, action.recorded_by) == ("U0EMP02", True, "U0ADMIN01")
    assert (await case_row(confide)).subject_user == "U0EMP02"

    # The next legal action's modal starts from the case's subject; the date defaults to today.
    status, body = await click_and_submit(
        confide,
        "U0ADMIN01",
        "Record legal action",
        card,
        {"Legal action": "law-enforcement", "Counterparty": "Police", "Status": "referred"},
    )
    async with confide.db.read() as conn:
        second = (await conn.execute(sa.select(case_legal_actions).where(case_legal_actions.c.id == 2))).one()
    assert second.subject_user == "U0EMP02" and second.action_date == confide.clock.at.date()


async def test_subject_whose_agreements_lack_the_notice_is_flagged(confide_factory, tmp_path):
    catalog = example_catalog(tmp_path, {"renew_every_days = 365\ndtsa_notice = true": "dtsa_notice = false"})
    confide = await start(confide_factory, catalog)
    await acknowledge_nda(confide, "U0EMP02")
    await file_report(confide)
    await file_report(confide)
    values = {"Legal action": "litigation", "Counterparty": "Acme", "Status": "filed"}
    card = await case_card(confide)
    await click_and_submit(confide, "U0ADMIN01", "Record legal action", card, values | {"Subject": "U0EMP02"})
    shown = await wait_card(confide, lambda t: "Subject" in t)
    assert "no DTSA immunity notice in the agreements they acknowledged" in shown
    assert "Employee Confidentiality Agreement (2026-01)" in shown
    card = await case_card(confide, 2)
    await click_and_submit(confide, "U0ADMIN01", "Record legal action", card, values | {"Subject": "U0EMP01"})
    shown = await wait_card(confide, lambda t: "Subject" in t, case_id=2)
    assert "<@U0EMP01> — ⚠️ acknowledged no agreement" in shown


async def test_only_named_investigators_may_act_when_the_catalog_names_them(confide_factory, tmp_path):
    catalog = example_catalog(tmp_path, {'# investigators = ["S0SECTEAM"]': 'investigators = ["S0SECTEAM"]'})
    confide_factory.fake.usergroups["S0SECTEAM"] = ["U0OWNER02"]
    confide = await start(confide_factory, catalog)  # U0ADMIN01 is in the channel, not in the group
    fake = confide.fake
    await file_report(confide)
    card = await case_card(confide)
    for button in ("Take case", "Update status", "Message reporter", "Add evidence", "Record legal action"):
        status, _ = await confide.slack.click("U0ADMIN01", button, message=card.args)
        assert status == 200
    refused = await fake.wait_for(lambda: len(refusals(confide)) == 5 and refusals(confide))
    assert all("Only the security team's investigators" in r["text"] for r in refused)
    assert all(r["response_type"] == "ephemeral" for r in refused)
    assert len(fake.calls_to("views.open")) == 1  # only the reporter's modal ever opened

    # A modal opened by an investigator and submitted by someone else changes nothing either.
    await confide.slack.click("U0OWNER02", "Message reporter", message=card.args)
    modal = (await fake.wait_for(lambda: fake.calls_to("views.open")[1:]))[0].view
    status, body = await confide.slack.submit("U0ADMIN01", modal, {"Message to the reporter": "hello"})
    assert body["response_action"] == "errors"
    row = await case_row(confide)
    assert (row.status, row.assignee) == ("new", None)
    assert not fake.calls_to("chat.update")
    assert not [c for c in fake.messages_to(SECURITY) if c.get("thread_ts")]

    await confide.slack.click("U0OWNER02", "Take case", message=card.args)
    await wait_card(confide, lambda t: "assigned to <@U0OWNER02>" in t)


async def test_without_investigators_the_security_channel_members_investigate(confide_factory):
    confide = await start(confide_factory)
    fake = confide.fake
    assert fake.calls_to("conversations.members", channel=SECURITY)
    await file_report(confide)
    card = await case_card(confide)
    await confide.slack.click("U0EMP02", "Take case", message=card.args)
    refused = await fake.wait_for(lambda: refusals(confide))
    assert "Only the security team's investigators" in refused[0]["text"]
    await confide.slack.click("U0OWNER01", "Take case", message=card.args)
    await wait_card(confide, lambda t: "assigned to <@U0OWNER01>" in t)


async def test_report_with_a_secret_that_left_the_catalog_is_refused_on_the_modal(confide_factory):
    confide = await start(confide_factory)
    await confide.slack.command("U0EMP01", "/report-leak")
    modal = (await confide.fake.wait_for(lambda: confide.fake.calls_to("views.open")))[0].view
    select = modal["blocks"][1]["element"]
    select["options"].append({"text": {"type": "plain_text", "text": "Gone"}, "value": "gone"})
    status, body = await confide.slack.submit(
        "U0EMP01", modal, {"Which secret is affected": "gone", "What happened": "x"}
    )
    assert body["response_action"] == "errors" and "leak_secret" in body["errors"]
    assert not confide.fake.messages_to(SECURITY)
