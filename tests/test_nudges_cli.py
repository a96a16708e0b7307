"""`confide nudges --at T [--dry-run]` in real subprocesses: what it prints, that a dry run changes
nothing, that two sweeps at once handle each item once, and that Slack's 429s and 5xx lose nothing."""

import asyncio
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from tests.conftest import EXAMPLE_CATALOG
from tests.sweep_support import (
    agreements_up_to_date,
    audit_actions,
    clear_of_digest,
    cli_env,
    digests,
    file_request,
    make_grant,
    nudges,
    run_cli,
    sent_items,
)
from workflows import outbox
from workflows.digest import digest_slot
from workflows.tables import access_requests, audit_log, grants
from workflows.tables import outbox as outbox_table


async def drained(confide) -> None:
    """Wait until the running app has delivered everything the set-up queued."""
    for _ in range(500):
        async with confide.db.read() as conn:
            if (await outbox.backlog(conn))[0] == 0:
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the set-up's messages were never delivered")


async def snapshot(db):
    async with db.read() as conn:
        return [
            (await conn.execute(sa.select(table).order_by(*table.primary_key.columns))).all()
            for table in (audit_log, outbox_table, grants, access_requests)
        ]


async def reviews_and_an_expired_request(confide):
    """Three customer-list grants due for review in 30 days; a request that will have expired."""
    catalog, now = confide.runtime.catalog, confide.clock()
    await agreements_up_to_date(confide.db, catalog, now)
    for grantee in ("U0EMP01", "U0EMP02", "U0GUEST01"):
        await make_grant(
            confide.db,
            catalog,
            now,
            requester=grantee,
            secret_id="customer-list",
            approvers=["U0OWNER01"],
            hours=60 * 24,
        )
    await file_request(confide.db, catalog, now, "U0ADMIN01", "pricing-model")
    await drained(confide)
    return clear_of_digest(catalog, now + timedelta(days=30))


async def test_dry_run_changes_nothing_then_the_real_run_sends_once(confide, database_url):
    fake = confide.fake
    at = (await reviews_and_an_expired_request(confide)).isoformat()
    env = cli_env(fake, database_url, EXAMPLE_CATALOG)
    before, calls_before = await snapshot(confide.db), len(fake.calls)

    code, out, err = await run_cli(env, "nudges", "--at", at, "--dry-run")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    owner = next(line for line in lines if line.startswith("U0OWNER01\t"))
    assert owner.startswith("U0OWNER01\twould send nudges: Confide: 3 item(s)")
    assert "G-1" in owner and "G-2" in owner and "G-3" in owner
    assert any(line.startswith("U0ADMIN01\twould send nudges:") and "R-4" in line for line in lines)
    assert any(
        line.startswith("U0OWNER02\twould update request_card") and "Expired" in line for line in lines
    )
    assert "nothing changed" in err
    assert await snapshot(confide.db) == before
    assert len(fake.calls) == calls_before

    code, out, err = await run_cli(env, "nudges", "--at", at)
    assert code == 0, err
    assert out.splitlines() == [
        line.replace("would send", "sent").replace("would update", "updated") for line in lines
    ]
    review = nudges(fake, "U0OWNER01")
    assert len(review) == 1 and "G-3" in review[0].text
    assert len(nudges(fake, "U0ADMIN01")) == 1
    assert "Expired" in fake.calls_to("chat.update")[-1].text

    code, out, _ = await run_cli(env, "nudges", "--at", at)  # the same instant again
    assert (code, out) == (0, "")


async def test_two_sweeps_at_once_handle_each_item_once(confide_factory, database_url, tmp_path):
    catalog_path = tmp_path / "catalog.toml"
    # Requests that stay undecided for the whole month, so they are reminded rather than expired.
    catalog_path.write_text(
        EXAMPLE_CATALOG.read_text().replace("request_expiry_hours = 72", "request_expiry_hours = 2000")
    )
    confide = await confide_factory.start(catalog=catalog_path)
    catalog, now, fake = confide.runtime.catalog, confide.clock(), confide.fake
    reviewed = ["U0EMP01", "U0EMP02", "U0GUEST01", "U0ADMIN01", "U0OWNER02"]
    for grantee in reviewed:  # due for review at 30 days
        await make_grant(
            confide.db,
            catalog,
            now,
            requester=grantee,
            secret_id="customer-list",
            approvers=["U0OWNER01"],
            hours=1440,
        )
    expiring = ["U0EMP01", "U0EMP02", "U0GUEST01", "U0ADMIN01", "U0OWNER01"]
    for grantee in expiring:  # expired at 30 days
        await make_grant(
            confide.db,
            catalog,
            now,
            requester=grantee,
            secret_id="pricing-model",
            approvers=["U0OWNER02"],
            hours=720,
        )
    await file_request(confide.db, catalog, now, "U0EMP01", "formula-x")  # approvers O1 and O2
    await drained(confide)
    # A Monday 09:00 past all of that, so the weekly digest is due too.
    at = digest_slot(catalog.schedule.digest, now + timedelta(days=38))
    env = cli_env(fake, database_url, catalog_path)

    results = await asyncio.gather(*(run_cli(env, "nudges", "--at", at.isoformat()) for _ in range(2)))
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    printed = [line for _, out, _ in results for line in out.splitlines()]

    items = await sent_items(confide.db)
    keys = Counter(
        (recipient, item["type"], item.get("grant_id"), item.get("request_id")) for recipient, item in items
    )
    assert all(count == 1 for count in keys.values()), keys
    assert sorted(k for k in keys if k[1] == "review_due") == [
        ("U0OWNER01", "review_due", g, None) for g in range(1, 6)
    ]
    assert sorted(k[:3] for k in keys if k[1] == "grant_expired") == sorted(
        (grantee, "grant_expired", grant_id) for grant_id, grantee in enumerate(expiring, start=6)
    )
    assert sorted(k[0] for k in keys if k[1] == "request_reminder") == ["U0OWNER01", "U0OWNER02"]
    # One message per recipient, one digest, one audit entry per item, one printed line per message.
    for recipient in {recipient for recipient, _ in items}:
        assert len(nudges(fake, recipient)) == 1, recipient
    assert len(digests(fake)) == 1
    assert sorted(d["grant"] for d in await audit_actions(confide.db, "access.review_requested")) == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert sorted(d["grant"] for d in await audit_actions(confide.db, "access.grant_expired")) == list(
        range(6, 11)
    )
    assert len(await audit_actions(confide.db, "digest.posted")) == 1
    recipients = {recipient for recipient, _ in items} | {"C0SECURITY"}
    assert sorted(line.split("\t")[0] for line in printed) == sorted(recipients)
    async with confide.db.read() as conn:
        assert (await outbox.backlog(conn))[0] == 0


async def test_slack_429_and_5xx_during_a_sweep_lose_and_repeat_nothing(confide, database_url):
    fake = confide.fake
    at = (await reviews_and_an_expired_request(confide)).isoformat()
    env = cli_env(fake, database_url, EXAMPLE_CATALOG)
    fake.fail("chat.postMessage", 429, count=4, retry_after=1)
    fake.fail("chat.postMessage", 503, count=3)
    fake.fail("chat.update", 500, count=3)

    code, out, err = await run_cli(env, "nudges", "--at", at)
    assert code == 0, err
    assert len(fake.calls_to("chat.postMessage!429")) == 4
    assert len(fake.calls_to("chat.postMessage!503")) == 3
    assert len(fake.calls_to("chat.update!500")) == 3
    assert len(nudges(fake, "U0OWNER01")) == 1
    assert len(nudges(fake, "U0ADMIN01")) == 1
    assert len([c for c in fake.calls_to("chat.update") if "Expired" in c.text]) == 1
    assert sorted(line.split("\t")[1].split(" ")[0] for line in out.splitlines()) == [
        "sent",
        "sent",
        "updated",
    ]
    async with confide.db.read() as conn:
        rows = (await conn.execute(sa.select(outbox_table.c.last_error, outbox_table.c.sent_at))).all()
    assert all(row.sent_at is not None and row.last_error is None for row in rows)
