"""/kudos over Slack's wire protocol: posted to the recognition channel (or by DM), refused to oneself and
to bots, shown on the App Home and counted in the weekly digest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.agreements_support import rows
from tests.conftest import Clock, Confide, ConfideFactory
from tests.sweep_support import audit_actions, digests
from tests.training_support import CATALOG
from workflows.tables import kudos

MONDAY_0900 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def kudos_command(confide: Confide, user: str, text: str) -> dict:
    status, body = await confide.slack.command(user, "/kudos", text)
    assert status == 200 and body["response_type"] == "ephemeral"
    return body


async def test_kudos_are_posted_to_the_recognition_channel(confide_factory: ConfideFactory):
    confide = await confide_factory.start(catalog=CATALOG)
    fake = confide.fake
    # should_escape: Slack sends the mention as <@U…|name>; mentions inside the text stay mentions,
    # anything else the giver typed is escaped.
    body = await kudos_command(
        confide,
        "U0EMP01",
        "<@U0EMP02|emil> returned a misdirected file to <@U0OWNER01|owen> <!channel> & more",
    )
    assert body["text"] == "🏅 Thank you! Your kudos for <@U0EMP02> went to <#C0KUDOS>."
    [post] = await fake.wait_for(lambda: fake.messages_to("C0KUDOS"))
    assert post["text"] == "🏅 <@U0EMP01> thanks <@U0EMP02> for protecting our trade secrets"
    shown = post.blocks[0]["text"]["text"]
    assert ">returned a misdirected file to <@U0OWNER01> &lt;!channel&gt; &amp; more" in shown
    assert fake.messages_to("U0EMP02") == []

    body = await kudos_command(
        confide, "U0OWNER01", "<@U0EMP02> reported a phishing attempt"
    )  # a bare mention
    assert "went to <#C0KUDOS>" in body["text"]
    [first, second] = await rows(confide, kudos)
    assert (first.giver, first.recipient, first.posted_to) == ("U0EMP01", "U0EMP02", "C0KUDOS")
    assert (second.giver, second.message) == ("U0OWNER01", "reported a phishing attempt")
    given = await audit_actions(confide.db, "kudos.given")
    assert given == [{"kudos": 1, "posted_to": "C0KUDOS"}, {"kudos": 2, "posted_to": "C0KUDOS"}]


async def test_without_a_recognition_channel_the_person_gets_a_dm(confide: Confide):
    body = await kudos_command(confide, "U0EMP01", "<@U0EMP02|emil> locked the whiteboard away")
    assert body["text"] == "🏅 Thank you! Your kudos for <@U0EMP02> went to <@U0EMP02> by DM."
    [dm] = await confide.fake.wait_for(lambda: confide.fake.messages_to("U0EMP02"))
    assert dm["text"] == "🏅 <@U0EMP01> sent you kudos for protecting our trade secrets"
    assert "locked the whiteboard away" in dm.text


async def test_no_self_kudos_no_bots_and_friendly_usage(confide: Confide):
    body = await kudos_command(confide, "U0EMP01", "<@U0EMP01|eve> I protected a secret")
    assert "Kudos are for someone else" in body["text"]
    body = await kudos_command(confide, "U0EMP01", "<@U0BOT01|build-bot> kept the build green")
    assert "is a bot; kudos are for people" in body["text"]
    body = await kudos_command(confide, "U0EMP01", "<@U0EMP02|emil>")
    assert "Please say what <@U0EMP02> did" in body["text"]
    body = await kudos_command(confide, "U0EMP01", "@emil for nothing")
    assert "pick the person from Slack's @ suggestions" in body["text"]
    for text in ("", "help", "thanks everyone"):
        body = await kudos_command(confide, "U0EMP01", text)
        assert "Usage: `/kudos @person <what they did>`" in body["text"]
    body = await kudos_command(confide, "U0EMP01", "<@U0EMP02|emil> " + "x" * 1001)
    assert "under 1000 characters" in body["text"]
    assert await rows(confide, kudos) == []
    assert confide.fake.calls_to("chat.postMessage") == []


async def test_kudos_show_on_the_home_and_in_the_weekly_digest(confide_factory: ConfideFactory):
    clock = Clock(MONDAY_0900 - timedelta(days=9))
    confide = await confide_factory.start(catalog=CATALOG, clock=clock)
    fake = confide.fake
    await kudos_command(confide, "U0EMP01", "<@U0EMP02|emil> spotted an open share")  # last week: not counted
    clock.at = MONDAY_0900 - timedelta(days=2)
    await kudos_command(confide, "U0OWNER01", "<@U0EMP02|emil> reported a phishing email")
    await kudos_command(confide, "U0EMP02", "<@U0GUEST01|gus> returned a <b>misdirected</b> file")

    await confide.slack.event({"type": "app_home_opened", "user": "U0EMP02", "tab": "home"})
    [home] = await fake.wait_for(lambda: fake.calls_to("views.publish", user_id="U0EMP02"))
    shown = json.dumps(home.view["blocks"], ensure_ascii=False)
    assert "*Kudos you received: 2* 🏅" in shown
    assert "<@U0OWNER01>, <!date^" in shown and "reported a phishing email" in shown

    clock.at = MONDAY_0900
    await confide.runtime.scheduler.sweep_now()
    [digest] = await fake.wait_for(lambda: digests(fake))
    assert "2 kudos given to 2 people" in digest["text"]
    assert "<@U0OWNER01> thanked <@U0EMP02>: reported a phishing email" in digest.text
    assert "returned a &lt;b&gt;misdirected&lt;/b&gt; file" in digest.text
    assert "open share" not in digest.text
