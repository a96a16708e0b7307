"""/nda status and /confide status checked against a generated workspace of a few hundred people."""

from __future__ import annotations

import re

from tests.agreements_support import eventually, rows
from tests.conftest import Clock, ConfideFactory
from tests.fake_slack import FakeSlack, slack_user
from workflows import agreements
from workflows.tables import agreement_obligations

MEMBERS = [f"U1MEM{i:04d}" for i in range(250)]
GUESTS = [f"U1GST{i:04d}" for i in range(40)]
BOTS = [f"U1BOT{i:04d}" for i in range(8)]
GONE = [f"U1OLD{i:04d}" for i in range(12)]  # deactivated; the last two were guests
NEWCOMERS = [f"U1NEW{i:04d}" for i in range(5)]

NDA_DONE = {u for i, u in enumerate(MEMBERS) if i % 3} | set(GUESTS[::2]) | set(GONE)
CONTRACTOR_DONE = set(GUESTS[::4]) | set(GONE[-2:])


def generated_workspace() -> list[dict]:
    users = [slack_user(u, f"Member {u[-4:]}") for u in MEMBERS]
    users += [slack_user(u, f"Guest {u[-4:]}", guest=True) for u in GUESTS]
    users += [slack_user(u, f"Bot {u[-4:]}", bot=True) for u in BOTS]
    users += [slack_user(u, f"Old {u[-4:]}", deleted=True, guest=i >= 10) for i, u in enumerate(GONE)]
    return users


def mentioned(blocks: list[dict]) -> list[str]:
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    return re.findall(r"<@(U[A-Z0-9]+)>", text)


async def test_status_and_dashboard_numbers_on_a_generated_workspace(
    fake_slack: FakeSlack, confide_factory: ConfideFactory
):
    fake_slack.users = generated_workspace()
    clock = Clock()
    confide = await confide_factory.start(clock=clock)
    async with confide.db.write() as conn:
        for user_id in sorted(NDA_DONE):
            await agreements.acknowledge(
                conn, confide.runtime.catalog, clock(), user_id=user_id, agreement_id="nda", version="2026-01"
            )
        for user_id in sorted(CONTRACTOR_DONE):
            await agreements.acknowledge(
                conn,
                confide.runtime.catalog,
                clock(),
                user_id=user_id,
                agreement_id="contractor-nda",
                version="2026-03",
            )
    clock.advance(days=10)
    for user_id in NEWCOMERS:
        await confide.slack.event({"type": "team_join", "user": slack_user(user_id, "New")})

    async def newcomers_recorded() -> bool:
        return len(
            await rows(confide, agreement_obligations, agreement_obligations.c.user_id.in_(NEWCOMERS))
        ) == len(NEWCOMERS)

    await eventually(newcomers_recorded)
    for user_id in MEMBERS[:3]:
        await confide.slack.command(user_id, "/access", "request customer-list 7d quarterly numbers")
    clock.advance(days=10)  # 20 days after start: past due_days for everyone but the newcomers

    nda_scope = set(MEMBERS) | set(GUESTS) | set(NEWCOMERS)
    nda_outstanding = nda_scope - NDA_DONE
    contractor_outstanding = set(GUESTS) - CONTRACTOR_DONE
    assert (len(nda_scope), len(nda_scope & NDA_DONE), len(nda_outstanding)) == (295, 186, 109)
    assert (len(GUESTS), len(contractor_outstanding)) == (40, 30)

    _, body = await confide.slack.command("U0ADMIN01", "/nda", "status")
    assert body["text"] == "Agreement status: nda 186/295; contractor-nda 10/40"
    first_page = body["blocks"]
    summaries = [b["text"]["text"] for b in first_page if b["type"] == "section"]
    assert any("*186 of 295* acknowledged (63%) · 109 outstanding, 104 overdue" in s for s in summaries)
    assert "Page 1 of 2" in str(first_page)

    status, _ = await confide.slack.click("U0ADMIN01", "Next page ▶", blocks=first_page)
    assert status == 200
    [replaced] = await confide.fake.wait_for(lambda: confide.fake.calls_to("response_url"))
    assert replaced["replace_original"] is True
    second_page = replaced.blocks
    assert "Page 2 of 2" in str(second_page)
    assert "*Employee Confidentiality Agreement* — outstanding (continued)" in str(second_page)
    assert any(
        "*10 of 40* acknowledged (25%) · 30 outstanding, 30 overdue" in b["text"]["text"]
        for b in second_page
        if b["type"] == "section"
    )

    listed = mentioned(first_page) + mentioned(second_page)
    assert len(listed) == 109 + 30  # everybody outstanding, listed once per agreement
    contractor_at = next(
        i
        for i, b in enumerate(second_page)
        if b["type"] == "section" and "contractor-nda" in b["text"]["text"]
    )
    assert set(mentioned(second_page[contractor_at:])) == contractor_outstanding
    assert set(mentioned(first_page) + mentioned(second_page[:contractor_at])) == nda_outstanding
    assert not set(listed) & (set(BOTS) | set(GONE))
    for page in (first_page, second_page):
        assert len(page) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in page if b["type"] == "section")
    newcomer_lines = [
        line
        for b in first_page + second_page
        if b["type"] == "section"
        for line in b["text"]["text"].split("\n")
        if "U1NEW" in line
    ]
    assert len(newcomer_lines) == 5 and not any("overdue" in line for line in newcomer_lines)

    _, dashboard = await confide.slack.command("U0ADMIN01", "/confide", "status")
    assert dashboard["text"] == (
        "Compliance dashboard — coverage: nda 186/295, contractor-nda 10/40; reviews due soon: 0; "
        "overdue reviews: 0; pending requests: 3; open cases: 0; overdue items: 134"
    )  # 104 past due for the NDA and the 30 outstanding contractors
    assert len(dashboard["blocks"]) <= 50
