"""Events API: offboarding on deactivation, retries deduplicated; signatures; health."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import sqlalchemy as sa

from tests.conftest import Confide
from tests.fake_slack import slack_user
from tests.test_access import approved_grant, request, rows
from workflows import audit
from workflows.tables import access_requests, audit_log, grants, group_members


async def test_deactivation_revokes_grants_cancels_requests_and_tells_owners(confide: Confide):
    fake = confide.fake
    await approved_grant(confide)
    await request(confide, "U0EMP01", "request formula-x 7d not acknowledged yet")  # refused: NDA
    # A second pending request that offboarding must cancel.
    await confide.slack.click(
        "U0EMP01",
        "I acknowledge",
        blocks=(await request(confide, "U0EMP01", "request formula-x 7d x"))["blocks"],
    )
    await request(confide, "U0EMP01", "request formula-x 7d batch audit")
    cards = await fake.wait_for(lambda: fake.messages_to("U0OWNER02"))

    status, _ = await confide.slack.event(
        {"type": "user_change", "user": slack_user("U0EMP01", "Eve", deleted=True)}, event_id="Ev0OFFBOARD"
    )
    assert status == 200
    notice = await fake.wait_for(
        lambda: [c for c in fake.messages_to("U0OWNER01") if "deactivated" in c.text]
    )
    assert "Key customer list" in notice[0].text and "G-1" in notice[0].text
    [grant] = await rows(confide, grants)
    assert grant.status == "revoked" and grant.end_reason == "offboarded"
    pending = [r for r in await rows(confide, access_requests) if r.secret_id == "formula-x"]
    assert [r.status for r in pending] == ["cancelled"]
    # Both formula-x approvers' cards show the cancellation.
    updates = await fake.wait_for(
        lambda: len(fake.calls_to("chat.update")) >= 3 and fake.calls_to("chat.update")
    )
    assert any("Cancelled" in u.text for u in updates)
    assert cards
    # The deactivated grantee is not messaged about it.
    assert not [c for c in fake.messages_to("U0EMP01") if "revoked" in c.text]
    await audit.seal(confide.db)
    async with confide.db.read() as conn:
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert actions.count("member.offboarded") == 1


async def test_retried_event_does_its_work_once(confide: Confide):
    fake = confide.fake
    await approved_grant(confide)
    event = {"type": "user_change", "user": slack_user("U0EMP01", "Eve", deleted=True)}
    first = await confide.slack.event(event, event_id="Ev0RETRY")
    again = await confide.slack.event(event, event_id="Ev0RETRY", retry_num=1)
    assert first[0] == again[0] == 200
    await fake.wait_for(lambda: [c for c in fake.messages_to("U0OWNER01") if "deactivated" in c.text])
    await asyncio.sleep(0.3)
    assert len([c for c in fake.messages_to("U0OWNER01") if "deactivated" in c.text]) == 1
    await audit.seal(confide.db)
    async with confide.db.read() as conn:
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert actions.count("member.offboarded") == 1


async def test_unsigned_wrongly_signed_and_stale_requests_are_rejected(confide: Confide):
    from urllib.parse import urlencode

    body = urlencode(
        {
            "command": "/access",
            "text": "request customer-list 7d sneaky",
            "user_id": "U0EMP01",
            "trigger_id": "t",
            "team_id": "T0TEAM",
            "channel_id": "C1",
            "response_url": "http://x",
        }
    )
    slack = confide.slack
    unsigned = await slack.post(body, "application/x-www-form-urlencoded", signed=False)
    wrong = await slack.post(
        body,
        "application/x-www-form-urlencoded",
        signed=False,
        headers={"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64},
    )
    stale = await slack.post(
        body,
        "application/x-www-form-urlencoded",
        signed=False,
        headers=slack.sign(body, timestamp=int(time.time()) - 400),
    )
    assert [unsigned[0], wrong[0], stale[0]] == [401, 401, 401]
    assert await rows(confide, access_requests) == []
    assert confide.fake.calls_to("chat.postMessage") == []


async def test_healthz_reports_database_and_migrations(confide: Confide):
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{confide.slack.base_url}/healthz") as response,
    ):
        assert response.status == 200
        body = json.loads(await response.text())
    assert body["ok"] is True and body["database"] == "reachable" and body["migrations"]


async def test_user_group_changes_reroute_owner_cards(confide_factory):
    confide_factory.fake.usergroups["S0LEGAL"] = ["U0OWNER02"]
    confide = await confide_factory.start(
        'admins = ["U0ADMIN01"]\n[[secrets]]\nid = "deal-room"\nname = "Deal room"\nowners = ["S0LEGAL"]\n'
    )
    fake = confide.fake
    event = {
        "type": "subteam_members_changed",
        "subteam_id": "S0LEGAL",
        "added_users": ["U0EMP02"],
        "removed_users": ["U0OWNER02"],
    }
    status, _ = await confide.slack.event(event)
    assert status == 200
    # Bolt acks an event before its listener runs: let the membership change land before requesting.
    for _ in range(200):
        async with confide.db.read() as conn:
            legal = (
                (
                    await conn.execute(
                        sa.select(group_members.c.user_id).where(group_members.c.group_id == "S0LEGAL")
                    )
                )
                .scalars()
                .all()
            )
        if legal == ["U0EMP02"]:
            break
        await asyncio.sleep(0.02)
    await request(confide, "U0EMP01", "request deal-room 3d diligence")
    await fake.wait_for(lambda: fake.messages_to("U0EMP02"))
    assert fake.messages_to("U0OWNER02") == []


async def test_confide_help_lists_every_command(confide: Confide):
    status, body = await confide.slack.command("U0EMP01", "/confide", "help")
    assert status == 200
    for command in ("/access request", "/nda", "/report-leak", "/training", "/kudos", "/confide status"):
        assert command in body["text"]
    status, body = await confide.slack.command("U0EMP01", "/confide", "bogus")
    assert "/confide help" in body["text"]
