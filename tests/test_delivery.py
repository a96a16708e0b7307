"""Nothing a person was told succeeded is lost: Slack outages, 429s and restarts."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from tests.conftest import ConfideFactory, postgres_only
from tests.test_access import dm, request
from workflows import outbox as queue
from workflows.db import Database
from workflows.statement_cache import Prepared, StatementCache
from workflows.tables import outbox


async def unsent(confide) -> int:
    async with confide.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).where(outbox.c.sent_at.is_(None)))).scalar_one()


async def settled_unsent(confide) -> int:
    """Unsent rows, once the deliverer has recorded what Slack already answered (the fake records a
    call before the deliverer hears the answer and commits it)."""
    count = await unsent(confide)
    for _ in range(200):
        if count == 0:
            break
        await asyncio.sleep(0.05)
        count = await unsent(confide)
    return count


async def test_slack_outage_during_approval_delivers_once_after_recovery(confide_factory: ConfideFactory):
    confide = await confide_factory.start()
    fake = confide.fake
    await request(confide, "U0EMP01", "request customer-list 7d planning")
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    fake.down = True
    status, _ = await confide.slack.click("U0OWNER01", "Approve", message=dm(card))
    assert status == 200  # the decision is committed; Slack being down does not undo it
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage!503")) >= 2)
    assert fake.messages_to("U0EMP01") == []
    fake.down = False
    told = await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    await fake.wait_for(lambda: fake.calls_to("chat.update"))
    await asyncio.sleep(0.3)
    assert len(fake.messages_to("U0EMP01")) == 1 and "approved" in told[0].text
    assert len(fake.calls_to("chat.update")) == 1
    assert await settled_unsent(confide) == 0


async def test_rate_limit_is_honoured_and_order_kept_per_recipient(confide_factory: ConfideFactory):
    confide = await confide_factory.start()
    fake = confide.fake
    fake.fail("chat.postMessage", 429, count=3, retry_after=1)
    await request(confide, "U0EMP01", "request customer-list 7d first")
    await request(confide, "U0EMP02", "request customer-list 7d second")
    cards = await fake.wait_for(
        lambda: len(fake.messages_to("U0OWNER01")) == 2 and fake.messages_to("U0OWNER01")
    )
    assert "first" in cards[0].text and "second" in cards[1].text
    assert len(fake.calls_to("chat.postMessage!429")) == 3


async def test_restart_between_approval_and_delivery_loses_nothing(confide_factory: ConfideFactory):
    first = await confide_factory.start()
    fake = first.fake
    await request(first, "U0EMP01", "request customer-list 7d planning")
    card = (await fake.wait_for(lambda: fake.messages_to("U0OWNER01")))[0]
    await first.runtime.deliverer.stop()  # the process will die before it can deliver
    status, _ = await first.slack.click("U0OWNER01", "Approve", message=dm(card))
    assert status == 200
    assert await unsent(first) == 2  # the requester's DM and the card update wait in the outbox
    await confide_factory.stop(first)
    assert fake.messages_to("U0EMP01") == []

    second = await confide_factory.start()
    told = await fake.wait_for(lambda: fake.messages_to("U0EMP01"))
    update = await fake.wait_for(lambda: fake.calls_to("chat.update"))
    await asyncio.sleep(0.3)
    assert len(fake.messages_to("U0EMP01")) == 1 and "approved" in told[0].text
    assert len(update) == 1 and update[0]["channel"] == "D0OWNER01"
    assert await settled_unsent(second) == 0


async def test_permanent_slack_error_sets_message_aside_and_queue_moves_on(confide_factory: ConfideFactory):
    confide = await confide_factory.start()
    fake = confide.fake
    original = fake._answer
    refused = []

    def refuse_first(method, args):  # the first DM to the owner is refused for good
        if method == "chat.postMessage" and not refused:
            refused.append(args)
            return {"ok": False, "error": "channel_not_found"}
        return original(method, args)

    fake._answer = refuse_first
    await request(confide, "U0EMP01", "request customer-list 7d one")
    await request(confide, "U0EMP02", "request customer-list 7d two")
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)
    async with confide.db.read() as conn:
        errors = (await conn.execute(sa.select(outbox.c.last_error).order_by(outbox.c.id))).scalars().all()
    assert errors[0] == "abandoned: channel_not_found"
    assert await settled_unsent(confide) == 0


async def test_a_commit_wakes_the_deliverer_without_waiting_for_its_poll(confide_factory: ConfideFactory):
    confide = await confide_factory.start()
    confide.runtime.deliverer.poll_seconds = 60  # only a wake-up can deliver within the test's patience
    await asyncio.sleep(0.2)  # let the deliverer settle into its long wait
    await request(confide, "U0EMP01", "request customer-list 7d prompt")
    await confide.fake.wait_for(lambda: confide.fake.messages_to("U0OWNER01"), timeout=5)


async def test_commits_queuing_only_for_recipients_being_served_leave_the_queue_to_their_lanes(
    confide_factory: ConfideFactory,
):
    """A burst of requests to one owner must not make the deliverer scan the queue per commit: the
    owner's lane picks up each new card itself. A commit for someone else still wakes it."""
    confide = await confide_factory.start()
    fake = confide.fake
    deliverer = confide.runtime.deliverer
    deliverer.poll_seconds = 60  # only wake-ups look at the queue within the test
    release = asyncio.Event()
    post = deliverer.web_api.call

    async def owner_waits(method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if arguments["channel"] == "U0OWNER01":
            await release.wait()
        return await post(method, arguments)

    looks = 0
    dispatch = deliverer.dispatch

    async def counting_dispatch() -> int:
        nonlocal looks
        looks += 1
        return await dispatch()

    deliverer.web_api.call = owner_waits  # type: ignore[method-assign]
    deliverer.dispatch = counting_dispatch  # type: ignore[method-assign]
    try:
        await asyncio.sleep(0.2)
        await request(confide, "U0EMP01", "request customer-list 7d first")
        await asyncio.sleep(0.2)  # the owner's lane is open, its first card hanging in Slack
        looks_with_the_lane_open = looks
        assert looks_with_the_lane_open >= 1
        await request(confide, "U0EMP02", "request customer-list 7d second")
        await request(confide, "U0ADMIN01", "request customer-list 7d third")
        await asyncio.sleep(0.2)
        assert looks == looks_with_the_lane_open
        await request(confide, "U0OWNER01", "request customer-list 7d my own")
        await asyncio.sleep(0.2)
        # Its card goes to an admin (there is no other owner): a recipient without a lane.
        assert looks > looks_with_the_lane_open
        await fake.wait_for(lambda: fake.messages_to("U0ADMIN01"))
    finally:
        release.set()  # a failed check must not leave the lane hanging
    cards = await fake.wait_for(
        lambda: len(fake.messages_to("U0OWNER01")) == 3 and fake.messages_to("U0OWNER01")
    )
    assert ["first" in cards[0].text, "second" in cards[1].text, "third" in cards[2].text] == [True] * 3


async def test_a_message_that_cannot_be_rendered_is_set_aside_and_the_queue_moves_on(
    confide_factory: ConfideFactory,
):
    from workflows import outbox as outbox_workflow

    confide = await confide_factory.start()
    async with confide.db.write() as conn:  # an alert whose evidence lost its fields
        await outbox_workflow.enqueue(
            conn, recipient="U0OWNER01", kind="signal_alert", data={"broken": True}, now=confide.clock()
        )
    await request(confide, "U0EMP01", "request customer-list 7d after the broken one")
    card = await confide.fake.wait_for(lambda: confide.fake.messages_to("U0OWNER01"))
    assert "after the broken one" in card[0].text
    async with confide.db.read() as conn:
        errors = (await conn.execute(sa.select(outbox.c.last_error).order_by(outbox.c.id))).scalars().all()
    assert errors[0] == "abandoned: cannot be rendered"


# ---- lanes and pacing ------------------------------------------------------------------------------


async def queue_grant_endings(confide, recipients: list[str]) -> list[int]:
    """One `grant_ended` DM per entry (its text carries `(G-<n>)`, n the entry's index); the ids."""
    from workflows import outbox as outbox_workflow

    with outbox_workflow.recording() as ids:
        async with confide.db.write() as conn:
            for n, recipient in enumerate(recipients):
                await outbox_workflow.enqueue(
                    conn,
                    recipient=recipient,
                    kind="grant_ended",
                    now=confide.clock(),
                    data={
                        "grant_id": n,
                        "secret_name": "Lanes",
                        "status": "expired",
                        "actor": "system",
                        "reason": "test",
                    },
                )
    return ids


def sequence(call) -> int:
    return int(call["text"].split("(G-")[1].split(")")[0])


async def test_a_429_pauses_every_lane_until_retry_after(confide_factory: ConfideFactory):
    confide = await confide_factory.start(deliver=False)
    fake = confide.fake
    deliverer = confide.runtime.deliverer
    loop = asyncio.get_running_loop()
    recipients = [f"U0LANE{n:02d}" for n in range(12)]  # more recipients than lanes
    await queue_grant_endings(confide, recipients)
    fake.fail("chat.postMessage", 429, count=1, retry_after=1)

    holds: list[float] = []  # when the deliverer heard each Retry-After
    sends: list[float] = []  # when each chat.postMessage left the deliverer
    hold, post = deliverer.pacer.hold, deliverer.web_api.call

    def recording_hold(seconds: float) -> None:
        holds.append(loop.time())
        hold(seconds)

    async def recording_post(method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        sends.append(loop.time())
        return await post(method, arguments)

    deliverer.pacer.hold = recording_hold  # type: ignore[method-assign]
    deliverer.web_api.call = recording_post  # type: ignore[method-assign]
    deliverer.start()
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 12, timeout=20)
    assert await settled_unsent(confide) == 0
    assert len(holds) == 1 and len(fake.calls_to("chat.postMessage!429")) == 1
    after = [t for t in sends if t >= holds[0]]
    assert after, "nothing was left to send after the 429: the test proves nothing"
    # Whichever recipient they were for, no call left while Slack's Retry-After (1 s) ran.
    assert all(t >= holds[0] + 1.0 for t in after)
    assert sorted(sequence(c) for c in fake.calls_to("chat.postMessage")) == list(range(12))


async def test_a_recipients_queue_moves_on_without_waiting_for_other_recipients(
    confide_factory: ConfideFactory,
):
    """While one recipient's message hangs in Slack, another recipient's five messages all arrive,
    in order: each lane claims its recipient's next message as it records the last."""
    confide = await confide_factory.start(deliver=False)
    fake = confide.fake
    deliverer = confide.runtime.deliverer
    await queue_grant_endings(confide, ["U0SLOW01"] + ["U0FAST01"] * 5)
    release = asyncio.Event()
    post = deliverer.web_api.call

    async def slow_for_one(method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if arguments["channel"] == "U0SLOW01":
            await release.wait()
        return await post(method, arguments)

    deliverer.web_api.call = slow_for_one  # type: ignore[method-assign]
    deliverer.start()
    fast = await fake.wait_for(
        lambda: len(fake.messages_to("U0FAST01")) == 5 and fake.messages_to("U0FAST01")
    )
    assert [sequence(c) for c in fast] == [1, 2, 3, 4, 5]
    assert fake.messages_to("U0SLOW01") == []  # still in flight all along
    release.set()
    await fake.wait_for(lambda: fake.messages_to("U0SLOW01"))
    assert await settled_unsent(confide) == 0


async def test_two_deliverers_on_one_database_never_send_a_row_twice(confide_factory: ConfideFactory):
    """Two deliverers, each with its own engine and client (as two replicas have), race over one
    outbox of heavy and single recipients: every row is sent once, each recipient's in order."""
    from bot.delivery import Deliverer
    from bot.slack_client import build_client
    from workflows.db import Database
    from workflows.services import utc_now

    confide = await confide_factory.start(deliver=False)
    fake = confide.fake
    recipients = [f"U0HEAVY{n % 3}" for n in range(45)] + [f"U0ONE{n:02d}" for n in range(30)]
    recipients = [recipients[(n * 7) % 75] for n in range(75)]  # interleaved, every entry once
    await queue_grant_endings(confide, recipients)
    other_db = Database(confide.settings.database_url)
    other = Deliverer(other_db, build_client(confide.settings, retries=0), utc_now, concurrency=4)
    try:
        other.start()
        confide.runtime.deliverer.start()
        await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) >= 75, timeout=30)
        assert await settled_unsent(confide) == 0
        await asyncio.sleep(0.3)  # give a duplicate every chance to appear
    finally:
        await other.stop()
        await other_db.dispose()
    sent = [sequence(c) for c in fake.calls_to("chat.postMessage")]
    assert sorted(sent) == list(range(75))
    for recipient in set(recipients):
        mine = [sequence(c) for c in fake.messages_to(recipient)]
        assert mine == sorted(mine), recipient


async def test_stopping_during_a_retry_after_gives_back_the_messages_waiting_for_their_turn(
    confide_factory: ConfideFactory,
):
    """A stop finishes what is in flight and leaves the rest queued, unleased, for the next sender:
    it does not wait out a long Retry-After, nor send anything after it."""
    confide = await confide_factory.start()
    fake = confide.fake
    deliverer = confide.runtime.deliverer
    fake.fail("chat.postMessage", 429, count=1, retry_after=30)
    await queue_grant_endings(confide, ["U0FIRST01"])
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage!429"))
    waiting = await queue_grant_endings(confide, ["U0WAIT01", "U0WAIT02"])

    async def leased() -> int:
        async with confide.db.read() as conn:
            query = sa.select(sa.func.count()).where(
                outbox.c.id.in_(waiting), outbox.c.lease_until.is_not(None)
            )
            return (await conn.execute(query)).scalar_one()

    for _ in range(200):  # the dispatcher leases them, then their lanes wait for the pause to end
        if await leased() == 2:
            break
        await asyncio.sleep(0.02)
    assert await leased() == 2
    await deliverer.stop()
    assert await leased() == 0
    assert await unsent(confide) == 3
    assert fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("rate_limit", [None, 15])
async def test_burst_beyond_slacks_rate_limit_arrives_once_and_in_order(
    confide_factory: ConfideFactory, rate_limit: float | None
):
    """More than Slack allows a second, paced under the limit or not: 429s (if any) pause delivery,
    and nothing is lost, doubled or reordered."""
    confide = await confide_factory.start(deliver=False, confide_slack_rate_limit=rate_limit)
    fake = confide.fake
    fake.rate_limit_per_second = 15
    recipients = [["U0EMP01", "U0EMP02", "U0OWNER01"][n % 3] if n < 15 else "U0EMP01" for n in range(30)]
    await queue_grant_endings(confide, recipients)
    confide.runtime.deliverer.start()
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) >= 30, timeout=30)
    assert await settled_unsent(confide) == 0
    sent = [sequence(c) for c in fake.calls_to("chat.postMessage")]
    assert sorted(sent) == list(range(30))
    to_first = [sequence(c) for c in fake.messages_to("U0EMP01")]
    assert to_first == sorted(to_first) and len(to_first) == 20


@pytest.mark.parametrize(("lease_seconds", "retry_after"), [(3, 2), (2, 3)])
async def test_messages_waiting_out_a_retry_after_keep_or_give_up_their_lease_and_arrive_once(
    confide_factory: ConfideFactory, lease_seconds: int, retry_after: int
):
    """A pause that uses up most of a lease is outlived by renewing the lease before sending; one
    longer than the lease by leaving the lapsed row to be claimed again (perhaps by another replica).
    Either way each message is sent once, in order."""
    confide = await confide_factory.start(deliver=False, confide_outbox_lease_seconds=lease_seconds)
    fake = confide.fake
    recipients = ["U0EMP01", "U0EMP02"] * 4
    await queue_grant_endings(confide, recipients)
    fake.fail("chat.postMessage", 429, count=1, retry_after=retry_after)
    confide.runtime.deliverer.start()
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) >= 8, timeout=30)
    assert await settled_unsent(confide) == 0
    await asyncio.sleep(0.3)  # give a duplicate every chance to appear
    assert sorted(sequence(c) for c in fake.calls_to("chat.postMessage")) == list(range(8))
    for recipient in ("U0EMP01", "U0EMP02"):
        mine = [sequence(c) for c in fake.messages_to(recipient)]
        assert mine == sorted(mine)


async def test_a_message_failed_by_another_sender_after_it_was_seen_due_is_not_leased(database_url):
    db = Database(database_url)
    await db.migrate()
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    async with db.write() as conn:
        await queue.enqueue(conn, recipient="U0EMP01", kind="notice", data={"text": "x"}, now=now)
    async with db.read() as conn:
        seen = await queue.due_heads(conn, now)
    assert len(seen) == 1
    async with db.write() as conn:  # meanwhile another replica sent it, Slack failed, it backs off
        [theirs] = await queue.claim(conn, seen, now)
        await queue.mark_failed(conn, theirs, now, "503 service_unavailable")
    async with db.write() as conn:
        assert await queue.claim(conn, seen, now) == []
    await db.dispose()


async def test_a_card_keeps_the_location_it_was_first_posted_at(database_url):
    """Updates edit the card where the approver first saw it, even if it was posted again since."""
    db = Database(database_url)
    await db.migrate()
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    for ts in ("100.1", "200.2"):
        async with db.write() as conn:
            await queue.enqueue(
                conn, recipient="U0OWNER01", kind="notice", data={"text": "x"}, now=now, card_key="request:7"
            )
        async with db.write() as conn:
            [message] = await queue.claim_next(conn, now)
            await queue.mark_sent(conn, message, now, ("D0OWNER01", ts))
    async with db.read() as conn:
        assert await queue.card_location(conn, "request:7", "U0OWNER01") == ("D0OWNER01", "100.1")
        assert await queue.card_location(conn, "request:7", "U0OWNER02") is None
    await db.dispose()


async def test_due_heads_are_each_recipients_oldest_unsent_message_when_it_is_due_and_free(database_url):
    db = Database(database_url)
    await db.migrate()
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    with queue.recording() as written:
        async with db.write() as conn:
            for name, recipient in [("a", "U1"), ("b", "U2"), ("c", "U1"), ("d", "U3"), ("e", "U4")]:
                await queue.enqueue(conn, recipient=recipient, kind="notice", data={"text": name}, now=now)
    ids = dict(zip("abcde", written, strict=True))
    async with db.write() as conn:
        await queue.claim(conn, [ids["b"]], now)  # U2's head is leased to a sender
        [d] = await queue.claim(conn, [ids["d"]], now)
        await queue.mark_failed(conn, d, now, "503 service_unavailable")  # U3's head backs off
    async with db.read() as conn:
        assert await queue.due_heads(conn, now) == [ids["a"], ids["e"]]  # not U1's second
        assert await queue.due_heads(conn, now, limit=1) == [ids["a"]]
        assert await queue.due_heads(conn, now, exclude={"U1"}) == [ids["e"]]
    async with db.write() as conn:
        [a] = await queue.claim(conn, [ids["a"]], now)
        await queue.mark_sent(conn, a, now, ("D1", "1.1"))
    async with db.read() as conn:  # U1's next is its head now
        assert await queue.due_heads(conn, now) == [ids["c"], ids["e"]]
    await db.dispose()


def _sql_literal(value: Any) -> str:
    """A driver parameter as SQL text (EXECUTE takes no parameters of its own)."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _rows_each_scan_read(plan: dict[str, Any]) -> list[int]:
    """The rows every scan of an EXPLAIN (ANALYZE, FORMAT JSON) plan read, kept or filtered out."""
    read = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
    rows = [read] if "Scan" in plan["Node Type"] else []
    for child in plan.get("Plans", []):
        rows += _rows_each_scan_read(child)
    return rows


@postgres_only
async def test_sending_a_message_leases_the_next_without_reading_the_recipients_whole_queue(
    database_url: str, monkeypatch: pytest.MonkeyPatch
):
    """An all-hands burst queues thousands of cards for one owner: each delivery must find the next
    one in a few index entries, not read the whole queue (each delivery's cost grew with the
    backlog: 1.1 ms of PostgreSQL for a card with 732 more queued behind it)."""
    db = Database(database_url)
    await db.migrate()
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    with queue.recording() as written:
        async with db.write() as conn:
            for n in range(600):  # a DM to each of 400 people, then 200 cards for one owner
                recipient, card = (f"U0EMP{n:03d}", None) if n < 400 else ("U0OWNER01", f"request:{n}")
                await queue.enqueue(
                    conn, recipient=recipient, kind="notice", data={"text": n}, now=now, card_key=card
                )
    written = written[400:]
    sent = timedelta(seconds=30)
    async with db.write() as conn:
        [first] = await queue.claim(conn, [written[0]], now)
    async with db.write() as conn:  # the deliverer's statement has run once: it is cached now
        second = await queue.record_sent(conn, first, now, ("D0OWNER01", "1.1"), lease_next=sent)
    assert second is not None
    ran: list[Prepared | None] = []
    prepare = StatementCache.prepare

    def remember(self: StatementCache, statement: Any, parameters: Any) -> Prepared | None:
        prepared = prepare(self, statement, parameters)
        ran.append(prepared)
        return prepared

    monkeypatch.setattr(StatementCache, "prepare", remember)
    async with db.write() as conn:
        third = await queue.record_sent(conn, second, now, ("D0OWNER01", "2.2"), lease_next=sent)
    monkeypatch.undo()
    assert [second.id, third and third.id] == written[1:3]
    [statement] = ran
    assert statement is not None  # on the driver path, as the deliverer runs it
    # Explained as the deliverer runs it next: the third card just sent, still unsent in the table.
    assert third is not None
    now_in_flight = {second.id: third.id, second.card_key: third.card_key}
    arguments = ", ".join(_sql_literal(now_in_flight.get(value, value)) for value in statement.values[0])
    raw = await asyncpg.connect(database_url)
    try:
        await raw.execute(f"PREPARE lease_next AS {statement.sql}")
        # Both plans PostgreSQL may use for it (a generic one after five runs on a connection), with
        # no statistics (as after a start) and with them.
        for analyzed in (False, True):
            if analyzed:
                await raw.execute("ANALYZE outbox")
            for plans in ("force_custom_plan", "force_generic_plan"):
                await raw.execute(f"SET plan_cache_mode = {plans}")
                explaining = raw.transaction()
                await explaining.start()
                try:  # EXPLAIN ANALYZE runs the statement: its changes are rolled back
                    explained = await raw.fetchval(
                        f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE lease_next({arguments})"
                    )
                finally:
                    await explaining.rollback()
                plan = json.loads(explained)[0]["Plan"]
                assert max(_rows_each_scan_read(plan)) <= 2, (plans, analyzed, plan)
    finally:
        await raw.close()
    await db.dispose()
