"""The App Home for an employee, an owner and an admin; its I acknowledge button records and republishes."""

from __future__ import annotations

from typing import Any

from tests.agreements_support import acknowledge_values, request_and_approve
from tests.conftest import Confide
from tests.fake_slack import Call, blocks_text


async def open_home(confide: Confide, user: str) -> Call:
    """Open the Home tab like Slack does and return the view Confide published."""
    fake = confide.fake
    before = len(fake.calls_to("views.publish", user_id=user))
    status, _ = await confide.slack.event(
        {"type": "app_home_opened", "user": user, "tab": "home", "channel": "D0"}
    )
    assert status == 200
    published = await fake.wait_for(lambda: fake.calls_to("views.publish", user_id=user)[before:])
    return published[0]


def text_of(view: dict[str, Any]) -> str:
    return blocks_text(view["blocks"])


async def test_employee_home_shows_grants_requests_and_agreements_owed(confide: Confide):
    fake = confide.fake
    await request_and_approve(confide, "U0EMP01", "request customer-list 60d renewals")

    home = await open_home(confide, "U0EMP01")
    view = home.view
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    shown = text_of(view)
    assert "Key customer list" in shown and "G-1, until <!date^" in shown
    assert "No pending requests." in shown
    assert acknowledge_values(view["blocks"]) == ["nda|2026-01"]
    assert "Reviews due" not in shown and "Compliance dashboard" not in shown

    # I acknowledge on the Home records the acknowledgement, then the Home is published again.
    status, _ = await confide.slack.click("U0EMP01", "I acknowledge", view=view)
    assert status == 200
    republished = await fake.wait_for(lambda: fake.calls_to("views.publish", user_id="U0EMP01")[1:])
    assert acknowledge_values(republished[0].view["blocks"]) == []
    assert "You are up to date" in text_of(republished[0].view)

    _, body = await confide.slack.command("U0EMP01", "/access", "request pricing-model 7d forecast")
    assert "R-2" in body["text"]
    shown = text_of((await open_home(confide, "U0EMP01")).view)
    assert "R-2 *Enterprise pricing model* for 7 days — 0 of 1 approvals" in shown


async def test_owner_home_lists_reviews_due_for_their_secrets(confide: Confide):
    await request_and_approve(confide, "U0EMP01", "request customer-list 60d renewals")  # review in 30 days
    confide.clock.advance(days=10)
    assert "No grant of your secrets is due for review" in text_of(
        (await open_home(confide, "U0OWNER01")).view
    )

    confide.clock.advance(days=15)  # the review falls due in 5 days
    shown = text_of((await open_home(confide, "U0OWNER01")).view)
    reviews = shown.split("Reviews due for your secrets")[1]
    assert "G-1 *Key customer list* — <@U0EMP01> — review due" in reviews
    assert "Compliance dashboard" not in shown

    confide.clock.advance(days=6)
    shown = text_of((await open_home(confide, "U0OWNER01")).view)
    assert "G-1 *Key customer list* — <@U0EMP01> — overdue since" in shown

    # Owen's co-owner of Formula X owns nothing granted: nothing due, but the section is there.
    other = text_of((await open_home(confide, "U0OWNER02")).view)
    assert "No grant of your secrets is due for review in the next 7 days." in other


async def test_admin_home_shows_the_compliance_dashboard(confide: Confide):
    await request_and_approve(confide, "U0EMP02", "request customer-list 60d territory plan")
    confide.clock.advance(days=31)
    await confide.slack.command("U0GUEST01", "/access", "request customer-list 7d onboarding")

    view = (await open_home(confide, "U0ADMIN01")).view
    shown = text_of(view)
    dashboard = shown.split("Compliance dashboard")[1]
    assert "*0 of 6* acknowledged (0%) · 6 outstanding, 6 overdue" in dashboard
    assert "*0 of 1* acknowledged (0%)" in dashboard
    assert "Overdue reviews: 1" in dashboard and "G-1 *Key customer list* — <@U0EMP02>" in dashboard
    assert "Pending requests: 1" in dashboard and "R-2 *Key customer list* by <@U0GUEST01>" in dashboard
    assert "Reviews due for your secrets" not in shown  # the admin owns no secret
    assert acknowledge_values(view["blocks"]) == ["nda|2026-01"]  # admins owe agreements too
    assert len(view["blocks"]) <= 100


async def test_messages_tab_publishes_nothing(confide: Confide):
    fake = confide.fake
    await confide.slack.event(
        {"type": "app_home_opened", "user": "U0EMP01", "tab": "messages", "channel": "D0"}
    )
    await open_home(confide, "U0EMP02")  # a marker sent after it
    assert fake.calls_to("views.publish", user_id="U0EMP01") == []
