"""/access end to end over Slack's wire protocol: every rule of SPEC's /access section."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from tests.conftest import Confide, ConfideFactory
from tests.sweep_support import deactivate
from workflows import access
from workflows.tables import access_requests, grants

TWO_OWNERS = """
admins = ["U0ADMIN01"]
[[secrets]]
id = "launch-plan"
name = "Launch plan"
owners = ["U0OWNER01", "U0OWNER02"]
approvals = 1
default_days = 10
max_days = 20
"""


def dm(call) -> dict:
    """A posted DM as the deliverer saw it answered: channel and ts are what a click carries."""
    return {"blocks": call.args["blocks"], "channel": "D" + call.args["channel"][1:], "ts": "1"}


async def rows(confide: Confide, table: sa.Table) -> list:
    async with confide.db.read() as conn:
        return (await conn.execute(sa.select(table).order_by(table.c.id))).all()


async def request(confide: Confide, user: str, text: str) -> dict:
    status, body = await confide.slack.command(user, "/access", text)
    assert status == 200
    return body


async def acknowledge_nda(confide: Confide, user: str) -> None:
    body = await request(confide, user, "request pricing-model need it")
    status, _ = await confide.slack.click(user, "I acknowledge", blocks=body["blocks"])
    assert status == 200


async def test_request_routes_a_card_to_the_owner_who_approves(confide: Confide):
    fake = confide.fake
    body = await request(confide, "U0EMP01", "request customer-list 7d quarterly planning")
    assert "R-1" in body["text"] and "U0OWNER01" in body["text"]
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    assert "quarterly planning" in card.text and "7 days" in card.text

    status, _ = await confide.slack.click("U0OWNER01", "Approve", message=dm(card))
    assert status == 200

    told = (await fake.wait_for(lambda: fake.messages_to("U0EMP01")))[0]
    assert "approved" in told.text and "<!date^" in told.text
    updated = (await fake.wait_for(lambda: fake.calls_to("chat.update")))[0]
    assert "Approved" in updated.text and "<@U0OWNER01>" in updated.text
    assert updated["channel"] == "D0OWNER01"
    [grant] = await rows(confide, grants)
    assert grant.grantee == "U0EMP01" and grant.status == "active"
    assert (grant.expires_at - grant.granted_at).days == 7
    assert (grant.review_due_at - grant.granted_at).days == 30  # customer-list review_every_days


async def test_default_duration_is_the_secrets_default(confide: Confide):
    await request(confide, "U0EMP01", "request customer-list because")
    [row] = await rows(confide, access_requests)
    assert row.duration_hours == 14 * 24


async def test_agreement_gating_shows_acknowledge_button_then_allows(confide: Confide):
    body = await request(confide, "U0EMP01", "request pricing-model 7d renewal prep")
    assert "Employee Confidentiality Agreement" in str(body)
    assert await rows(confide, access_requests) == []
    status, _ = await confide.slack.click("U0EMP01", "I acknowledge", blocks=body["blocks"])
    assert status == 200
    ack_reply = await confide.fake.wait_for(lambda: confide.fake.calls_to("response_url"))
    assert "recorded" in ack_reply[0]["text"]
    body = await request(confide, "U0EMP01", "request pricing-model 7d renewal prep")
    assert "R-1" in body["text"]


async def test_two_person_rule_needs_two_distinct_owners(confide: Confide):
    fake = confide.fake
    await acknowledge_nda(confide, "U0EMP01")
    await request(confide, "U0EMP01", "request formula-x 30d batch audit")
    card1 = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    card2 = (await fake.wait_for(lambda: fake.messages_to("U0OWNER02")))[0]

    await confide.slack.click("U0OWNER01", "Approve", message=dm(card1))
    [req] = await rows(confide, access_requests)
    assert req.status == "pending"
    assert await rows(confide, grants) == []
    again = await confide.slack.click("U0OWNER01", "Approve", message=dm(card1))
    assert again[0] == 200
    await fake.wait_for(
        lambda: any("already approved" in c.get("text", "") for c in fake.calls_to("response_url"))
    )

    await confide.slack.click("U0OWNER02", "Approve", message=dm(card2))
    [req] = await rows(confide, access_requests)
    assert req.status == "approved"
    told = await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    assert len(told) == 1 and "approved" in told[0].text


async def test_requester_never_approves_their_own_request_admin_steps_in(confide: Confide):
    fake = confide.fake
    await acknowledge_nda(confide, "U0OWNER02")
    body = await request(confide, "U0OWNER02", "request pricing-model 7d forecast")
    assert "U0ADMIN01" in body["text"]
    card = (await fake.wait_for(lambda: fake.messages_to("U0ADMIN01")))[0]
    assert fake.messages_to("U0OWNER02") == []
    await confide.slack.click("U0ADMIN01", "Approve", message=dm(card))
    [req] = await rows(confide, access_requests)
    assert req.status == "approved" and req.decided_by == "U0ADMIN01"


async def test_deny_asks_for_a_reason_and_tells_the_requester(confide: Confide):
    fake = confide.fake
    await request(confide, "U0EMP01", "request customer-list 7d curiosity")
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    await confide.slack.click("U0OWNER01", "Deny", message=dm(card))
    modal = (await fake.wait_for(lambda: fake.calls_to("views.open")))[0].view
    status, _ = await confide.slack.submit("U0OWNER01", modal, {"Reason": "Not needed for your role"})
    assert status == 200
    told = (await fake.wait_for(lambda: fake.messages_to("U0EMP01")))[0]
    assert "denied" in told.text and "Not needed for your role" in told.text
    updated = (await fake.wait_for(lambda: fake.calls_to("chat.update")))[0]
    assert "Denied" in updated.text and "<@U0OWNER01>" in updated.text
    [req] = await rows(confide, access_requests)
    assert req.status == "denied" and req.reason == "Not needed for your role"


async def test_first_deny_decides_and_updates_every_card(confide_factory: ConfideFactory):
    confide = await confide_factory.start(TWO_OWNERS)
    fake = confide.fake
    await request(confide, "U0EMP01", "request launch-plan 5d press")
    card1 = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    card2 = (await fake.wait_for(lambda: fake.messages_to("U0OWNER02")))[0]
    await confide.slack.click("U0OWNER02", "Deny", message=dm(card2))
    modal = (await fake.wait_for(lambda: fake.calls_to("views.open")))[0].view
    await confide.slack.submit("U0OWNER02", modal, {"Reason": None})
    updates = await fake.wait_for(
        lambda: len(fake.calls_to("chat.update")) == 2 and fake.calls_to("chat.update")
    )
    assert {u["channel"] for u in updates} == {"D0OWNER01", "D0OWNER02"}
    assert all("Denied" in u.text and "<@U0OWNER02>" in u.text for u in updates)
    # The other owner's late click changes nothing and says who decided.
    await confide.slack.click("U0OWNER01", "Approve", message=dm(card1))
    reply = await fake.wait_for(lambda: fake.calls_to("response_url"))
    assert "already denied" in reply[-1]["text"] and "U0OWNER02" in reply[-1]["text"]
    assert await rows(confide, grants) == []


async def test_click_from_someone_who_may_not_decide_changes_nothing(confide: Confide):
    fake = confide.fake
    await request(confide, "U0EMP01", "request customer-list 7d planning")
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    for user, label in (("U0EMP02", "Approve"), ("U0EMP01", "Approve"), ("U0EMP02", "Deny")):
        status, _ = await confide.slack.click(user, label, message=dm(card))
        assert status == 200
    replies = await fake.wait_for(
        lambda: len(fake.calls_to("response_url")) == 3 and fake.calls_to("response_url")
    )
    assert all("not an approver" in r["text"] for r in replies)
    assert all(r["response_type"] == "ephemeral" for r in replies)
    [req] = await rows(confide, access_requests)
    assert req.status == "pending"
    assert fake.calls_to("views.open") == []


async def test_two_simultaneous_approvals_make_one_decision(confide_factory: ConfideFactory):
    confide = await confide_factory.start(TWO_OWNERS)
    fake = confide.fake
    await request(confide, "U0EMP01", "request launch-plan 5d press")
    card1 = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    card2 = (await fake.wait_for(lambda: fake.messages_to("U0OWNER02")))[0]
    results = await asyncio.gather(
        confide.slack.click("U0OWNER01", "Approve", message=dm(card1)),
        confide.slack.click("U0OWNER02", "Approve", message=dm(card2)),
    )
    assert [status for status, _ in results] == [200, 200]
    await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    await fake.wait_for(lambda: fake.calls_to("response_url"))
    await asyncio.sleep(0.3)  # let any wrongly duplicated notification surface before counting
    assert len(fake.messages_to("U0EMP01")) == 1
    assert len(await rows(confide, grants)) == 1
    [loser] = fake.calls_to("response_url")
    assert "already approved" in loser["text"]


async def test_refusals_are_clear_and_change_nothing(confide: Confide):
    unknown = await request(confide, "U0EMP01", "request custmer-list 7d x")
    assert "customer-list" in unknown["text"] and "no secret" in unknown["text"]
    too_long = await request(confide, "U0EMP01", "request customer-list 90d x")
    assert "at most 60 days" in too_long["text"]
    no_reason = await request(confide, "U0EMP01", "request customer-list 7d")
    assert "say why" in no_reason["text"]
    usage = await request(confide, "U0EMP01", "request")
    assert "Usage" in usage["text"]
    unknown_sub = await request(confide, "U0EMP01", "frobnicate")
    assert "/access request" in unknown_sub["text"]
    assert await rows(confide, access_requests) == []
    assert confide.fake.calls_to("chat.postMessage") == []
    # Nor does a refusal use up a request number (PostgreSQL draws it with the request's standing).
    filed = await request(confide, "U0EMP01", "request customer-list 7d now with a reason")
    assert "Request R-1 sent" in filed["text"]


async def test_duplicate_pending_request_is_refused(confide: Confide):
    await request(confide, "U0EMP01", "request customer-list 7d a")
    again = await request(confide, "U0EMP01", "request customer-list 7d b")
    assert "already have a pending request" in again["text"]
    assert len(await rows(confide, access_requests)) == 1
    other = await request(confide, "U0EMP02", "request customer-list 7d c")
    assert "Request R-2 sent" in other["text"]


async def test_request_for_a_secret_already_granted_points_to_extend(confide: Confide):
    await approved_grant(confide)
    again = await request(confide, "U0EMP01", "request customer-list 7d more")
    assert "already have access" in again["text"] and "/access extend G-1" in again["text"]
    assert len(await rows(confide, access_requests)) == 1
    other = await request(confide, "U0EMP02", "request customer-list 7d c")
    assert "Request R-2 sent" in other["text"]


async def test_modal_request_filled_by_label(confide: Confide):
    fake = confide.fake
    status, body = await confide.slack.command("U0EMP01", "/access", "")
    assert status == 200
    modal = (await fake.wait_for(lambda: fake.calls_to("views.open")))[0].view
    status, reply = await confide.slack.submit(
        "U0EMP01", modal, {"Secret": "customer-list", "Duration": "7 days", "Justification": "Board deck"}
    )
    assert status == 200 and reply["response_action"] == "update"
    assert "R-1" in str(reply["view"])
    [req] = await rows(confide, access_requests)
    assert req.duration_hours == 7 * 24 and req.justification == "Board deck"


async def test_modal_errors_come_back_on_the_modal(confide: Confide):
    fake = confide.fake
    await confide.slack.command("U0EMP01", "/access", "")
    modal = (await fake.wait_for(lambda: fake.calls_to("views.open")))[0].view
    status, reply = await confide.slack.submit(
        "U0EMP01", modal, {"Secret": "customer-list", "Duration": "90 days", "Justification": "x"}
    )
    assert status == 200 and reply["response_action"] == "errors"
    assert "60 days" in next(iter(reply["errors"].values()))
    status, reply = await confide.slack.submit(
        "U0EMP01", modal, {"Secret": "customer-list", "Justification": " "}
    )
    assert reply["response_action"] == "errors" and "justification" in reply["errors"]
    # Gated secret: the modal turns into the agreement with its button.
    status, reply = await confide.slack.submit(
        "U0EMP01", modal, {"Secret": "pricing-model", "Justification": "forecast"}
    )
    assert reply["response_action"] == "update" and "I acknowledge" in str(reply["view"])
    assert await rows(confide, access_requests) == []


async def approved_grant(confide: Confide, user: str = "U0EMP01") -> None:
    fake = confide.fake
    cards, told = len(fake.messages_to("U0OWNER01")), len(fake.messages_to(user))
    await request(confide, user, "request customer-list 7d planning")
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")[cards:]))[-1]
    await confide.slack.click("U0OWNER01", "Approve", message=dm(card))
    await fake.wait_for(lambda: fake.messages_to(user)[told:])


async def test_grants_and_pending_requests_read_together_match_each_read_alone(confide: Confide):
    fake = confide.fake
    await approved_grant(confide)
    await acknowledge_nda(confide, "U0EMP01")
    await request(confide, "U0EMP01", "request pricing-model 7d forecast")
    await request(confide, "U0EMP01", "request formula-x 30d batch audit")  # two approvers
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")[1:]))[-1]
    await confide.slack.click("U0OWNER01", "Approve", message=dm(card))  # one of two so far
    await approved_grant(confide, "U0EMP02")  # someone else's
    now = confide.clock()
    async with confide.db.read() as conn:
        together = await access.grants_and_pending_requests_of(conn, confide.runtime.catalog, "U0EMP01", now)
        alone = (
            await access.active_grants_of(conn, "U0EMP01", now),
            await access.pending_requests_of(conn, confide.runtime.catalog, "U0EMP01"),
        )
    assert together == alone
    grants_of, pending = together
    assert [g.secret_id for g in grants_of] == ["customer-list"]
    assert [r.secret_id for r in pending] == ["pricing-model", "formula-x"]
    assert pending[1].approved_by == ["U0OWNER01"]
    assert sorted(pending[1].approvers) == ["U0OWNER01", "U0OWNER02"]


async def test_list_and_secrets_show_grants_and_pending(confide: Confide):
    await approved_grant(confide)
    await acknowledge_nda(confide, "U0EMP01")
    await request(confide, "U0EMP01", "request pricing-model 7d forecast")
    listing = await request(confide, "U0EMP01", "list")
    text = str(listing)
    assert "Key customer list" in text and "G-1" in text and "<!date^" in text
    assert "R-2" in text and "Enterprise pricing model" in text
    catalog = str(await request(confide, "U0EMP01", "secrets"))
    assert "Formula X production recipe" in catalog and "restricted" in catalog
    assert "<@U0OWNER01>" in catalog and "you have access" in catalog and "pending" in catalog


async def test_revoke_by_owner_grantee_and_refusal_for_others(confide: Confide):
    fake = confide.fake
    await approved_grant(confide)
    refused = await request(confide, "U0EMP02", "revoke G-1")
    assert "Only the owners" in refused["text"]
    done = await request(confide, "U0OWNER01", "revoke G-1")
    assert "revoked" in done["text"]
    told = await fake.wait_for(lambda: len(fake.messages_to("U0EMP01")) == 2 and fake.messages_to("U0EMP01"))
    assert "revoked" in told[-1].text
    again = await request(confide, "U0OWNER01", "revoke G-1")
    assert "already revoked" in again["text"]
    bad = await request(confide, "U0OWNER01", "revoke banana")
    assert "not a grant id" in bad["text"]

    await approved_grant(confide)
    mine = await request(confide, "U0EMP01", "revoke 2")
    assert "revoked" in mine["text"]
    [_, grant2] = await rows(confide, grants)
    assert grant2.status == "revoked" and grant2.ended_by == "U0EMP01"


async def test_extend_keeps_access_until_owners_decide(confide: Confide):
    fake = confide.fake
    await approved_grant(confide)
    [before] = await rows(confide, grants)
    body = await request(confide, "U0EMP01", "extend G-1 5d still closing the quarter")
    assert "R-2" in body["text"]
    [still] = await rows(confide, grants)
    assert still.expires_at == before.expires_at and still.status == "active"
    card = await fake.wait_for(
        lambda: len(fake.messages_to("U0OWNER01")) == 2 and fake.messages_to("U0OWNER01")
    )
    assert "extend" in card[-1].text
    await confide.slack.click("U0OWNER01", "Approve", message=dm(card[-1]))
    await fake.wait_for(lambda: len(fake.messages_to("U0EMP01")) == 2)
    [after] = await rows(confide, grants)
    assert (after.expires_at - before.expires_at).days == 5
    other = await request(confide, "U0EMP02", "extend G-1 5d mine now")
    assert "no grant" in other["text"]


async def test_user_group_owners_receive_the_card(confide_factory: ConfideFactory):
    confide_factory.fake.usergroups["S0LEGAL"] = ["U0OWNER02", "U0EMP02"]
    confide = await confide_factory.start(
        'admins = ["U0ADMIN01"]\n[[secrets]]\nid = "deal-room"\nname = "Deal room"\nowners = ["S0LEGAL"]\n'
    )
    fake = confide.fake
    await request(confide, "U0EMP01", "request deal-room 3d diligence")
    await fake.wait_for(lambda: fake.messages_to("U0OWNER02") and fake.messages_to("U0EMP02"))
    secrets_listing = await request(confide, "U0EMP01", "secrets")
    assert "<!subteam^S0LEGAL>" in str(secrets_listing)


async def test_extension_is_gated_by_a_new_agreement_version(confide_factory: ConfideFactory):
    from tests.conftest import EXAMPLE_CATALOG

    first = await confide_factory.start()
    fake = first.fake
    await acknowledge_nda(first, "U0EMP01")
    await request(first, "U0EMP01", "request pricing-model 7d forecast")
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER02")))[-1]
    await first.slack.click("U0OWNER02", "Approve", message=dm(card))
    await fake.wait_for(lambda: [c for c in fake.messages_to("U0EMP01") if "approved" in c.text])
    await confide_factory.stop(first)

    bumped = EXAMPLE_CATALOG.read_text().replace('version = "2026-01"', 'version = "2026-07"')
    second = await confide_factory.start(bumped)
    refused = await request(second, "U0EMP01", "extend G-1 7d still forecasting")
    assert "I acknowledge" in str(refused) and "2026-07" in str(refused)
    assert len(await rows(second, access_requests)) == 1


async def test_an_owner_removed_from_the_catalog_can_no_longer_decide(confide_factory: ConfideFactory):
    first = await confide_factory.start(TWO_OWNERS)
    fake = first.fake
    await request(first, "U0EMP01", "request launch-plan 5d press")
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER02")))[0]
    await confide_factory.stop(first)
    second = await confide_factory.start(TWO_OWNERS.replace('"U0OWNER01", "U0OWNER02"', '"U0OWNER01"'))
    await second.slack.click("U0OWNER02", "Approve", message=dm(card))
    reply = await fake.wait_for(lambda: fake.calls_to("response_url"))
    assert "no longer own" in reply[0]["text"]
    [req] = await rows(second, access_requests)
    assert req.status == "pending"


async def test_a_deactivated_owner_of_two_is_replaced_by_an_admin_on_the_two_person_rule(confide: Confide):
    await acknowledge_nda(confide, "U0EMP01")
    await deactivate(confide, "U0OWNER02", "Olive Owner")
    body = await request(confide, "U0EMP01", "request formula-x 1d lab work")
    assert "U0OWNER02" not in body["text"]
    async with confide.db.read() as conn:
        query = "SELECT user_id FROM request_approvers JOIN access_requests ON id = request_id"
        approvers = (await conn.execute(sa.text(query + " WHERE secret_id = 'formula-x'"))).scalars().all()
    assert sorted(approvers) == ["U0ADMIN01", "U0OWNER01"]


async def test_a_request_for_a_secret_whose_only_owner_left_goes_to_an_admin(confide: Confide):
    await deactivate(confide, "U0OWNER01", "Owen Owner")
    body = await request(confide, "U0EMP01", "request customer-list 7d planning")
    assert "<@U0ADMIN01>" in body["text"] and "U0OWNER01" not in body["text"]
    async with confide.db.read() as conn:
        approvers = (await conn.execute(sa.text("SELECT user_id FROM request_approvers"))).scalars().all()
    assert approvers == ["U0ADMIN01"]
