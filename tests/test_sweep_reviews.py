"""Access reviews: one DM per owner listing every grant due, Keep / Revoke from it, reminders, escalation."""

from datetime import timedelta

import sqlalchemy as sa

from tests.conftest import Clock
from tests.sweep_support import (
    WEDNESDAY,
    agreements_up_to_date,
    audit_actions,
    block_ids,
    deactivate,
    file_request,
    make_grant,
    nudges,
)
from workflows.tables import grants

GRANTEES = ["U0EMP01", "U0EMP02", "U0GUEST01", "U0ADMIN01"]


def nudged(sent):
    return sorted(m.recipient for m in sent if m.kind == "nudges")


async def grant_row(confide, grant_id):
    async with confide.db.read() as conn:
        return (await conn.execute(sa.select(grants).where(grants.c.id == grant_id))).one()


async def setup_grants(confide):
    """Four customer-list grants (owner U0OWNER01, reviewed every 30 days), 60 days long."""
    await agreements_up_to_date(confide.db, confide.runtime.catalog, confide.clock())
    for grantee in GRANTEES:
        await make_grant(
            confide.db,
            confide.runtime.catalog,
            confide.clock(),
            requester=grantee,
            secret_id="customer-list",
            approvers=["U0OWNER01"],
            hours=60 * 24,
        )


async def test_one_dm_per_owner_with_keep_and_revoke_then_reminders_and_escalation(confide_factory):
    confide = await confide_factory.start(clock=Clock(WEDNESDAY))
    fake, clock, scheduler, catalog = (
        confide.fake,
        confide.clock,
        confide.runtime.scheduler,
        confide.runtime.catalog,
    )
    await setup_grants(confide)
    clock.advance(days=29)
    await file_request(confide.db, catalog, clock(), "U0EMP02", "formula-x")  # owners O1 and O2
    clock.advance(days=1)  # 30 days: the reviews are due, the request waits 24 h

    sent = await scheduler.sweep_now()
    assert sorted(m.recipient for m in sent) == ["U0OWNER01", "U0OWNER02"]
    review = (await fake.wait_for(lambda: nudges(fake, "U0OWNER01")))[0]
    assert [b for b in block_ids(review) if b.startswith(("review_", "remind_"))] == [
        "review_1",
        "review_2",
        "review_3",
        "review_4",
        "remind_5",
    ]
    for grantee in GRANTEES:
        assert grantee in review.text
    assert {(await grant_row(confide, g)).review_notify_count for g in (1, 2, 3, 4)} == {1}
    assert await scheduler.sweep_now() == []

    # Only the secret's owners and admins may answer.
    status, _ = await confide.slack.click("U0EMP02", "Keep", message=review.args, block_id="review_1")
    assert status == 200
    refusal = (await fake.wait_for(lambda: fake.calls_to("response_url")))[-1]
    assert "Only the owners" in refusal["text"]
    assert (await grant_row(confide, 1)).review_due_at == WEDNESDAY + timedelta(days=30)

    status, _ = await confide.slack.click("U0OWNER01", "Keep", message=review.args, block_id="review_1")
    assert status == 200
    kept = (
        await fake.wait_for(lambda: len(fake.calls_to("response_url")) == 2 and fake.calls_to("response_url"))
    )[-1]
    assert kept["replace_original"] is True and "kept by <@U0OWNER01>" in kept["text"]
    assert "review_1" not in [b.get("block_id") for b in kept["blocks"]]
    assert "review_2" in [b.get("block_id") for b in kept["blocks"]]
    row = await grant_row(confide, 1)
    assert (row.review_due_at, row.reviewed_by) == (clock() + timedelta(days=30), "U0OWNER01")

    status, _ = await confide.slack.click("U0OWNER01", "Revoke", message=review.args, block_id="review_2")
    assert status == 200
    ended = (await fake.wait_for(lambda: [c for c in fake.messages_to("U0EMP02") if "revoked" in c.text]))[0]
    assert "G-2" in ended.text and "U0OWNER01" in ended.text
    assert (await grant_row(confide, 2)).status == "revoked"

    status, _ = await confide.slack.click("U0OWNER01", "Keep", message=review.args, block_id="review_1")
    again = (
        await fake.wait_for(lambda: len(fake.calls_to("response_url")) == 4 and fake.calls_to("response_url"))
    )[-1]
    assert "already reviewed by <@U0OWNER01>" in again["text"]

    # G-3 and G-4 stay outstanding: reminders every 3 days, escalation after 2 unanswered reminders.
    # (Only the nudges are compared: the request expires meanwhile and a Monday digest may go out.)
    clock.advance(days=3)
    assert nudged(await scheduler.sweep_now()) == ["U0EMP02", "U0OWNER01"]  # + the request expired
    clock.advance(days=3)
    assert nudged(await scheduler.sweep_now()) == ["U0OWNER01"]
    reminder = (
        await fake.wait_for(lambda: len(nudges(fake, "U0OWNER01")) == 3 and nudges(fake, "U0OWNER01"))
    )[-1]
    assert [b for b in block_ids(reminder) if b.startswith("review_")] == ["review_3", "review_4"]
    assert "reminder 2" in "\n".join(b["text"]["text"] for b in reminder.blocks if "text" in b)
    assert not nudges(fake, "C0SECURITY") and not nudges(fake, "U0ADMIN01")

    clock.advance(days=3)  # two reminders went unanswered
    assert nudged(await scheduler.sweep_now()) == ["C0SECURITY", "U0ADMIN01", "U0OWNER01"]
    alert = (await fake.wait_for(lambda: nudges(fake, "C0SECURITY")))[0]
    assert "G-3" in alert.text and "G-4" in alert.text and "G-1" not in alert.text
    assert "reminded 2 time(s)" in alert.text
    await fake.wait_for(lambda: nudges(fake, "U0ADMIN01"))
    assert [d["grant"] for d in await audit_actions(confide.db, "access.review_escalated")] == [3, 4]

    clock.advance(days=3)  # owners keep being reminded; the escalation is not repeated
    assert nudged(await scheduler.sweep_now()) == ["U0OWNER01"]

    # An admin may answer for the owners.
    last = (await fake.wait_for(lambda: len(nudges(fake, "U0OWNER01")) == 5 and nudges(fake, "U0OWNER01")))[
        -1
    ]
    status, _ = await confide.slack.click("U0ADMIN01", "Keep", message=last.args, block_id="review_3")
    assert status == 200
    assert (await grant_row(confide, 3)).reviewed_by == "U0ADMIN01"


async def test_grantee_cannot_keep_their_own_grant(confide_factory):
    confide = await confide_factory.start(clock=Clock(WEDNESDAY))
    await agreements_up_to_date(confide.db, confide.runtime.catalog, confide.clock())
    await make_grant(
        confide.db,
        confide.runtime.catalog,
        confide.clock(),
        requester="U0OWNER02",
        secret_id="formula-x",  # two approvals: the other owner, and an admin in the requester's place
        approvers=["U0OWNER01", "U0ADMIN01"],
        hours=120 * 24,
    )
    confide.clock.advance(days=60)
    sent = await confide.runtime.scheduler.sweep_now()
    assert [m.recipient for m in sent] == ["U0OWNER01"]  # the grantee does not review their own access
    review = (await confide.fake.wait_for(lambda: nudges(confide.fake, "U0OWNER01")))[0]
    await confide.slack.click("U0OWNER02", "Keep", message=review.args)
    refusal = (await confide.fake.wait_for(lambda: confide.fake.calls_to("response_url")))[-1]
    assert "your own access" in refusal["text"]


async def test_reviews_of_a_deactivated_owner_go_to_the_admins(confide_factory):
    confide = await confide_factory.start(clock=Clock(WEDNESDAY))
    await setup_grants(confide)
    await deactivate(confide, "U0OWNER01")
    confide.clock.advance(days=30)
    sent = await confide.runtime.scheduler.sweep_now()
    assert sorted(m.recipient for m in sent) == ["C0SECURITY", "U0ADMIN01"]
    review = (await confide.fake.wait_for(lambda: nudges(confide.fake, "U0ADMIN01")))[0]
    # The admin reviews everyone's grant but their own; nobody is left for that one but the channel.
    assert [b for b in block_ids(review) if b.startswith("review_")] == ["review_1", "review_2", "review_3"]
    channel = (await confide.fake.wait_for(lambda: nudges(confide.fake, "C0SECURITY")))[0]
    assert [b for b in block_ids(channel) if b.startswith("review_")] == ["review_4"]
    assert not nudges(confide.fake, "U0OWNER01")
