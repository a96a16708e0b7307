"""/confide status and /confide audit (admins), /nda status refusals, /confide help."""

from __future__ import annotations

import json

import pytest

from tests.agreements_support import acknowledge, request_and_approve
from tests.conftest import Confide


@pytest.mark.parametrize(
    ("command", "text"),
    [("/nda", "status"), ("/confide", "status"), ("/confide", "audit U0EMP02"), ("/nda", "status 2")],
)
async def test_admin_commands_politely_refuse_everyone_else(confide: Confide, command: str, text: str):
    status, body = await confide.slack.command("U0EMP01", command, text)
    assert status == 200
    assert body["response_type"] == "ephemeral"
    assert "Sorry" in body["text"] and "admins" in body["text"]


async def test_confide_status_shows_coverage_reviews_and_pending_requests(confide: Confide):
    clock = confide.clock
    await request_and_approve(confide, "U0EMP02", "request customer-list 60d territory plan")  # G-1
    clock.advance(days=6)
    await request_and_approve(confide, "U0EMP01", "request customer-list 60d renewals")  # G-2
    clock.advance(days=25)  # G-1's review (30 days) is overdue, G-2's falls due in 5 days
    await confide.slack.command("U0GUEST01", "/access", "request customer-list 7d onboarding")
    clock.advance(hours=5)
    await acknowledge(confide, "U0EMP01", "nda")

    status, body = await confide.slack.command("U0ADMIN01", "/confide", "status")
    assert status == 200 and body["response_type"] == "ephemeral"
    assert body["text"] == (
        "Compliance dashboard — coverage: nda 1/6, contractor-nda 0/1; reviews due soon: 1; "
        "overdue reviews: 1; pending requests: 1; open cases: 0; overdue items: 7"
    )
    sections = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    shown = "\n".join(sections)
    # Everyone was first owed the agreements at start, 31 days ago: past due_days (14 and 7).
    assert "*1 of 6* acknowledged (16%) · 5 outstanding, 5 overdue" in shown
    assert "*0 of 1* acknowledged (0%) · 1 outstanding, 1 overdue" in shown
    due_soon = shown.split("Grants due for review in the next 7 days: 1")[1].split("Overdue reviews")[0]
    assert "G-2" in due_soon and "<@U0EMP01>" in due_soon and "G-1" not in due_soon
    overdue = shown.split("Overdue reviews: 1")[1].split("Pending requests")[0]
    assert "G-1" in overdue and "<@U0EMP02>" in overdue and "overdue since" in overdue
    pending = shown.split("Pending requests: 1")[1]
    assert "R-3" in pending and "<@U0GUEST01>" in pending and "waiting 5 hours" in pending
    assert "Overdue items: 7* — 6 agreement acknowledgement(s) past due, 1 review(s), 0 case(s)" in shown
    assert "Open cases: 0" in shown
    assert len(body["blocks"]) <= 50


async def test_confide_audit_shows_recent_entries_for_a_user_secret_or_case(confide: Confide):
    await acknowledge(confide, "U0EMP01", "nda")
    await request_and_approve(confide, "U0EMP01", "request customer-list 7d renewals")

    _, body = await confide.slack.command("U0ADMIN01", "/confide", "audit U0EMP01")
    shown = json.dumps(body["blocks"])
    assert "agreement.acknowledged" in shown and "access.new_requested" in shown
    actions = [b["text"]["text"] for b in body["blocks"][1:-1]]
    assert "access.new_requested" in actions[0]  # newest first
    assert len(actions) == 2

    _, mention = await confide.slack.command("U0ADMIN01", "/confide", "audit <@U0EMP01|eve>")
    assert mention["blocks"] == body["blocks"]

    _, secret = await confide.slack.command("U0ADMIN01", "/confide", "audit customer-list")
    shown = json.dumps(secret["blocks"])
    assert "access.approved" in shown and "access.new_requested" in shown and "<@U0OWNER01>" in shown

    _, case = await confide.slack.command("U0ADMIN01", "/confide", "audit case-1")
    assert case["text"] == "No audit entries about `CASE-1`."

    _, usage = await confide.slack.command("U0ADMIN01", "/confide", "audit")
    assert "Usage: `/confide audit <user-id|secret-id|CASE-n>`" in usage["text"]
    _, bad = await confide.slack.command("U0ADMIN01", "/confide", "audit <script>")
    assert "is not a user, secret or case" in bad["text"] and "&lt;script&gt;" not in bad["text"]


async def test_confide_help_lists_the_admin_commands(confide: Confide):
    _, body = await confide.slack.command("U0EMP01", "/confide", "help")
    for command in ("/nda status", "/confide status", "/confide audit <user-id|secret-id|CASE-n>", "/nda"):
        assert command in body["text"]
    _, body = await confide.slack.command("U0EMP01", "/confide", "frobnicate")
    assert "I don't know `/confide frobnicate`" in body["text"]
