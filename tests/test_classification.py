"""Classification reviews over Slack's wire protocol: owners asked when a secret's review falls due, and
each answer — Still secret, Declassify (grants ended, grantees told, requests refused), Change owners
(recorded for the next catalog edit) — recorded, audited and shown in /confide status."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.agreements_support import ephemeral_reply, request_and_approve, rows
from tests.conftest import Clock, Confide, ConfideFactory
from tests.sweep_support import WEDNESDAY, audit_actions, block_ids, deactivate, nudges
from tests.training_support import CATALOG, buttons, click_into_view, take_training
from workflows.tables import access_requests, classification_outcomes, grants, secret_reviews

CLASSIFY_CATALOG = (
    CATALOG
    + """
[[secrets]]
id = "supplier-terms"
name = "Supplier terms"
owners = ["U0OWNER02"]
"""
)


async def review_row(confide: Confide, secret_id: str):
    [row] = await rows(confide, secret_reviews, secret_reviews.c.secret_id == secret_id)
    return row


def asked(confide: Confide, owner: str, secret_id: str) -> list:
    """The sweep's messages to this owner that ask about this secret."""
    return [c for c in nudges(confide.fake, owner) if f"classify_{secret_id}" in block_ids(c)]


def classification_blocks(call) -> list[str]:
    return [b for b in block_ids(call) if b.startswith("classify_")]


async def test_a_classification_review_answered_each_way(confide_factory: ConfideFactory):
    clock = Clock(WEDNESDAY)
    confide = await confide_factory.start(catalog=CLASSIFY_CATALOG, clock=clock)
    fake, scheduler = confide.fake, confide.runtime.scheduler
    assert (await review_row(confide, "recipe")).review_due_at == WEDNESDAY + timedelta(days=30)
    assert (await review_row(confide, "roadmap")).review_due_at == WEDNESDAY + timedelta(days=60)
    await take_training(confide, "U0EMP01")
    await request_and_approve(confide, "U0EMP01", "request recipe 90d launch")  # G-1, 90 days

    clock.advance(days=30)
    sent = await scheduler.sweep_now()
    assert {"U0OWNER01", "U0OWNER02"} <= {m.recipient for m in sent}
    assert await scheduler.sweep_now() == []  # the same instant again: nothing new
    [asked_o1] = await fake.wait_for(lambda: nudges(fake, "U0OWNER01"))
    [asked_o2] = await fake.wait_for(lambda: nudges(fake, "U0OWNER02"))
    assert classification_blocks(asked_o1) == ["classify_recipe"]
    assert classification_blocks(asked_o2) == ["classify_recipe", "classify_supplier-terms"]
    assert (
        "Is it still a trade secret" in asked_o1.text
        and "classification review: Secret recipe" in asked_o1.text
    )
    recipe_buttons = [b for b in asked_o1.blocks if b.get("block_id") == "classify_recipe"]
    assert buttons(recipe_buttons) == ["Still secret", "Declassify", "Change owners"]
    requested = await audit_actions(confide.db, "classification.review_requested")
    assert sorted(r["reviewers"][0] for r in requested) == ["U0OWNER01", "U0OWNER02"]

    # Unanswered: reminded after review_reminder_days.
    clock.advance(days=3)
    await scheduler.sweep_now()
    reminded = await fake.wait_for(lambda: asked(confide, "U0OWNER01", "recipe")[1:])
    assert len(reminded) == 1 and "reminder 1" in reminded[0].text

    # Change owners: a multi-user select; recorded for the next catalog edit, not applied.
    form = await click_into_view(
        confide, "U0OWNER02", "Change owners", message=asked_o2.args, block_id="classify_supplier-terms"
    )
    [owners_input] = [b for b in form["blocks"] if b.get("block_id") == "classification_owners"]
    assert owners_input["element"]["type"] == "multi_users_select"
    assert owners_input["element"]["initial_users"] == ["U0OWNER02"]
    status, empty = await confide.slack.submit("U0OWNER02", form, {"New owners": [], "Note": "x"})
    assert (status, empty["response_action"]) == (200, "errors")
    assert empty["errors"] == {"classification_owners": "Choose at least one owner."}
    status, bot = await confide.slack.submit("U0OWNER02", form, {"New owners": ["U0BOT01"]})
    assert "<@U0BOT01> cannot own a secret" in bot["errors"]["classification_owners"]
    status, body = await confide.slack.submit(
        "U0OWNER02", form, {"New owners": ["U0OWNER01", "U0EMP02"], "Note": "Olga moves to sales"}
    )
    assert status == 200 and body["view"]["title"]["text"] == "Owners recorded"
    assert "recorded by <@U0OWNER02> for the next catalog edit: <@U0OWNER01>, <@U0EMP02>" in str(body)
    assert confide.runtime.catalog.secret("supplier-terms").owners == ["U0OWNER02"]
    terms = await review_row(confide, "supplier-terms")
    assert json.loads(terms.proposed_owners) == ["U0OWNER01", "U0EMP02"]
    assert terms.review_due_at == clock() + timedelta(days=30) and terms.notify_count == 0

    # Declassify: a note in a modal; the grant ends, the grantee and the requester are told, the other
    # owner hears of it, and new requests are refused.
    await take_training(confide, "U0EMP02")
    _, filed = await confide.slack.command("U0EMP02", "/access", "request recipe 7d tasting")
    assert "Request R-2 sent" in filed["text"]
    form = await click_into_view(
        confide, "U0OWNER01", "Declassify", message=asked_o1.args, block_id="classify_recipe"
    )
    assert form["submit"]["text"] == "Declassify"
    status, body = await confide.slack.submit("U0OWNER01", form, {"Note": "Published in our patent"})
    assert status == 200 and body["view"]["title"]["text"] == "Declassified"
    assert "1 grant(s) ended, 1 pending request(s) cancelled" in str(body)
    [grant] = await rows(confide, grants)
    assert (grant.status, grant.ended_by, grant.end_reason) == (
        "revoked",
        "U0OWNER01",
        "the secret was declassified",
    )
    [_, cancelled] = await rows(confide, access_requests)
    assert cancelled.status == "cancelled"
    told = await fake.wait_for(lambda: [c for c in fake.messages_to("U0EMP01") if "declassified" in c.text])
    assert (
        "no longer treated as a trade secret" in told[0].text
        and "Your access (G-1) has ended" in told[0].text
    )
    await fake.wait_for(lambda: [c for c in fake.messages_to("U0EMP02") if "R-2) was cancelled" in c.text])
    await fake.wait_for(lambda: [c for c in fake.messages_to("U0OWNER02") if "which you own" in c.text])
    _, refused = await confide.slack.command("U0EMP02", "/access", "request recipe 7d tasting")
    assert (
        "was declassified by <@U0OWNER01>" in refused["text"] and "no longer grants access" in refused["text"]
    )
    [declassified] = await audit_actions(confide.db, "classification.declassified")
    assert declassified == {"grants_ended": [1], "requests_cancelled": [2], "has_note": True}

    # The other owner's buttons now say it is decided; the sweep never asks about it again.
    status, _ = await confide.slack.click(
        "U0OWNER02", "Still secret", message=asked_o2.args, block_id="classify_recipe"
    )
    assert status == 200
    assert "already declassified by <@U0OWNER01>" in await ephemeral_reply(confide, "already declassified")
    clock.advance(days=3)
    await scheduler.sweep_now()
    assert len(asked(confide, "U0OWNER01", "recipe")) == 2

    # Still secret, from the message: that secret's buttons become the outcome; the next review is set.
    clock.at = WEDNESDAY + timedelta(days=60)
    await scheduler.sweep_now()
    [roadmap_ask] = await fake.wait_for(lambda: asked(confide, "U0OWNER01", "roadmap"))
    status, _ = await confide.slack.click(
        "U0EMP01", "Still secret", message=roadmap_ask.args, block_id="classify_roadmap"
    )
    assert "Only the owners of *Product roadmap* or an admin" in await ephemeral_reply(
        confide, "Only the owners"
    )
    status, _ = await confide.slack.click(
        "U0OWNER01", "Still secret", message=roadmap_ask.args, block_id="classify_roadmap"
    )
    assert status == 200
    [replaced] = await fake.wait_for(
        lambda: [c for c in fake.calls_to("response_url") if c.get("replace_original") is True]
    )
    assert "confirmed still secret by <@U0OWNER01>" in replaced.text
    assert "classify_roadmap" not in [b.get("block_id") for b in replaced.blocks]
    roadmap = await review_row(confide, "roadmap")
    assert (roadmap.last_outcome, roadmap.review_due_at) == ("still-secret", clock() + timedelta(days=60))

    outcomes = await rows(confide, classification_outcomes)
    assert [(o.secret_id, o.outcome, o.by, o.note) for o in outcomes] == [
        ("supplier-terms", "owners-change", "U0OWNER02", "Olga moves to sales"),
        ("recipe", "declassified", "U0OWNER01", "Published in our patent"),
        ("roadmap", "still-secret", "U0OWNER01", None),
    ]
    assert [
        a["owners"] for a in await audit_actions(confide.db, "classification.owners_change_proposed")
    ] == [["U0OWNER01", "U0EMP02"]]
    assert len(await audit_actions(confide.db, "classification.confirmed")) == 1

    # /confide status lists the outcomes and the owner change waiting for the catalog.
    _, status_body = await confide.slack.command("U0ADMIN01", "/confide", "status")
    shown = "\n".join(b["text"]["text"] for b in status_body["blocks"] if b["type"] in ("section",))
    assert "*Owner changes for the next catalog edit*" in shown
    assert (
        "*Supplier terms* (`supplier-terms`): owners <@U0OWNER01>, <@U0EMP02> proposed by <@U0OWNER02>"
        in shown
    )
    recent = shown.split("*Recent classification review outcomes*")[1]
    assert recent.index("*Product roadmap* still secret") < recent.index("*Secret recipe* declassified")
    assert (
        "new owners proposed (<@U0OWNER01>, <@U0EMP02>)" in recent and "_Published in our patent_" in recent
    )
    assert "Declassified, still in the catalog" in json.dumps(status_body["blocks"])


async def test_with_no_owner_left_the_admins_are_asked(confide_factory: ConfideFactory):
    clock = Clock(WEDNESDAY)
    confide = await confide_factory.start(catalog=CLASSIFY_CATALOG, clock=clock)
    await deactivate(confide, "U0OWNER02", "Olga Owner")
    clock.advance(days=30)
    await confide.runtime.scheduler.sweep_now()
    [asked] = await confide.fake.wait_for(lambda: nudges(confide.fake, "U0ADMIN01"))
    assert classification_blocks(asked) == ["classify_supplier-terms"]
    assert nudges(confide.fake, "U0OWNER02") == []
