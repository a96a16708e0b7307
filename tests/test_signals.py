"""Insider-risk signals over the wire: each fires at its threshold, not below, and not twice in its window."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from tests.conftest import Clock, ConfideFactory
from tests.fake_slack import slack_user
from tests.test_access import acknowledge_nda, dm, request
from workflows.tables import signal_alerts

CATALOG = """
admins = ["U0ADMIN01"]
security_channel = "C0SECURITY"
[[secrets]]
id = "alpha"
name = "Alpha"
owners = ["U0OWNER01"]
classification = "restricted"
[[secrets]]
id = "beta"
name = "Beta"
owners = ["U0OWNER01"]
[[secrets]]
id = "gamma"
name = "Gamma"
owners = ["U0OWNER01"]
[[secrets]]
id = "delta"
name = "Delta"
owners = ["U0OWNER01"]
[signals]
burst_secrets = 3
burst_hours = 24
denials = 3
denials_days = 7
working_hours = "07:00-20:00"
"""

NOON_LONDON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def alerts(confide) -> list:
    async with confide.db.read() as conn:
        return (await conn.execute(sa.select(signal_alerts).order_by(signal_alerts.c.id))).all()


def alert_posts(fake) -> list:
    return [c for c in fake.messages_to("C0SECURITY") if "Insider-risk alert" in c.get("text", "")]


async def test_request_burst_fires_at_threshold_once_per_window(confide_factory: ConfideFactory):
    clock = Clock(NOON_LONDON)
    confide = await confide_factory.start(CATALOG, clock=clock)
    fake = confide.fake
    await request(confide, "U0EMP01", "request beta 1d a")
    await request(confide, "U0EMP01", "request gamma 1d b")
    assert await alerts(confide) == []  # two secrets: below the threshold
    await request(confide, "U0EMP01", "request delta 1d c")
    [alert] = await alerts(confide)
    assert alert.kind == "request-burst" and alert.subject == "U0EMP01"
    post = (await fake.wait_for(lambda: alert_posts(fake)))[0]
    assert "Burst of access requests" in post.text and "`beta`" in post.text and "R-3" in post.text
    assert "Open case" in str(post.blocks)
    clock.advance(hours=2)
    await request(confide, "U0EMP01", "request alpha 1d d")  # a fourth within the window: no storm
    assert [a.kind for a in await alerts(confide)] == ["request-burst"]
    await request(confide, "U0EMP02", "request beta 1d e")  # someone else is unaffected
    assert len(await alerts(confide)) == 1


async def test_out_of_hours_restricted_request_in_the_requesters_time_zone(confide_factory: ConfideFactory):
    confide_factory.fake.users.append(slack_user("U0NIGHT01", "Nina Night", tz="Asia/Tokyo"))
    clock = Clock(NOON_LONDON)  # 12:00 in London, 21:00 in Tokyo
    confide = await confide_factory.start(CATALOG, clock=clock)
    await request(confide, "U0EMP01", "request alpha 1d daytime in London")
    await request(confide, "U0NIGHT01", "request beta 1d not restricted")
    assert await alerts(confide) == []
    await request(confide, "U0NIGHT01", "request alpha 1d late night in Tokyo")
    [alert] = await alerts(confide)
    assert alert.kind == "out-of-hours" and alert.subject == "U0NIGHT01"
    post = (await confide.fake.wait_for(lambda: alert_posts(confide.fake)))[0]
    assert "21:00" in post.text and "Asia/Tokyo" in post.text


async def test_repeated_denials(confide_factory: ConfideFactory):
    confide = await confide_factory.start(CATALOG, clock=Clock(NOON_LONDON))
    fake = confide.fake

    async def denied(secret: str) -> None:
        before = len(fake.messages_to("U0OWNER01"))
        await request(confide, "U0EMP02", f"request {secret} 1d please")
        card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")[before:]))[0]
        opened = len(fake.calls_to("views.open"))
        await confide.slack.click("U0OWNER01", "Deny", message=dm(card))
        modal = (await fake.wait_for(lambda: fake.calls_to("views.open")[opened:]))[0].view
        await confide.slack.submit("U0OWNER01", modal, {"Reason": "no"})

    await denied("beta")
    await denied("gamma")
    assert [a.kind for a in await alerts(confide)] == []
    await denied("beta")
    kinds = [a.kind for a in await alerts(confide)]
    assert kinds == ["repeated-denials"]
    await denied("gamma")
    assert [a.kind for a in await alerts(confide)].count("repeated-denials") == 1


async def test_departure_after_restricted_grants_is_raised_at_offboarding(confide: object, confide_factory):
    confide = await confide_factory.start(
        CATALOG.replace('"U0OWNER01"]\nclassification', '"U0OWNER01"]\nclassification'),
        clock=Clock(NOON_LONDON),  # within working hours: no out-of-hours alert, whenever this runs
    )
    fake = confide.fake
    await request(confide, "U0EMP01", "request alpha 5d migration")
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    await confide.slack.click("U0OWNER01", "Approve", message=dm(card))
    await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    await confide.slack.event({"type": "user_change", "user": slack_user("U0EMP02", "Emil", deleted=True)})
    assert await alerts(confide) == []  # no restricted grants: nothing to say
    await confide.slack.event({"type": "user_change", "user": slack_user("U0EMP01", "Eve", deleted=True)})
    [alert] = [a for a in await alerts(confide) if a.kind == "departure"]
    assert alert.subject == "U0EMP01"
    post = (await fake.wait_for(lambda: alert_posts(fake)))[0]
    assert "`alpha`" in post.text and "G-1" in post.text


async def test_gated_request_refusal_counts_nothing(confide):
    await request(confide, "U0EMP01", "request pricing-model 1d x")  # refused: NDA not acknowledged
    await acknowledge_nda(confide, "U0EMP02")
    assert await alerts(confide) == []


async def test_wrong_receipt_key_spike_counts_failures_not_people(confide_factory: ConfideFactory):
    confide_factory.fake.channel_members["C0SECURITY"] = ["U0ADMIN01"]
    confide = await confide_factory.start(
        CATALOG.replace("denials = 3", "denials = 3\nreceipt_key_failures = 3")
    )
    fake = confide.fake
    for user in ("U0EMP01", "U0EMP02"):
        status, body = await confide.slack.command(user, "/report-leak", "status AAAA-BBBB-CCCC-DDDD-EEEE")
        assert status == 200 and "No case matches" in body["text"]
    assert await alerts(confide) == []
    await confide.slack.command("U0GUEST01", "/report-leak", "status AAAA-BBBB-CCCC-DDDD-EEEF")
    [alert] = await alerts(confide)
    assert alert.kind == "receipt-key-spike" and alert.subject == "receipt-keys"
    post = (await fake.wait_for(lambda: alert_posts(fake)))[0]
    assert "3 wrong receipt keys" in post.text
    for user in ("U0EMP01", "U0EMP02", "U0GUEST01"):
        assert user not in post.text and user not in alert.evidence
    await confide.slack.command("U0EMP01", "/report-leak", "status AAAA-BBBB-CCCC-DDDD-EEEG")
    assert len(await alerts(confide)) == 1  # one alert per hour-long window


async def test_open_case_from_an_alert_creates_an_internal_case(confide_factory: ConfideFactory):
    confide_factory.fake.channel_members["C0SECURITY"] = ["U0ADMIN01"]
    confide = await confide_factory.start(CATALOG, clock=Clock(NOON_LONDON))
    fake = confide.fake
    for secret in ("beta", "gamma", "delta"):
        await request(confide, "U0EMP01", f"request {secret} 1d x")
    post = (await fake.wait_for(lambda: alert_posts(fake)))[0]
    message = {"blocks": post.blocks, "channel": "C0SECURITY", "ts": "1"}

    status, _ = await confide.slack.click("U0EMP02", "Open case", message=message)  # not an investigator
    assert status == 200
    assert [a.status for a in await alerts(confide)] == ["open"]

    status, _ = await confide.slack.click("U0ADMIN01", "Open case", message=message)
    assert status == 200
    [alert] = await alerts(confide)
    assert alert.status == "case-opened" and alert.case_ref == "CASE-1" and alert.handled_by == "U0ADMIN01"
    case_post = await fake.wait_for(
        lambda: [c for c in fake.messages_to("C0SECURITY") if "CASE-1" in c.get("text", "")]
    )
    assert "insider-risk alert" in case_post[0].text
    updated = await fake.wait_for(
        lambda: [c for c in fake.calls_to("chat.update") if "Insider-risk" in c.text]
    )
    assert "CASE-1 opened by <@U0ADMIN01>" in updated[-1].text
    await confide.slack.click("U0ADMIN01", "Open case", message=message)  # a second click opens nothing
    replies = await fake.wait_for(
        lambda: [c for c in fake.calls_to("response_url") if "already" in c["text"]]
    )
    assert "CASE-1" in replies[0]["text"]
    async with confide.db.read() as conn:
        from workflows.tables import cases

        assert len((await conn.execute(sa.select(cases))).all()) == 1
