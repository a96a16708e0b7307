"""Requesting access end to end: command → owner cards → clicks → grant → DMs."""

from tests.conftest import Confide


async def acknowledge_nda(confide: Confide, user: str) -> None:
    status, body = await confide.slack.command(user, "/access", "request pricing-model 7d need it")
    if "acknowledge" in body["text"].lower():
        status, _ = await confide.slack.click(user, "I acknowledge", blocks=body["blocks"])
        assert status == 200


async def test_request_is_routed_to_owner_and_approved(confide: Confide):
    fake = confide.fake
    status, body = await confide.slack.command(
        "U0EMP01", "/access", "request customer-list 7d quarterly planning"
    )
    assert status == 200
    assert "R-1" in body["text"]
    card = await fake.wait_for(lambda: fake.messages_to("U0OWNER01"))
    assert "quarterly planning" in card[0].text
    status, _ = await confide.slack.click(
        "U0OWNER01", "Approve", message=card[0].args | {"channel": "D0OWNER01"}
    )
    assert status == 200
    told = await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    assert "approved" in told[0].text
    updated = await fake.wait_for(lambda: fake.calls_to("chat.update"))
    assert "Approved" in updated[0].text and "U0OWNER01" in updated[0].text
